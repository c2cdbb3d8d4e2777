// How the dashboard writes money, times and months. Money stays integer cents, formatted by the same code as the
// server (src/core/money.ts, bundled by esbuild); times in the browser's own locale, "today" and "this month" in
// the space's zone.
import { formatCents } from '../../core/money.js';
import type { StatementEntry } from './types.js';

/** 7500, 'EUR' → "75.00 EUR"; without a currency just "75.00". */
export function money(cents: number, currency?: string): string {
  return currency ? `${formatCents(cents)} ${currency}` : formatCents(cents);
}

export function sats(count: number): string {
  return `${count.toLocaleString()} sats`;
}

export function time(ms: number): string {
  return new Date(ms).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function date(ms: number): string {
  return new Date(ms).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}

export function dateTime(ms: number): string {
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** "just now", "5 min ago", "3 h ago", or the date for anything older than a day. */
export function ago(ms: number, now: number = Date.now()): string {
  const seconds = Math.round((now - ms) / 1000);
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return dateTime(ms);
}

/** The zone "today" and "this month" are reckoned in: the space's, once the session says it; the browser's until then. */
let spaceZone: string | undefined;

export function setSpaceZone(zone: string | null | undefined): void {
  spaceZone = zone ?? undefined;
}

/** The wall clock of `ms` in the zone: year, month (1–12), day, hour, minute, second. */
function wallClock(
  ms: number,
  zone: string | undefined,
): Record<'year' | 'month' | 'day' | 'hour' | 'minute' | 'second', number> {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(ms);
  const value = (type: string) => Number(parts.find((part) => part.type === type)?.value ?? 0);
  return {
    year: value('year'),
    month: value('month'),
    day: value('day'),
    hour: value('hour'),
    minute: value('minute'),
    second: value('second'),
  };
}

/** Midnight of the day `now` falls in, in the zone, as epoch milliseconds (right across a daylight-saving change). */
export function startOfToday(now: number = Date.now(), zone: string | undefined = spaceZone): number {
  const clock = wallClock(now, zone);
  let midnight = now - (now % 1000) - ((clock.hour * 60 + clock.minute) * 60 + clock.second) * 1000;
  // The day began an hour earlier or later when the clocks changed since midnight.
  for (let step = 0; step < 2; step += 1) {
    const seen = wallClock(midnight, zone);
    const off = seen.day !== clock.day ? seen.hour - 24 : seen.hour;
    if (off === 0 && seen.minute === 0) break;
    midnight -= (off * 60 + seen.minute) * 60_000;
  }
  return midnight;
}

/** The month of `now` in the zone, as "YYYY-MM". */
export function currentMonth(now: number = Date.now(), zone: string | undefined = spaceZone): string {
  const clock = wallClock(now, zone);
  return `${clock.year}-${String(clock.month).padStart(2, '0')}`;
}

/** "2025-01", -1 → "2024-12". */
export function shiftMonth(month: string, delta: number): string {
  const [year, monthNumber] = month.split('-').map(Number) as [number, number];
  const index = year * 12 + (monthNumber - 1) + delta;
  return `${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, '0')}`;
}

/** "2025-03" → "Mar 2025" (or "Mar" when short). */
export function monthLabel(month: string, short = false): string {
  const [year, monthNumber] = month.split('-').map(Number) as [number, number];
  const first = new Date(year, monthNumber - 1, 1);
  return first.toLocaleDateString(undefined, short ? { month: 'short' } : { month: 'long', year: 'numeric' });
}

/** An SVG document (a QR code from the Server) as an image URL: an <img> never runs what an SVG might carry. */
export function svgImage(svg: string): string {
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

/** A ledger entry in words: "Dues (Regular)", "Club-Mate", "Payment in bitcoin", "Adjustment: refund". */
export function entryText(entry: StatementEntry): string {
  const text = (key: string): string | undefined => {
    const value = entry.detail[key];
    return typeof value === 'string' && value ? value : undefined;
  };
  const tier = text('tierName') ?? text('tier');
  const note = text('note');
  const base: string = {
    dues: tier ? `Dues (${tier})` : 'Dues',
    payment: `Payment${entry.method ? ` in ${entry.method}` : ''}`,
    purchase: text('product') ?? 'Purchase',
    donation: 'Donation',
    adjustment: 'Adjustment',
    payout: 'Payout',
  }[entry.kind];
  return note ? `${base}: ${note}` : base;
}
