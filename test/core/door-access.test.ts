// The one door rule, for BusinessMgr on the hub and for a door deciding offline: hours in the space's time zone,
// keyholders at all hours, a door's own groups, and an allow-list's expiry judged by a clock that cannot go back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DateTime } from 'luxon';
import {
  accessAllows,
  CLOCK_BEHIND_TOLERANCE_MS,
  decideFromAllowList,
  doorAccess,
  fobKey,
  withinWindows,
  type AllowListPayload,
} from '../../src/core/door-access.js';

const ZONE = 'America/Vancouver';
const at = (iso: string) => DateTime.fromISO(iso, { zone: ZONE }).toMillis();
const policy = {
  doorHours: {
    members: [{ days: [1, 2, 3, 4, 5], from: '08:00', to: '23:00' }],
    night: [{ days: [5], from: '22:00', to: '02:00' }],
    weekend: [{ days: [0, 6], from: '10:00', to: '10:00' }],
  },
  keyholderGroups: ['keyholders'],
};

test('hours are read in the space time zone: weekdays 08:00 to 23:00, the end excluded', () => {
  const weekdays = policy.doorHours.members;
  // 2026-11-27 is a Friday (day 5); 07:59 and 23:00 local are outside, 08:00 and 22:59 inside.
  assert.equal(withinWindows(weekdays, at('2026-11-27T07:59'), ZONE), false);
  assert.equal(withinWindows(weekdays, at('2026-11-27T08:00'), ZONE), true);
  assert.equal(withinWindows(weekdays, at('2026-11-27T22:59'), ZONE), true);
  assert.equal(withinWindows(weekdays, at('2026-11-27T23:00'), ZONE), false);
  // Saturday is day 6: not a weekday, whatever the UTC date says.
  assert.equal(withinWindows(weekdays, at('2026-11-28T12:00'), ZONE), false);
  assert.equal(withinWindows(weekdays, at('2026-11-27T07:00'), 'UTC'), true, 'the same instant read in UTC is 15:00 Friday');
  assert.equal(withinWindows(weekdays, at('2026-11-27T16:00'), 'UTC'), false, 'and this one 00:00 Saturday');
});

test('a window past midnight belongs to the day it starts; equal ends mean the whole day', () => {
  const night = policy.doorHours.night;
  assert.equal(withinWindows(night, at('2026-11-27T23:30'), ZONE), true, 'Friday night');
  assert.equal(withinWindows(night, at('2026-11-28T01:59'), ZONE), true, 'after midnight, still Friday’s window');
  assert.equal(withinWindows(night, at('2026-11-28T02:00'), ZONE), false);
  assert.equal(withinWindows(night, at('2026-11-27T01:00'), ZONE), false, 'Thursday night is not in it');
  const weekend = policy.doorHours.weekend;
  assert.equal(withinWindows(weekend, at('2026-11-29T00:00'), ZONE), true);
  assert.equal(withinWindows(weekend, at('2026-11-29T23:59'), ZONE), true);
  assert.equal(withinWindows(weekend, at('2026-11-30T00:00'), ZONE), false);
});

test('keyholders at all hours; others by their groups; a door’s groups narrow who counts; no group, never', () => {
  assert.deepEqual(doorAccess(['members', 'keyholders'], policy), { kind: 'always' });
  assert.equal(doorAccess(['members', 'night'], policy).kind, 'windows');
  assert.equal(accessAllows(doorAccess(['members', 'night'], policy), at('2026-11-28T01:00'), ZONE), true);
  assert.equal(accessAllows(doorAccess(['members'], policy), at('2026-11-28T01:00'), ZONE), false);
  assert.deepEqual(doorAccess(['members'], policy, ['night']), { kind: 'never' });
  assert.deepEqual(doorAccess(['keyholders'], policy, ['night']), { kind: 'always' }, 'keyholders whatever the door');
  assert.deepEqual(doorAccess(['badge:laser'], policy), { kind: 'never' });
});

test('offline: the list decides, an expired or missing one denies, and a clock set back is not trusted', () => {
  const member = 'ab'.repeat(32);
  const keyholder = 'cd'.repeat(32);
  const issuedAt = at('2026-11-27T12:00');
  const list: AllowListPayload = {
    device: 'front-door',
    version: 7,
    issuedAt,
    expiresAt: issuedAt + 72 * 3_600_000,
    timezone: ZONE,
    schedules: [policy.doorHours.members],
    entries: [
      [fobKey(member), 0],
      [fobKey(keyholder), -1],
    ],
  };
  assert.equal(fobKey(member).length, 32);
  assert.deepEqual(decideFromAllowList(undefined, member, issuedAt), { allowed: false, reason: 'no-allow-list' });
  assert.deepEqual(decideFromAllowList(list, member, issuedAt), { allowed: true, reason: 'allow-listed' });
  assert.deepEqual(decideFromAllowList(list, member, at('2026-11-28T12:00')), { allowed: false, reason: 'outside-hours' });
  assert.deepEqual(decideFromAllowList(list, keyholder, at('2026-11-28T03:00')), { allowed: true, reason: 'keyholder' });
  assert.deepEqual(decideFromAllowList(list, 'ef'.repeat(32), issuedAt), { allowed: false, reason: 'unknown-fob' });
  assert.deepEqual(decideFromAllowList(list, keyholder, list.expiresAt), { allowed: false, reason: 'allow-list-expired' });
  // The door has seen a time past the expiry; its clock now says an earlier time: still expired, or distrusted.
  const seen = list.expiresAt + 1_000;
  assert.deepEqual(decideFromAllowList(list, keyholder, list.expiresAt - 1_000, seen), {
    allowed: false,
    reason: 'allow-list-expired',
  });
  assert.deepEqual(decideFromAllowList(list, keyholder, 0, issuedAt), { allowed: false, reason: 'clock-behind' });
  assert.deepEqual(decideFromAllowList(list, keyholder, issuedAt - CLOCK_BEHIND_TOLERANCE_MS + 1, issuedAt), {
    allowed: true,
    reason: 'keyholder',
  });
});
