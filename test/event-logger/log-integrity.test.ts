// The hash-chained log on disk: every kind of tampering is named at the first record it touched.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { generateSigningKey } from '../../src/core/keys.js';
import { silentLogger } from '../../src/core/logger.js';
import { chainHash, recordBody } from '../../src/event-logger/chain.js';
import { writeHead } from '../../src/event-logger/head.js';
import { readRecords, verifyLog } from '../../src/event-logger/index.js';
import { LogWriter } from '../../src/event-logger/writer.js';
import { tempDir } from '../helpers/harness.js';

const key = generateSigningKey();
let dir: string;

function writer(segmentMaxBytes = 1_000_000): LogWriter {
  const log = new LogWriter({
    dir,
    segmentMaxBytes,
    fsync: 'always',
    fsyncIntervalMs: 1_000,
    logger: silentLogger,
    onHead: (head) => writeHead(dir, { ...head, at: Date.now() }, key, 'event-logger'),
  });
  log.open();
  return log;
}

function writeRecords(count: number, segmentMaxBytes?: number): void {
  const log = writer(segmentMaxBytes);
  for (let i = 1; i <= count; i++)
    log.append(1_700_000_000_000 + i, `dctrl/v1/door/tap`, { id: `id-${i}`, type: 'test', payload: { n: i } });
  log.close();
}

const segmentPath = () =>
  join(
    dir,
    readdirSync(dir)
      .filter((name) => name.startsWith('segment-'))
      .sort()[0]!,
  );
const readLines = () => readFileSync(segmentPath(), 'utf8').split('\n').filter(Boolean);
const writeLines = (lines: string[]) => writeFileSync(segmentPath(), lines.map((line) => line + '\n').join(''));

