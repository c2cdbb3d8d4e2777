// How the dashboard writes money, times and months. Money stays integer cents, formatted by the same code as the
// server (src/core/money.ts, bundled by esbuild); times in the browser's own zone and locale.
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

/** Local midnight of the day `now` falls in, in epoch milliseconds. */
export function startOfToday(now: number = Date.now()): number {
  const day = new Date(now);
  day.setHours(0, 0, 0, 0);
  return day.getTime();
}

/** The local month of `now` as "YYYY-MM". */
export function currentMonth(now: number = Date.now()): string {
  const day = new Date(now);
  return `${day.getFullYear()}-${String(day.getMonth() + 1).padStart(2, '0')}`;
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
