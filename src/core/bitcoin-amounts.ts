// Bitcoin amounts in integers: the cents a number of sats is worth at a rate, the sats that pay an amount, and
// whether the Reporter takes the two as the same.

const SATS_PER_BTC = 100_000_000n;

/** The integer cents a number of sats is worth at a rate, rounded to the nearest cent. */
export function centsFor(sats: number, centsPerBtc: number): number {
  return Number((BigInt(sats) * BigInt(centsPerBtc) + SATS_PER_BTC / 2n) / SATS_PER_BTC);
}

/** The sats that pay `cents` at a rate, rounded up: an invoice never asks for less than its amount. */
export function satsFor(cents: number, centsPerBtc: number): number {
  const rate = BigInt(centsPerBtc);
  return Number((BigInt(cents) * SATS_PER_BTC + rate - 1n) / rate);
}

/**
 * Whether the Reporter takes `sats` as `cents` at this rate: it allows 1% (at least one sat) between them, so an
 * amount worth only a few cents, where rounding to the cent is more than 1%, is refused.
 */
export function ledgerAcceptsBitcoin(cents: number, sats: number, centsPerBtc: number): boolean {
  if (cents < 1) return false;
  const expectedSats = Math.round((cents * 100_000_000) / centsPerBtc);
  return Math.abs(expectedSats - sats) <= Math.max(1, Math.ceil(expectedSats / 100));
}
