// One log record and its link in the hash chain: hash = SHA-256(previous hash, then the record body).
import { createHash } from 'node:crypto';

export const GENESIS_HASH = '0'.repeat(64);

export interface LogRecord {
  seq: number;
  /** When the logger accepted it (ms epoch, from the injected clock). */
  at: number;
  topic: string;
  /** The envelope as accepted, signature included, so it can be checked again later. */
  env: unknown;
  prev: string;
  hash: string;
}

/** The bytes a record's hash covers; fixed key order so the same record always hashes the same. */
export function recordBody(record: Pick<LogRecord, 'seq' | 'at' | 'topic' | 'env'>): string {
  return JSON.stringify({ seq: record.seq, at: record.at, topic: record.topic, env: record.env });
}

export function chainHash(prev: string, body: string): string {
  return createHash('sha256').update(prev).update('\n').update(body).digest('hex');
}

/** Builds the next record and its line (newline-terminated). */
export function linkRecord(
  prev: string,
  seq: number,
  at: number,
  topic: string,
  env: unknown,
): { record: LogRecord; line: string } {
  const body = recordBody({ seq, at, topic, env });
  const hash = chainHash(prev, body);
  const record = { seq, at, topic, env, prev, hash };
  return { record, line: `${body.slice(0, -1)},"prev":"${prev}","hash":"${hash}"}\n` };
}
