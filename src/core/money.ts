// Money is integers: cents (the smallest unit of the space's currency) and satoshis. Text in, text out, no floats.
import { CoreError } from './errors.js';

const AMOUNT = /^(\d{1,9})(?:\.(\d{1,2}))?$/;

/**
 * "75", "75.5" or "75.00" in the space's currency → 7500 cents. Refuses signs, fractions of a cent and
 * anything else, naming the text.
 * @throws CoreError CORE_AMOUNT_INVALID.
 */
export function parseAmountToCents(text: string): number {
  const match = AMOUNT.exec(text.trim());
  if (!match) {
    throw new CoreError(
      'CORE_AMOUNT_INVALID',
      `"${text.slice(0, 40)}" is not an amount: write it like 75 or 75.00 (no sign, at most two decimals)`,
    );
  }
  const fraction = (match[2] ?? '').padEnd(2, '0');
  return Number(match[1]) * 100 + Number(fraction);
}

/** 7500 → "75.00", -250 → "-2.50". */
export function formatCents(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const magnitude = Math.abs(cents);
  return `${sign}${Math.trunc(magnitude / 100)}.${String(magnitude % 100).padStart(2, '0')}`;
}
