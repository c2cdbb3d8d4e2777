// The signed head: the last sequence number and hash, so cutting records off the end shows.
import { readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { canonicalBytes } from '../core/canonical.js';
import { signBytes, verifyBytes, type SigningKey } from '../core/keys.js';
import { EventLoggerError } from './errors.js';

export const HEAD_FILE = 'HEAD.json';

const headSchema = z.strictObject({
  seq: z.int().nonnegative(),
  hash: z.string().length(64),
  segment: z.string(),
  at: z.int(),
  signer: z.string(),
  sig: z.string(),
});
export type LogHead = z.infer<typeof headSchema>;

export function writeHead(dir: string, head: Omit<LogHead, 'sig' | 'signer'>, key: SigningKey, signer: string): void {
  const unsigned = { ...head, signer };
  const signed: LogHead = { ...unsigned, sig: signBytes(key, canonicalBytes(unsigned)) };
  const tmp = join(dir, `${HEAD_FILE}.tmp`);
  writeFileSync(tmp, JSON.stringify(signed) + '\n');
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, join(dir, HEAD_FILE));
}

/**
 * Reads the head; checks its signature when a key is given.
 * @throws EventLoggerError EVENT_LOGGER_HEAD_INVALID.
 */
export function readHead(dir: string, signerKey?: KeyObject): LogHead | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, HEAD_FILE), 'utf8');
  } catch {
    return undefined;
  }
  let head: LogHead;
  try {
    head = headSchema.parse(JSON.parse(text));
  } catch (cause) {
    throw new EventLoggerError('EVENT_LOGGER_HEAD_INVALID', `${HEAD_FILE} is not a valid head: ${(cause as Error).message}`, {
      cause,
    });
  }
  if (signerKey) {
    const { sig, ...unsigned } = head;
    if (!verifyBytes(signerKey, canonicalBytes(unsigned), sig)) {
      throw new EventLoggerError(
        'EVENT_LOGGER_HEAD_INVALID',
        `${HEAD_FILE} signature does not verify with the key of "${head.signer}"`,
      );
    }
  }
  return head;
}
