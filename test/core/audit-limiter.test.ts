// Audit events are capped per second, and the next one sent says how many were held back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuditLimiter } from '../../src/core/audit-limiter.js';
import { ManualClock } from '../../src/core/clock.js';

test('a flood yields at most N audit events a second, and the count of the rest', () => {
  const clock = new ManualClock();
  const limiter = new AuditLimiter(3, clock);
  const verdicts = Array.from({ length: 10 }, () => limiter.take());
  assert.deepEqual(verdicts, [0, 0, 0, undefined, undefined, undefined, undefined, undefined, undefined, undefined]);
  clock.advance(1_000);
  assert.equal(limiter.take(), 7, 'the first one of the next second carries the 7 held back');
  assert.equal(limiter.take(), 0);
});
