// Bitcoin amounts for the ChainNotifier: BTC text for a URI and confirmations by amount; sats and cents at a rate
// are shared (src/core/bitcoin-amounts.ts).
export { centsFor, ledgerAcceptsBitcoin, satsFor } from '../core/bitcoin-amounts.js';

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

/** Sats as a BIP21 amount: decimal BTC with at most 8 places and no trailing zeros ("0.00074075", "1"). */
export function btcAmountText(sats: number): string {
  const whole = BigInt(sats) / SATS_PER_BTC;
  const fraction = (BigInt(sats) % SATS_PER_BTC).toString().padStart(8, '0').replace(/0+$/, '');
  return fraction === '' ? whole.toString() : `${whole}.${fraction}`;
}
