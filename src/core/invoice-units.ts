// How many of a product one settled invoice bought: the same count for the vending machine (BusinessMgr) and for
// the ledger (ChainNotifier), so every can that leaves the machine is a sale and no sale is a donation.

/** At most this many of a product for one invoice (a vend command's count limit). */
export const MAX_UNITS_PER_INVOICE = 20;

/** Cents `sats` are worth at `centsPerBtc`, rounded down; exact for any sats and rate. */
export function centsWorth(sats: number, centsPerBtc: number): bigint {
  return (BigInt(sats) * BigInt(centsPerBtc)) / 100_000_000n;
}

/**
 * The units a product invoice's settling payment paid for: its worth at the invoice's locked rate over the invoice
 * amount (one unit), at least one (it settled, perhaps a little short) and at most MAX_UNITS_PER_INVOICE.
 */
export function unitsPaid(paidSats: number, centsPerBtc: number, unitCents: number): number {
  if (unitCents <= 0) return 1;
  const units = centsWorth(paidSats, centsPerBtc) / BigInt(unitCents);
  if (units < 1n) return 1;
  return units > BigInt(MAX_UNITS_PER_INVOICE) ? MAX_UNITS_PER_INVOICE : Number(units);
}
