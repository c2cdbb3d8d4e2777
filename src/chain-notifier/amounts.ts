// Bitcoin amounts in integers: sats and cents at a rate, BTC text for a URI, and confirmations by amount.

const SATS_PER_BTC = 100_000_000n;

export interface ConfirmationRule {
  upToSats: number | null;
  confirmations: number;
}

/** Confirmations a payment of this size needs: the first row whose upToSats covers it. */
export function requiredConfirmations(sats: number, rules: readonly ConfirmationRule[]): number {
  const rule = rules.find((row) => row.upToSats === null || sats <= row.upToSats);
  return rule?.confirmations ?? rules.at(-1)?.confirmations ?? 1;
}

/** The integer cents a number of sats is worth at a rate, rounded to the nearest cent. */
export function centsFor(sats: number, centsPerBtc: number): number {
  return Number((BigInt(sats) * BigInt(centsPerBtc) + SATS_PER_BTC / 2n) / SATS_PER_BTC);
}

/** The sats that pay `cents` at a rate, rounded up: an invoice never asks for less than its amount. */
export function satsFor(cents: number, centsPerBtc: number): number {
  const rate = BigInt(centsPerBtc);
  return Number((BigInt(cents) * SATS_PER_BTC + rate - 1n) / rate);
}

/** Sats as a BIP21 amount: decimal BTC with at most 8 places and no trailing zeros ("0.00074075", "1"). */
export function btcAmountText(sats: number): string {
  const whole = BigInt(sats) / SATS_PER_BTC;
  const fraction = (BigInt(sats) % SATS_PER_BTC).toString().padStart(8, '0').replace(/0+$/, '');
  return fraction === '' ? whole.toString() : `${whole}.${fraction}`;
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
