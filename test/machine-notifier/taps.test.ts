// Which reads become taps: a fob held to the reader is one tap (debounce from its last read, on the service clock),
// and a burst of 100 taps in one second passes at most maxTapsPerSecond, the rest counted and logged, nothing crashing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { hashFob } from '../../src/core/fob-hash.js';
import { TapGate } from '../../src/machine-notifier/tap-gate.js';
import { fobNumber, startRig, type Rig } from './rig.js';

const clock = new ManualClock(Date.UTC(2026, 2, 1, 9));
let rig: Rig;

before(async () => {
  rig = await startRig({ clock, online: false, deviceConfig: { tapDebounceMs: 2_300, maxTapsPerSecond: 10 } });
});
after(async () => rig.stop());

const read = (fob: string) => rig.notifier.handleReaderText(`${fob}\n`, 'stdin');

test('a fob held to the reader, read every second for five seconds, is one tap', () => {
  clock.advance(60_000);
  const before = rig.taps.length;
  const fob = fobNumber(10);
  for (let second = 0; second <= 5; second++) {
    read(fob);
    clock.advance(1_000);
  }
  assert.equal(rig.taps.length - before, 1);
  assert.equal(rig.taps.at(-1)!.fob.hash, hashFob(fob, rig.key).hash);
});

test('the window runs from the last read: 2.2 s after it is the same tap, 2.3 s after it a new one', () => {
  clock.advance(60_000);
  const before = rig.taps.length;
  const fob = fobNumber(11);
  read(fob);
  clock.advance(2_200);
  read(fob);
  assert.equal(rig.taps.length - before, 1, 'a read 2.2 s later is the same tap');
  clock.advance(2_299);
  read(fob);
  assert.equal(rig.taps.length - before, 1, '2.299 s after the last read is still the same tap');
  clock.advance(2_300);
  read(fob);
  assert.equal(rig.taps.length - before, 2, '2.3 s after the last read is a new tap');
});

test('another fob within the window is a tap of its own', () => {
  clock.advance(60_000);
  const before = rig.taps.length;
  read(fobNumber(12));
  clock.advance(100);
  read(fobNumber(13));
  assert.equal(rig.taps.length - before, 2);
});

test('the tap time is the read time by the service clock', () => {
  clock.advance(60_000);
  read(fobNumber(14));
  assert.equal(rig.taps.at(-1)!.at, clock.now());
});

test('a burst of 100 different fobs in one second passes 10 taps, counts and logs the rest', () => {
  clock.advance(60_000);
  const before = rig.taps.length;
  const statsBefore = rig.notifier.stats();
  const codesBefore = rig.logCodes().length;
  for (let index = 0; index < 100; index++) {
    read(fobNumber(1_000 + index));
    clock.advance(10);
  }
  const stats = rig.notifier.stats();
  assert.equal(rig.taps.length - before, 10);
  assert.deepEqual(
    rig.taps.slice(before).map((tap) => tap.fob.hash),
    Array.from({ length: 10 }, (_, index) => hashFob(fobNumber(1_000 + index), rig.key).hash),
    'the first ten pass',
  );
  assert.equal(stats.rateLimited - statsBefore.rateLimited, 90);
  assert.equal(stats.reads - statsBefore.reads, 100);
  assert.ok(rig.logCodes().slice(codesBefore).includes('MACHINE_NOTIFIER_TAP_RATE_LIMITED'));
  // A second later the budget is back.
  clock.advance(1_000);
  read(fobNumber(5_000));
  assert.equal(rig.taps.length - before, 11);
});

test('a burst of 100 reads of the same fob is one tap, and uses none of the budget', () => {
  clock.advance(60_000);
  const before = rig.taps.length;
  for (let index = 0; index < 100; index++) read(fobNumber(20));
  read(fobNumber(21));
  assert.equal(rig.taps.length - before, 2);
});

test('the gate alone: a sliding one-second window', () => {
  const gate = new TapGate({ debounceMs: 0, maxPerSecond: 3 });
  const verdicts = [0, 100, 200, 300, 999, 1_000, 1_101, 1_200].map((at, index) => gate.offer(`fob-${index}`, at));
  assert.deepEqual(verdicts, ['pass', 'pass', 'pass', 'rate-limited', 'rate-limited', 'pass', 'pass', 'pass']);
});
