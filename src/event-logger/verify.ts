// Checks the whole chain on disk and names the first record that was modified, removed, reordered or truncated.
import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { chainHash, GENESIS_HASH, recordBody, type LogRecord } from './chain.js';
import { type EventLoggerErrorCode } from './errors.js';
import { readHead } from './head.js';
import { listSegments, splitLines } from './segments.js';

export interface VerifyProblem {
  code: EventLoggerErrorCode;
  segment: string;
  line: number;
  seq: number | undefined;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  records: number;
  segments: number;
  lastSeq: number;
  lastHash: string;
  headChecked: boolean;
  problem?: VerifyProblem;
}

/** Walks every segment in order; stops at the first problem, which is the one that matters. */
export function verifyLog(dir: string, options: { headKey?: KeyObject } = {}): VerifyReport {
  const segments = listSegments(dir);
  const head = readHead(dir, options.headKey);
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let records = 0;
  const report = (problem: VerifyProblem): VerifyReport => ({
    ok: false,
    records,
    segments: segments.length,
    lastSeq: expectedSeq - 1,
    lastHash: prevHash,
    headChecked: false,
    problem,
  });

  for (const segment of segments) {
    const { lines, tornTail } = splitLines(readFileSync(segment.path, 'utf8'));
    if (segment.firstSeq !== expectedSeq && !(lines.length === 0 && tornTail === undefined)) {
      const code = segment.firstSeq > expectedSeq ? 'EVENT_LOGGER_RECORD_MISSING' : 'EVENT_LOGGER_RECORD_REORDERED';
      return report({
        code,
        segment: segment.name,
        line: 1,
        seq: segment.firstSeq,
        message: `segment ${segment.name} starts at seq ${segment.firstSeq}, expected ${expectedSeq}`,
      });
    }
    for (let index = 0; index < lines.length; index++) {
      const where = { segment: segment.name, line: index + 1 };
      let record: LogRecord;
      try {
        record = JSON.parse(lines[index]!) as LogRecord;
        if (typeof record !== 'object' || record === null || typeof record.seq !== 'number') throw new Error('not a record');
      } catch {
        return report({
          ...where,
          code: 'EVENT_LOGGER_RECORD_UNREADABLE',
          seq: undefined,
          message: `${segment.name} line ${index + 1} is not a valid record (expected seq ${expectedSeq})`,
        });
      }
      if (record.seq !== expectedSeq) {
        const expectedComesLater = lines.slice(index + 1).some((line) => line.startsWith(`{"seq":${expectedSeq},`));
        const code =
          record.seq > expectedSeq && !expectedComesLater ? 'EVENT_LOGGER_RECORD_MISSING' : 'EVENT_LOGGER_RECORD_REORDERED';
        const what =
          code === 'EVENT_LOGGER_RECORD_MISSING' ? `seq ${expectedSeq}..${record.seq - 1} removed` : 'out of order or repeated';
        return report({
          ...where,
          code,
          seq: record.seq,
          message: `${segment.name} line ${index + 1}: found seq ${record.seq}, expected ${expectedSeq} (${what})`,
        });
      }
      if (chainHash(record.prev, recordBody(record)) !== record.hash) {
        return report({
          ...where,
          code: 'EVENT_LOGGER_RECORD_MODIFIED',
          seq: record.seq,
          message: `record seq ${record.seq} (${segment.name} line ${index + 1}) was modified: its hash does not match its content`,
        });
      }
      if (record.prev !== prevHash) {
        return report({
          ...where,
          code: 'EVENT_LOGGER_RECORD_REORDERED',
          seq: record.seq,
          message: `record seq ${record.seq} (${segment.name} line ${index + 1}) does not link to the record before it`,
        });
      }
      if (head && record.seq === head.seq && record.hash !== head.hash) {
        return report({
          ...where,
          code: 'EVENT_LOGGER_RECORD_MODIFIED',
          seq: record.seq,
          message: `record seq ${record.seq} differs from the signed head: the chain up to it was rewritten`,
        });
      }
      prevHash = record.hash;
      expectedSeq++;
      records++;
    }
    if (tornTail !== undefined) {
      return report({
        segment: segment.name,
        line: lines.length + 1,
        code: 'EVENT_LOGGER_RECORD_UNREADABLE',
        seq: undefined,
        message: `${segment.name} ends with an incomplete record after seq ${expectedSeq - 1} (truncated mid-record)`,
      });
    }
  }

  const lastSeq = expectedSeq - 1;
  if (!head && records > 0) {
    return report({
      code: 'EVENT_LOGGER_HEAD_INVALID',
      segment: '',
      line: 0,
      seq: undefined,
      message: 'the log has records but no signed head (HEAD.json was removed); its end cannot be trusted',
    });
  }
  if (head && head.seq > lastSeq) {
    return report({
      code: 'EVENT_LOGGER_LOG_TRUNCATED',
      segment: head.segment,
      line: 0,
      seq: lastSeq + 1,
      message: `the log ends at seq ${lastSeq} but the signed head (written ${new Date(head.at).toISOString()}) records seq ${head.seq}`,
    });
  }
  return {
    ok: true,
    records,
    segments: segments.length,
    lastSeq,
    lastHash: prevHash,
    headChecked: head !== undefined && options.headKey !== undefined,
  };
}