beforeEach(() => {
  dir = tempDir('dctrl-log-');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('an intact log verifies', () => {
  test('10 records, signed head checked', () => {
    writeRecords(10);
    const report = verifyLog(dir, { headKey: key.publicKey });
    assert.equal(report.ok, true);
    assert.equal(report.records, 10);
    assert.equal(report.headChecked, true);
  });

  test('rotation by size keeps one chain across segments', () => {
    writeRecords(50, 2_000);
    const segments = readdirSync(dir).filter((name) => name.startsWith('segment-'));
    assert.ok(segments.length > 3, `expected several segments, got ${segments.length}`);
    assert.equal(verifyLog(dir, { headKey: key.publicKey }).records, 50);
    assert.deepEqual(
      [...readRecords(dir)].map((r) => r.seq),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
  });

  test('a writer reopened after a clean stop continues the chain', () => {
    writeRecords(5);
    writeRecords(5);
    assert.equal(verifyLog(dir).records, 10);
  });
});

describe('tampering is named at the first record it touched', () => {
  test('a modified record → EVENT_LOGGER_RECORD_MODIFIED at its seq', () => {
    writeRecords(10);
    const lines = readLines();
    lines[3] = lines[3]!.replace('"n":4', '"n":400');
    writeLines(lines);
    const { problem } = verifyLog(dir);
    assert.equal(problem?.code, 'EVENT_LOGGER_RECORD_MODIFIED');
    assert.equal(problem?.seq, 4);
    assert.match(problem.message, /seq 4/);
  });

  test('a modified record whose hash was recomputed still breaks the next link', () => {
    writeRecords(10);
    const lines = readLines();
    const record = JSON.parse(lines[3]!) as {
      seq: number;
      at: number;
      topic: string;
      prev: string;
      hash: string;
      env: { payload: { n: number } };
    };
    record.env.payload.n = 400;
    record.hash = chainHash(record.prev, recordBody(record));
    lines[3] = JSON.stringify(record);
    writeLines(lines);
    const { problem } = verifyLog(dir);
    assert.equal(problem?.code, 'EVENT_LOGGER_RECORD_REORDERED');
    assert.equal(problem?.seq, 5);
  });

  test('a chain rewritten from a record onwards, every hash recomputed, is caught at the signed head', () => {
    writeRecords(10);
    const lines = readLines();
    let prev = (JSON.parse(lines[3]!) as { prev: string }).prev;
    for (let index = 3; index < lines.length; index++) {
      const record = JSON.parse(lines[index]!) as {
        seq: number;
        at: number;
        topic: string;
        env: { payload: { n: number } };
        prev: string;
        hash: string;
      };
      if (index === 3) record.env.payload.n = 400;
      record.prev = prev;
      record.hash = chainHash(prev, recordBody(record));
      prev = record.hash;
      lines[index] = JSON.stringify(record);
    }
    writeLines(lines);
    const { problem } = verifyLog(dir, { headKey: key.publicKey });
    assert.equal(problem?.code, 'EVENT_LOGGER_RECORD_MODIFIED');
    assert.equal(problem?.seq, 10);
    assert.match(problem.message, /signed head/);
  });

  test('records without a signed head → EVENT_LOGGER_HEAD_INVALID', () => {
    writeRecords(3);
    unlinkSync(join(dir, 'HEAD.json'));
    assert.equal(verifyLog(dir).problem?.code, 'EVENT_LOGGER_HEAD_INVALID');
  });

  test('a line that is valid JSON but no record (null) → EVENT_LOGGER_RECORD_UNREADABLE', () => {
    writeRecords(3);
    const lines = readLines();
    lines.splice(1, 0, 'null');
    writeLines(lines);
    assert.equal(verifyLog(dir).problem?.code, 'EVENT_LOGGER_RECORD_UNREADABLE');
  });

  test('a removed record → EVENT_LOGGER_RECORD_MISSING naming the gap', () => {
    writeRecords(10);
    const lines = readLines();
    lines.splice(6, 1);
    writeLines(lines);
    const { problem } = verifyLog(dir);
    assert.equal(problem?.code, 'EVENT_LOGGER_RECORD_MISSING');
    assert.match(problem.message, /seq 7\.\.7 removed/);
  });

  test('two records swapped → EVENT_LOGGER_RECORD_REORDERED', () => {
    writeRecords(10);
    const lines = readLines();
    [lines[4], lines[5]] = [lines[5]!, lines[4]!];
    writeLines(lines);
    const { problem } = verifyLog(dir);
    assert.equal(problem?.code, 'EVENT_LOGGER_RECORD_REORDERED');
    assert.equal(problem?.line, 5);
  });

  test('cut mid-record → EVENT_LOGGER_RECORD_UNREADABLE (truncated)', () => {
    writeRecords(10);
    const text = readFileSync(segmentPath(), 'utf8');
    writeFileSync(segmentPath(), text.slice(0, text.length - 40));
    const { problem } = verifyLog(dir);
    assert.equal(problem?.code, 'EVENT_LOGGER_RECORD_UNREADABLE');
    assert.match(problem.message, /truncated mid-record/);
  });

  test('whole records cut off the end → EVENT_LOGGER_LOG_TRUNCATED against the signed head', () => {
    writeRecords(10);
    writeLines(readLines().slice(0, 7));
    const { problem } = verifyLog(dir, { headKey: key.publicKey });
    assert.equal(problem?.code, 'EVENT_LOGGER_LOG_TRUNCATED');
    assert.match(problem.message, /ends at seq 7 .* records seq 10/);
  });

  test('a whole segment removed → EVENT_LOGGER_RECORD_MISSING', () => {
    writeRecords(50, 2_000);
    const segments = readdirSync(dir)
      .filter((name) => name.startsWith('segment-'))
      .sort();
    unlinkSync(join(dir, segments[1]!));
    assert.equal(verifyLog(dir).problem?.code, 'EVENT_LOGGER_RECORD_MISSING');
  });

  test('a forged head → EVENT_LOGGER_HEAD_INVALID', () => {
    writeRecords(3);
    const head = JSON.parse(readFileSync(join(dir, 'HEAD.json'), 'utf8'));
    writeFileSync(join(dir, 'HEAD.json'), JSON.stringify({ ...head, seq: 2 }));
    assert.throws(() => verifyLog(dir, { headKey: key.publicKey }), { code: 'EVENT_LOGGER_HEAD_INVALID' });
  });
});

describe('crash recovery', () => {
  test('a last line that is complete but garbage is set aside too', () => {
    writeRecords(5);
    appendFileSync(segmentPath(), '\u0000\u0000\u0000\n');
    const log = writer();
    assert.equal(log.head.seq, 5);
    log.close();
    assert.equal(verifyLog(dir).ok, true);
  });

  test('a record torn by a crash is set aside and the chain continues from the last whole one', () => {
    writeRecords(5);
    appendFileSync(segmentPath(), '{"seq":6,"at":17000');
    const log = writer();
    assert.equal(log.head.seq, 5);
    log.append(1, 'dctrl/v1/x', { id: 'after-crash' });
    log.close();
    const report = verifyLog(dir);
    assert.equal(report.ok, true, report.problem?.message);
    assert.equal(report.records, 6);
    assert.ok(
      readdirSync(dir).some((name) => name.includes('.torn-')),
      'torn bytes kept for inspection',
    );
  });
});
