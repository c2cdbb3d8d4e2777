// When scheduled mail is due, in the schedule's time zone: the month's statements on the 1st at a set hour, a
// dues reminder some days before grace ends. Pure functions of one instant, so tests set the clock and ask.
import { DateTime } from 'luxon';

/** The month whose statements were due most recently at or before `now`, and when they were due. */
export function latestStatementPeriod(now: number, timezone: string, hour: number): { month: string; dueAt: number } {
  const local = DateTime.fromMillis(now, { zone: timezone });
  let due = local.startOf('month').set({ hour });
  if (due.toMillis() > now) due = due.minus({ months: 1 });
  return { month: due.minus({ months: 1 }).toFormat('yyyy-MM'), dueAt: due.toMillis() };
}

/** The first instant of the month after `month` ("2026-10" → 1 November 00:00 in the zone). */
export function monthEnd(month: string, timezone: string): number {
  return DateTime.fromISO(`${month}-01`, { zone: timezone }).plus({ months: 1 }).toMillis();
}

/** When the reminder for dues whose grace ends at `graceEndsAt` is due: `days` calendar days before, in the zone. */
export function reminderDueAt(graceEndsAt: number, days: number, timezone: string): number {
  return DateTime.fromMillis(graceEndsAt, { zone: timezone }).minus({ days }).toMillis();
}

/** Calendar days in the zone from `now`'s day to `until`'s (the day grace ends at midnight): 1 on the last day. */
export function daysLeft(now: number, until: number, timezone: string): number {
  const today = DateTime.fromMillis(now, { zone: timezone }).startOf('day');
  const end = DateTime.fromMillis(until, { zone: timezone }).startOf('day');
  return Math.max(0, Math.round(end.diff(today, 'days').days));
}
