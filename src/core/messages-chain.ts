// The bus contract of the bitcoin side: the ChainNotifier's payments, alarms and deposit addresses.
import { z } from 'zod';
import { defineMessage, type MessageSpec } from './contract.js';

const memberId = z.string().min(1).max(40);
const txid = z.string().regex(/^[0-9a-f]{64}$/);

const payment = z.strictObject({
  /** seen (mempool), mined (in a block), confirmed (enough confirmations: credited), reorged, replaced. */
  event: z.enum(['seen', 'mined', 'confirmed', 'reorged', 'replaced']),
  txid,
  vout: z.int().nonnegative(),
  address: z.string().max(100),
  sats: z.int().nonnegative(),
  ownerKind: z.enum(['member', 'invoice', 'unassigned']),
  ownerId: z.string().max(64).nullable(),
  state: z.enum(['seen', 'confirmed', 'reorged', 'replaced']),
  confirmations: z.int().nonnegative(),
  requiredConfirmations: z.int().nonnegative(),
  blockHeight: z.int().nonnegative().nullable(),
  credited: z.boolean(),
});

export const ChainPayment = defineMessage({
  type: 'chain.payment',
  topic: 'dctrl/v1/chain-notifier/payment',
  kind: 'event',
  sealed: { to: ['server'] },
  issuers: ['chain-notifier'],
  description:
    'A payment to a watched address changed: seen in the mempool, mined, confirmed (credited to the ledger), reorged out of the best chain, or replaced by a double spend.',
  payload: payment,
});

export const ChainAlarm = defineMessage({
  type: 'chain.alarm',
  topic: 'dctrl/v1/chain-notifier/alarm',
  kind: 'event',
  // Its message may name a member, an outpoint and an amount; the Server's live view is its only reader.
  sealed: { to: ['server'] },
  issuers: ['chain-notifier'],
  description:
    'Something an operator must look at: a reorg deeper than the limit (the notifier stops), the node unreachable, or a payment that cannot be credited (no rate); and when it clears.',
  payload: z.strictObject({ code: z.string().min(1).max(64), message: z.string().max(2000), cleared: z.boolean() }),
});

export const DepositAddress = defineMessage({
  type: 'chain-notifier.deposit-address',
  topic: 'dctrl/v1/chain-notifier/rpc/deposit-address',
  kind: 'request',
  sealed: { reply: true },
  issuers: 'any',
  description:
    'A member’s bitcoin deposit address (the same every time; derived from the space’s watch-only key) and its BIP21 URI.',
  payload: z.strictObject({ memberId }),
  reply: z.strictObject({ memberId, address: z.string(), index: z.int().nonnegative(), uri: z.string() }),
  askers: ['cli', 'server', 'member-mail'],
});

export const ChainPayments = defineMessage({
  type: 'chain-notifier.payments',
  topic: 'dctrl/v1/chain-notifier/rpc/payments',
  kind: 'request',
  sealed: { reply: true },
  issuers: 'any',
  description: 'The bitcoin payments to one member’s address (or all, newest last, at most 200), as they stand.',
  payload: z.strictObject({ memberId: memberId.optional() }),
  reply: z.strictObject({ payments: z.array(payment.omit({ event: true })) }),
  askers: ['cli', 'server'],
});

const invoiceId = z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'expected an invoice id (26 letters and digits, a ULID)');
export const invoiceStates = ['new', 'processing', 'settled', 'expired', 'invalid'] as const;
const invoiceState = z.enum(invoiceStates);
const epochMs = z.int().nonnegative();

/**
 * An invoice as it stands, without its QR codes. `sats` is `cents` at the locked `rate`, rounded up to the sat;
 * `paidSats` counts the payments to its address that are in the mempool or a block and arrived before `watchUntil`.
 */
