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

const DECIMAL = /^(\d+)(?:\.(\d+))?$/;

/**
 * A non-negative decimal, as text ("65432.10", "87995.12345") or as a JSON number (87995.1), → integer cents,
 * rounded half up at the cent with string arithmetic, never through a float. A number is read through its
 * shortest round-trip decimal text (`String(n)`), which is the text a source wrote whenever it wrote at most 17
 * significant digits without an exponent. Returns undefined for anything else: signs, exponents, NaN, Infinity,
 * empty text, or a result beyond Number.MAX_SAFE_INTEGER; callers say what they expected.
 */
export function decimalToCents(value: string | number): number | undefined {
  if (typeof value === 'number' && !Number.isFinite(value)) return undefined;
  const match = DECIMAL.exec(typeof value === 'number' ? String(value) : value);
  if (!match) return undefined;
  const whole = match[1]!.replace(/^0+(?=\d)/, '');
  const fraction = match[2] ?? '';
  // 13 whole digits and 2 of cents stay below 2^53; anything longer is not a price.
  if (whole.length > 13) return undefined;
  const roundUp = (fraction[2] ?? '0') >= '5' ? 1 : 0;
  const cents = Number(whole) * 100 + Number(fraction.slice(0, 2).padEnd(2, '0')) + roundUp;
  return Number.isSafeInteger(cents) ? cents : undefined;
}
