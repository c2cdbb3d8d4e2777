// Who may open a door when: the same rule for BusinessMgr deciding a tap and for a door deciding offline.
import { DateTime } from 'luxon';
import type { z } from 'zod';
import type { AllowList, doorWindow } from './messages-machine.js';
import type { PayloadOf } from './contract.js';

export type DoorWindow = z.infer<typeof doorWindow>;
export type AllowListPayload = PayloadOf<typeof AllowList>;
/** When a member may enter: at all hours (a keyholder), in some windows of the week, or never. */
export type DoorAccess = { kind: 'always' } | { kind: 'windows'; windows: DoorWindow[] } | { kind: 'never' };

/** The part of a keyed fob hash an allow-list carries: 128 bits are plenty to tell fobs apart, and half the size. */
export function fobKey(fobHash: string): string {
  return fobHash.slice(0, 32);
}

/**
 * What a member's groups allow at a door: keyholder groups at all hours; otherwise every window of their groups
 * in the doorHours policy. `doorGroups`, when a door sets it, limits which groups count there.
 */
export function doorAccess(
  groups: readonly string[],
  policy: { doorHours: Record<string, DoorWindow[]>; keyholderGroups: readonly string[] },
  doorGroups?: readonly string[],
): DoorAccess {
  if (groups.some((group) => policy.keyholderGroups.includes(group))) return { kind: 'always' };
  const windows = groups
    .filter((group) => doorGroups === undefined || doorGroups.includes(group))
    .flatMap((group) => policy.doorHours[group] ?? []);
  return windows.length > 0 ? { kind: 'windows', windows } : { kind: 'never' };
}

/**
 * Whether `at` falls in one of the windows, read in the space's time zone. Days are 0 (Sunday) to 6 (Saturday);
 * a window whose end is before its start runs past midnight into the next day; equal ends mean the whole day.
 */
export function withinWindows(windows: readonly DoorWindow[], at: number, timezone: string): boolean {
  const local = DateTime.fromMillis(at, { zone: timezone });
  const day = local.weekday % 7;
  const yesterday = (day + 6) % 7;
  const minute = local.hour * 60 + local.minute;
  return windows.some((window) => {
    const from = minutesOf(window.from);
    const to = minutesOf(window.to);
    if (from === to) return window.days.includes(day);
    if (from < to) return window.days.includes(day) && minute >= from && minute < to;
    return (window.days.includes(day) && minute >= from) || (window.days.includes(yesterday) && minute < to);
  });
}

export function accessAllows(access: DoorAccess, at: number, timezone: string): boolean {
  if (access.kind === 'always') return true;
  if (access.kind === 'never') return false;
  return withinWindows(access.windows, at, timezone);
}

export type OfflineVerdict =
  | { allowed: true; reason: 'allow-listed' | 'keyholder' }
  | { allowed: false; reason: 'unknown-fob' | 'outside-hours' | 'no-allow-list' | 'allow-list-expired' | 'clock-behind' };

/** How far a device clock may read behind the latest time it has seen before it is distrusted. */
export const CLOCK_BEHIND_TOLERANCE_MS = 5 * 60_000;

/**
 * How a door decides a tap from its allow-list while the hub is unreachable. `notBefore` is the latest time the
 * door has seen (a list's issue time, its last decision): a clock that reads well before it (a Pi with no
 * hardware clock, reset) is not trusted, or an expired list would come back to life.
 */
export function decideFromAllowList(
  list: AllowListPayload | undefined,
  fobHash: string,
  at: number,
  notBefore = 0,
): OfflineVerdict {
  if (!list) return { allowed: false, reason: 'no-allow-list' };
  if (at < notBefore - CLOCK_BEHIND_TOLERANCE_MS) return { allowed: false, reason: 'clock-behind' };
  if (Math.max(at, notBefore) >= list.expiresAt) return { allowed: false, reason: 'allow-list-expired' };
  const key = fobKey(fobHash);
  const entry = list.entries.find(([candidate]) => candidate === key);
  if (!entry) return { allowed: false, reason: 'unknown-fob' };
  const schedule = entry[1];
  if (schedule === -1) return { allowed: true, reason: 'keyholder' };
  const windows = list.schedules[schedule] ?? [];
  return withinWindows(windows, at, list.timezone)
    ? { allowed: true, reason: 'allow-listed' }
    : { allowed: false, reason: 'outside-hours' };
}

function minutesOf(clock: string): number {
  const [hours, minutes] = clock.split(':').map(Number);
  return hours! * 60 + minutes!;
}