const invoiceSummary = z.strictObject({
  id: invoiceId,
  state: invoiceState,
  cents: z.int().positive(),
  currency: z.string().length(3),
  sats: z.int().positive(),
  rate: z.strictObject({ centsPerBtc: z.int().positive(), source: z.string().min(1).max(64), at: epochMs }),
  address: z.string().max(100),
  /** BIP21: bitcoin:<address>?amount=<BTC>&label=…&message=…, percent-encoded. */
  uri: z.string().max(1_000),
  memberId: memberId.nullable(),
  product: z.string().max(64).nullable(),
  memo: z.string().max(140).nullable(),
  createdAt: epochMs,
  expiresAt: epochMs,
  watchUntil: epochMs,
  settledAt: epochMs.nullable(),
  paidSats: z.int().nonnegative(),
  /** The sats of the payments that settled it (what its sale or credit was booked from); null until then. */
  settledSats: z.int().nonnegative().nullable(),
  /** partial: paid less than sats; over: paid more; late: a payment arrived after expiresAt. */
  flags: z.strictObject({ partial: z.boolean(), over: z.boolean(), late: z.boolean() }),
});
/** With the URI as a QR code: an SVG document, and a PNG image in base64. */
const invoiceWithQr = invoiceSummary.extend({ qrSvg: z.string().max(20_000), qrPng: z.string().max(20_000) });

export const InvoiceCreate = defineMessage({
  type: 'chain-notifier.invoice.create',
  topic: 'dctrl/v1/chain-notifier/rpc/invoice-create',
  kind: 'request',
  sealed: { to: 'responder', reply: true },
  issuers: 'any',
  description:
    'An invoice for an amount in the space currency, for a member, a product or a donation: the rate locked now, a fresh address, its BIP21 URI and QR code (SVG, PNG). Only invoice creators; a repeated idempotencyKey returns the same invoice.',
  payload: z.strictObject({
    cents: z.int().positive().max(1_000_000_000),
    memo: z.string().min(1).max(140).optional(),
    memberId: memberId.optional(),
    product: z.string().min(1).max(64).optional(),
    idempotencyKey: z.string().min(1).max(64).optional(),
  }),
  reply: z.strictObject({ invoice: invoiceWithQr }),
  askers: ['cli', 'server'],
});

export const InvoiceGet = defineMessage({
  type: 'chain-notifier.invoice.get',
  topic: 'dctrl/v1/chain-notifier/rpc/invoice-get',
  kind: 'request',
  sealed: { reply: true },
  issuers: 'any',
  description: 'One invoice as it stands, with its QR code; for invoice creators and address readers.',
  payload: z.strictObject({ id: invoiceId }),
  reply: z.strictObject({ invoice: invoiceWithQr }),
  askers: ['cli', 'server'],
});

export const InvoiceList = defineMessage({
  type: 'chain-notifier.invoice.list',
  topic: 'dctrl/v1/chain-notifier/rpc/invoice-list',
  kind: 'request',
  sealed: { reply: true },
  issuers: 'any',
  description:
    'The newest invoices (at most 50), optionally only one member’s or in one state, without QR codes; for invoice creators and address readers.',
  payload: z.strictObject({
    memberId: memberId.optional(),
    state: invoiceState.optional(),
    limit: z.int().positive().max(50).optional(),
  }),
  reply: z.strictObject({ invoices: z.array(invoiceSummary) }),
  askers: ['cli', 'server', 'business-mgr'],
});

export const ChainInvoice = defineMessage({
  type: 'chain.invoice',
  topic: 'dctrl/v1/chain-notifier/invoice',
  kind: 'event',
  sealed: { to: ['business-mgr', 'server'] },
  issuers: ['chain-notifier'],
  description:
    'An invoice was made or changed: its state (new, processing, settled, expired, invalid), what was paid and its partial, over and late flags.',
  payload: invoiceSummary.extend({ previousState: invoiceState.nullable() }),
});

export const chainMessages: readonly MessageSpec[] = [
  ChainPayment,
  ChainAlarm,
  DepositAddress,
  ChainPayments,
  InvoiceCreate,
  InvoiceGet,
  InvoiceList,
  ChainInvoice,
] as MessageSpec[];
