// The dashboard's "today" and "this month" are the space's, wherever the browser is: midnight and the month in a
// given zone, across the change from summer time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DateTime } from 'luxon';
import { currentMonth, startOfToday } from '../../src/server/ui/format.js';

const at = (iso: string, zone: string) => DateTime.fromISO(iso, { zone }).toMillis();

test('today starts at midnight in the space’s zone, not the browser’s', () => {
  const zone = 'America/Vancouver';
  // 23:30 in Vancouver on 31 October is already 1 November in UTC (and in the browser of a kiosk set to UTC).
  assert.equal(startOfToday(at('2026-10-31T23:30', zone), zone), at('2026-10-31T00:00', zone));
  assert.equal(startOfToday(at('2026-11-30T00:00', zone), zone), at('2026-11-30T00:00', zone));
  assert.equal(
    startOfToday(at('2026-06-15T12:34:56.789', 'Europe/Berlin'), 'Europe/Berlin'),
    at('2026-06-15T00:00', 'Europe/Berlin'),
  );
});

test('midnight is found across a change of the clocks later that day', () => {
  const zone = 'America/Vancouver';
  // Summer time ends at 02:00 on 1 November 2026: that day has 25 hours; in spring one day has 23.
  assert.equal(startOfToday(at('2026-11-01T23:00', zone), zone), at('2026-11-01T00:00', zone));
  assert.equal(startOfToday(at('2026-03-08T22:00', zone), zone), at('2026-03-08T00:00', zone));
});

test('this month is the space’s month', () => {
  assert.equal(currentMonth(at('2026-10-31T23:30', 'America/Vancouver'), 'America/Vancouver'), '2026-10');
  assert.equal(currentMonth(at('2026-10-31T23:30', 'America/Vancouver'), 'UTC'), '2026-11');
  assert.equal(currentMonth(at('2026-12-31T23:59', 'Pacific/Auckland'), 'Pacific/Auckland'), '2026-12');
});
