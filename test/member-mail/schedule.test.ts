// When scheduled mail is due, in the schedule's zone: the statement period around the 1st at the set hour, the
// year's turn, reminder days across a daylight-saving change, and days left counted as calendar days.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DateTime } from 'luxon';
import { daysLeft, latestStatementPeriod, monthEnd, reminderDueAt } from '../../src/member-mail/schedule.js';

const ZONE = 'America/Vancouver';
const local = (iso: string) => DateTime.fromISO(iso, { zone: ZONE }).toMillis();

test('statements of a month are due on the 1st of the next at the set hour, in the zone', () => {
  assert.deepEqual(latestStatementPeriod(local('2026-12-01T08:59:59.999'), ZONE, 9), {
    month: '2026-10',
    dueAt: local('2026-11-01T09:00'),
  });
  assert.deepEqual(latestStatementPeriod(local('2026-12-01T09:00'), ZONE, 9), {
    month: '2026-11',
    dueAt: local('2026-12-01T09:00'),
  });
  assert.equal(latestStatementPeriod(local('2027-01-01T09:00'), ZONE, 9).month, '2026-12');
  assert.equal(latestStatementPeriod(local('2027-01-01T08:00'), ZONE, 9).month, '2026-11');
  // 1 December 09:00 in Vancouver is 17:00 UTC: a UTC clock would disagree about the day.
  assert.equal(latestStatementPeriod(Date.UTC(2026, 11, 1, 16, 59), ZONE, 9).month, '2026-10');
});

test('a month ends at midnight in the zone', () => {
  assert.equal(monthEnd('2026-10', ZONE), local('2026-11-01T00:00'));
  assert.equal(monthEnd('2026-12', ZONE), local('2027-01-01T00:00'));
});

test('a reminder N days before grace ends is N calendar days, across the change from summer time', () => {
  // Summer time ends on 1 November 2026: that day has 25 hours.
  const graceEndsAt = local('2026-11-04T00:00');
  assert.equal(reminderDueAt(graceEndsAt, 3, ZONE), local('2026-11-01T00:00'));
  assert.equal(graceEndsAt - reminderDueAt(graceEndsAt, 3, ZONE), 3 * 86_400_000 + 3_600_000);
});

test('days left are calendar days up to the day grace ends: 1 on the last day to pay', () => {
  const graceEndsAt = local('2026-11-04T00:00');
  assert.equal(daysLeft(local('2026-10-31T00:00'), graceEndsAt, ZONE), 4);
  assert.equal(daysLeft(local('2026-10-31T23:59'), graceEndsAt, ZONE), 4);
  assert.equal(daysLeft(local('2026-11-03T00:01'), graceEndsAt, ZONE), 1);
  assert.equal(daysLeft(local('2026-11-04T00:00'), graceEndsAt, ZONE), 0);
  assert.equal(daysLeft(local('2026-11-05T12:00'), graceEndsAt, ZONE), 0);
});
