// Reads records back: from an id or a time, the last N, and new ones as they are appended.
import { readFileSync } from 'node:fs';
import type { LogRecord } from './chain.js';
import { EventLoggerError } from './errors.js';
import { listSegments, splitLines } from './segments.js';

export type ReplayStart = { fromId: string } | { fromTime: number } | { fromSeq: number };

/** Every whole record in log order; lines that do not parse are skipped here (verify names them). */
export function* readRecords(dir: string, afterSeq = 0): Generator<LogRecord> {
  const segments = listSegments(dir);
  for (let i = 0; i < segments.length; i++) {
    const next = segments[i + 1];
    if (next && next.firstSeq <= afterSeq + 1) continue;
    const { lines } = splitLines(readFileSync(segments[i]!.path, 'utf8'));
    for (const line of lines) {
      let record: LogRecord;
      try {
        record = JSON.parse(line) as LogRecord;
      } catch {
        continue;
      }
      if (record.seq > afterSeq) yield record;
    }
  }
}

/** @throws EventLoggerError EVENT_LOGGER_NOT_FOUND when no record has the id asked for. */
export function* replayFrom(dir: string, start: ReplayStart): Generator<LogRecord> {
  let started = false;
  for (const record of readRecords(dir)) {
    if (!started) {
      if ('fromSeq' in start) started = record.seq >= start.fromSeq;
      else if ('fromTime' in start) started = record.at >= start.fromTime;
      else started = (record.env as { id?: unknown }).id === start.fromId;
    }
    if (started) yield record;
  }
  if (!started && 'fromId' in start) {
    throw new EventLoggerError('EVENT_LOGGER_NOT_FOUND', `no logged message has id ${start.fromId}`);
  }
}

export function lastRecords(dir: string, count: number): LogRecord[] {
  const kept: LogRecord[] = [];
  for (const record of readRecords(dir)) {
    kept.push(record);
    if (kept.length > count) kept.shift();
  }
  return kept;
}

/** Calls `onRecord` for each record appended after `afterSeq`, polling the files; returns a stop function. */
export function follow(dir: string, afterSeq: number, onRecord: (record: LogRecord) => void, pollMs = 250): () => void {
  let last = afterSeq;
  const timer = setInterval(() => {
    for (const record of readRecords(dir, last)) {
      onRecord(record);
      last = record.seq;
    }
  }, pollMs);
  return () => clearInterval(timer);
}
