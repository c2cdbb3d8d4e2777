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
  issuers: ['chain-notifier'],
  description:
    'A payment to a watched address changed: seen in the mempool, mined, confirmed (credited to the ledger), reorged out of the best chain, or replaced by a double spend.',
  payload: payment,
});

export const ChainAlarm = defineMessage({
  type: 'chain.alarm',
  topic: 'dctrl/v1/chain-notifier/alarm',
  kind: 'event',
  issuers: ['chain-notifier'],
  description:
    'Something an operator must look at: a reorg deeper than the limit (the notifier stops), the node unreachable, or a payment that cannot be credited (no rate); and when it clears.',
  payload: z.strictObject({ code: z.string().min(1).max(64), message: z.string().max(2000), cleared: z.boolean() }),
});

export const DepositAddress = defineMessage({
  type: 'chain-notifier.deposit-address',
  topic: 'dctrl/v1/chain-notifier/rpc/deposit-address',
  kind: 'request',
  issuers: 'any',
  description:
    'A member’s bitcoin deposit address (the same every time; derived from the space’s watch-only key) and its BIP21 URI.',
  payload: z.strictObject({ memberId }),
  reply: z.strictObject({ memberId, address: z.string(), index: z.int().nonnegative(), uri: z.string() }),
});

export const ChainPayments = defineMessage({
  type: 'chain-notifier.payments',
  topic: 'dctrl/v1/chain-notifier/rpc/payments',
  kind: 'request',
  issuers: 'any',
  description: 'The bitcoin payments to one member’s address (or all, newest last, at most 200), as they stand.',
  payload: z.strictObject({ memberId: memberId.optional() }),
  reply: z.strictObject({ payments: z.array(payment.omit({ event: true })) }),
});

export const chainMessages: readonly MessageSpec[] = [ChainPayment, ChainAlarm, DepositAddress, ChainPayments] as MessageSpec[];
