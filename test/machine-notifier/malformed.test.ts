// Reads that are no tap (short, long, non-digits, never ended by Enter): none becomes a tap, each is counted by its
// code, and no fob number, whole or in part beyond three digits, reaches the log. Vectors in vectors/reads.json.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { hashFob } from '../../src/core/fob-hash.js';
import { eventually } from '../helpers/harness.js';
import { startRig, type Rig } from './rig.js';

interface ReadVector {
  id: string;
  typed: { text: string; wait?: number }[];
  taps: string[];
  malformed: string[];
}

const vectors = (JSON.parse(readFileSync(new URL('./vectors/reads.json', import.meta.url), 'utf8')) as { reads: ReadVector[] })
  .reads;

const clock = new ManualClock(Date.UTC(2026, 2, 1, 9));
const stdin = new PassThrough();
let rig: Rig;

before(async () => {
  rig = await startRig({ clock, online: false, notifier: { stdin } });
});
after(async () => rig.stop());

/** Digit runs longer than the three digits a log may show. */
function digitRuns(texts: string[]): string[] {
  return texts.flatMap((text) => text.match(/\d{4,}/g) ?? []);
}

for (const vector of vectors) {
  test(`reads/${vector.id}: ${vector.taps.length} taps, malformed ${vector.malformed.join(', ') || 'none'}`, () => {
    // Far apart from the previous vector: no debounce, no burst limit, no leftover keys.
    clock.advance(60_000);
    const tapsBefore = rig.taps.length;
    const codesBefore = rig.logCodes().length;
    const malformedBefore = rig.notifier.stats().malformed;
    for (const { text, wait } of vector.typed) {
      if (wait) clock.advance(wait);
      rig.notifier.handleReaderText(text, 'stdin');
    }
    assert.deepEqual(
      rig.taps.slice(tapsBefore).map((tap) => tap.fob),
      vector.taps.map((fob) => hashFob(fob, rig.key)),
    );
    const codes = rig.logCodes().slice(codesBefore);
    assert.deepEqual(
      codes.filter((code) => code.startsWith('MACHINE_NOTIFIER_READ_MALFORMED')),
      vector.malformed,
    );
    assert.equal(rig.notifier.stats().malformed - malformedBefore, vector.malformed.length);
    const log = rig.logText();
    for (const run of digitRuns(vector.typed.map((part) => part.text))) {
      assert.ok(!log.includes(run), `the log must not hold "${run}"`);
    }
  });
}

test('the counts by code add up over all the vectors', () => {
  const expected: Record<string, number> = {};
  for (const vector of vectors) for (const code of vector.malformed) expected[code] = (expected[code] ?? 0) + 1;
  assert.deepEqual(rig.notifier.stats().malformedByCode, expected);
  assert.equal(
    rig.notifier.stats().taps,
    vectors.reduce((sum, vector) => sum + vector.taps.length, 0),
  );
});

test('lines typed on standard input are reads, and digits left without Enter do not join the next line', async () => {
  clock.advance(60_000);
  const before = rig.taps.length;
  stdin.write('55555');
  await new Promise((resolve) => setImmediate(resolve));
  clock.advance(501);
  stdin.write('44444\n');
  stdin.write('5555544444\n');
  await eventually(() => rig.taps.length > before, 'the tap from stdin');
  assert.deepEqual(
    rig.taps.slice(before).map((tap) => tap.fob),
    [hashFob('5555544444', rig.key)],
  );
  assert.ok(!rig.logText().includes('55555') && !rig.logText().includes('44444'));
});

test('digits never ended are dropped by the timer once the timeout has passed, and counted', async () => {
  const realTime = await startRig({ online: false, notifier: { interKeyTimeoutMs: 50 } });
  try {
    realTime.notifier.handleReaderText('98765', 'stdin');
    await eventually(
      () => realTime.notifier.stats().malformedByCode.MACHINE_NOTIFIER_READ_MALFORMED_NO_ENTER === 1,
      'the unfinished read dropped',
    );
    realTime.notifier.handleReaderText('43210\n', 'stdin');
    assert.equal(realTime.taps.length, 0, 'the halves never made a tap');
    assert.equal(realTime.notifier.stats().malformedByCode.MACHINE_NOTIFIER_READ_MALFORMED_SHORT, 1);
    assert.ok(!realTime.logText().includes('98765') && !realTime.logText().includes('43210'));
  } finally {
    await realTime.stop();
  }
});

test('a timer that fires before the clock says the time is up waits for the rest, and then drops the digits', async () => {
  // Timers and the wall clock round differently: this clock runs at half speed, so every timer fires "early" by it.
  const started = Date.now();
  const slowClock = { now: () => started + Math.floor((Date.now() - started) / 2) };
  const slow = await startRig({ clock: slowClock, online: false, notifier: { interKeyTimeoutMs: 40 } });
  try {
    slow.notifier.handleReaderText('98765', 'stdin');
    await eventually(
      () => slow.notifier.stats().malformedByCode.MACHINE_NOTIFIER_READ_MALFORMED_NO_ENTER === 1,
      'the unfinished read dropped by the slow clock',
    );
    assert.ok(slowClock.now() - started >= 40, 'not dropped before the clock said the timeout had passed');
  } finally {
    await slow.stop();
  }
});

test('reads before start are refused with a code', async () => {
  const idle = await startRig({ online: false, start: false });
  try {
    assert.throws(() => idle.notifier.handleReaderText('1234567890\n', 'stdin'), { code: 'MACHINE_NOTIFIER_NOT_STARTED' });
  } finally {
    await idle.stop();
  }
});
