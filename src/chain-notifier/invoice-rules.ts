// The invoice rules without I/O: its BIP21 URI, and what its payments make of it at a moment (state, flags, and
// what the ledger must do), so every case can be tested alone and the service only carries the answer out.
import { btcAmountText } from './amounts.js';
import type { InvoiceState, OutputState } from './store.js';

/**
 * `bitcoin:<address>?amount=<BTC>&label=…&message=…` (BIP21), the amount written from integer sats, label and
 * message percent-encoded (RFC 3986: encodeURIComponent leaves only unreserved characters and `!*'()`).
 */
export function bip21Uri(address: string, sats: number, label: string, message: string): string {
  return `bitcoin:${address}?amount=${btcAmountText(sats)}&label=${encodeURIComponent(label)}&message=${encodeURIComponent(message)}`;
}

/** The least that counts as paid: the invoice's sats less the tolerance, in thousandths. */
export function paidThreshold(sats: number, tolerancePerMille: number): number {
  return sats - Math.floor((sats * tolerancePerMille) / 1000);
}

/** One output paid to the invoice's address, as the watcher has it. */
export interface InvoiceOutput {
  outpoint: string;
  sats: number;
  state: OutputState;
  firstSeenAt: number;
  confirmations: number;
  /** Whether the ledger holds a credit for it now (in the settling credit or on its own). */
  credited: boolean;
}

export interface InvoiceTerms {
  sats: number;
  expiresAt: number;
  watchUntil: number;
  paidTolerancePerMille: number;
  /** Whether the settling credit is in the ledger, and the outputs it covers. */
  credited: boolean;
  cover: readonly string[];
  /** A member's payment can be taken back by an adjustment; a sale or a donation names nobody to take it from. */
  reversible: boolean;
  /** Whether money left on it when the watch ends is still recorded (a member's or a donation), or only alarmed
   * (a partial payment for a product buys nothing). */
  keepsLeftovers: boolean;
}

export interface InvoiceAssessment {
  state: InvoiceState;
  paidSats: number;
  flags: { partial: boolean; over: boolean; late: boolean };
  /** Record the settling credit now, covering these outputs. */
  settleWith: string[] | null;
  /** Take the settling credit back: a payment it covers left the chain. */
  reverse: boolean;
  /** Outputs to credit on their own: paid after it settled, or left when the watch ended. */
  creditAlone: string[];
  /** Outputs credited on their own that left the chain. */
  reverseAlone: string[];
  /** Payments that arrived after watchUntil: nothing is credited for them. */
  strays: string[];
  /** Past watchUntil, the settling credit's payment gone for good (a sale or a donation), or a product partly paid. */
  problems: string[];
  /** Nothing can change any more unless one of its payments moves. */
  closed: boolean;
}

const isLive = (output: InvoiceOutput) => output.state === 'seen' || output.state === 'confirmed';
const sumSats = (outputs: readonly InvoiceOutput[]) => outputs.reduce((total, output) => total + output.sats, 0);

/**
 * What an invoice's payments make of it at `now`. A payment counts while it is in the mempool or a block and
 * arrived before watchUntil; late (after expiresAt) ones count too, at the locked rate, and flag it. It settles
 * when the counted payments with the confirmations their total needs reach its sats (less the tolerance).
 */
export function assessInvoice(
  terms: InvoiceTerms,
  outputs: readonly InvoiceOutput[],
  now: number,
  confirmationsNeeded: (sats: number) => number,
): InvoiceAssessment {
  const inWindow = (output: InvoiceOutput) => output.firstSeenAt < terms.watchUntil;
  const counted = outputs.filter((output) => isLive(output) && inWindow(output));
  const strays = outputs.filter((output) => isLive(output) && !inWindow(output)).map((output) => output.outpoint);
  const gone = outputs.filter((output) => !isLive(output) && inWindow(output));
  const paidSats = sumSats(counted);
  const flags = {
    partial: paidSats > 0 && paidSats < terms.sats,
    over: paidSats > terms.sats,
    late: counted.some((output) => output.firstSeenAt >= terms.expiresAt),
  };
  const threshold = paidThreshold(terms.sats, terms.paidTolerancePerMille);
  const cover = new Set(terms.cover);
  const coverHolds =
    terms.cover.length > 0 && terms.cover.every((outpoint) => counted.some((output) => output.outpoint === outpoint));
  const needed = confirmationsNeeded(paidSats);
  const watchEnded = now >= terms.watchUntil;
  const problems: string[] = [];

  let state: InvoiceState;
  let settleWith: string[] | null = null;
  let reverse = false;
  if (terms.credited && coverHolds) state = 'settled';
  else if (terms.credited && !terms.reversible) {
    state = 'invalid';
    problems.push(`the payment it was settled by (${terms.cover.join(', ')}) left the chain and its credit cannot be taken back`);
  } else {
    reverse = terms.credited;
    // Outputs already credited on their own are not credited again in a new settling credit.
    const ready = counted.filter((output) => output.confirmations >= needed && !(output.credited && !cover.has(output.outpoint)));
    if (sumSats(ready) >= threshold) {
      settleWith = ready.map((output) => output.outpoint);
      state = 'settled';
    } else if (paidSats >= threshold) state = 'processing';
    else if (paidSats > 0) state = now < terms.expiresAt ? 'processing' : 'expired';
    else if (gone.length > 0 || strays.length > 0) state = 'invalid';
    else state = now < terms.expiresAt ? 'new' : 'expired';
  }

  const settlesCover = new Set(settleWith ?? (state === 'settled' ? terms.cover : []));
  const leftoversCounted = state === 'settled' || (watchEnded && terms.keepsLeftovers);
  const loose = counted.filter((output) => !settlesCover.has(output.outpoint) && !output.credited);
  const creditAlone = leftoversCounted
    ? loose.filter((output) => output.confirmations >= confirmationsNeeded(output.sats)).map((output) => output.outpoint)
    : [];
  if (watchEnded && state === 'expired' && !terms.keepsLeftovers && loose.length > 0)
    problems.push(`${sumSats(loose)} of its ${terms.sats} sats were paid before the watch ended and buy nothing: refund them`);
  const creditedGone = outputs
    .filter((output) => output.credited && !cover.has(output.outpoint) && !isLive(output))
    .map((output) => output.outpoint);
  if (creditedGone.length > 0 && !terms.reversible)
    problems.push(`payments credited on their own left the chain (${creditedGone.join(', ')}) and cannot be taken back`);
  const reverseAlone = terms.reversible ? creditedGone : [];
  if (strays.length > 0)
    problems.push(
      `payments after the watch ended (${strays.join(', ')}) settle nothing and were not credited: refund or record them by hand`,
    );

  const leftoversWaiting = leftoversCounted && loose.length > creditAlone.length;
  const ledgerWork = settleWith !== null || reverse || creditAlone.length > 0 || reverseAlone.length > 0;
  return {
    state,
    paidSats,
    flags,
    settleWith,
    reverse,
    creditAlone,
    reverseAlone,
    strays,
    problems,
    closed: watchEnded && state !== 'processing' && !leftoversWaiting && !ledgerWork,
  };
}
