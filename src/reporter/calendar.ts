// Months and days in the space's time zone, as the dues schedule sees them (luxon does the zone arithmetic).
import { DateTime } from 'luxon';
import { ReporterError } from './errors.js';

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

export function isMonth(text: string): boolean {
  return MONTH.test(text);
}

/** @throws ReporterError REPORTER_MONTH_INVALID unless the text is a month written YYYY-MM. */
export function checkMonth(text: string): string {
  if (!isMonth(text)) throw new ReporterError('REPORTER_MONTH_INVALID', `"${text.slice(0, 40)}" is not a month written YYYY-MM`);
  return text;
}

/** The month (YYYY-MM) in which the instant `ms` falls, in the zone. */
export function monthAt(ms: number, zone: string): string {
  return DateTime.fromMillis(ms, { zone }).toFormat('yyyy-MM');
}

/** The instant a month begins: midnight on its 1st, in the zone. */
export function monthStart(month: string, zone: string): number {
  return DateTime.fromISO(`${month}-01`, { zone }).toMillis();
}

/** The instant the grace period for a month's dues ends: midnight after `graceDays` days, in the zone. */
export function graceEnd(month: string, graceDays: number, zone: string): number {
  return DateTime.fromISO(`${month}-01`, { zone }).plus({ days: graceDays }).toMillis();
}

export function nextMonth(month: string): string {
  return DateTime.fromISO(`${month}-01`, { zone: 'UTC' }).plus({ months: 1 }).toFormat('yyyy-MM');
}

/** The months from `first` to `last`, both included, in order. */
export function monthsBetween(first: string, last: string): string[] {
  const months: string[] = [];
  for (let month = first; month <= last; month = nextMonth(month)) months.push(month);
  return months;
}
