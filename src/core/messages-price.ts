// The bus contract of the PriceNotifier: exchange rates, quoted or refused.
import { z } from 'zod';
import { defineMessage, type MessageSpec } from './contract.js';

const epochMs = z.int().nonnegative();
/** Three capital letters, as the BusinessData `currency` policy writes it (CAD). */
export const currencyCode = z.string().regex(/^[A-Z]{3}$/, 'expected a three-letter currency code such as CAD');
export const priceSourceKinds = ['kraken', 'coinbase', 'bitstamp', 'coingecko', 'fixed'] as const;
const sourceKind = z.enum(priceSourceKinds);
const sourceName = z.string().min(1).max(32);
const centsPerBtc = z.int().positive();
const problem = z.strictObject({ code: z.string().min(1).max(64), message: z.string().max(500) });

/** A source whose fresh quote went into the rate; `problem` when its last poll failed but this quote is still fresh. */
const usedSource = z.strictObject({
  name: sourceName,
  kind: sourceKind,
  centsPerBtc,
  at: epochMs,
  problem: problem.optional(),
});
/** A source left out of the rate, with the code and reason (failing, stale, outlier) and its last quote if any. */
const droppedSource = z.strictObject({
  name: sourceName,
  kind: sourceKind,
  code: z.string().min(1).max(64),
  message: z.string().max(500),
  quote: z.strictObject({ centsPerBtc, at: epochMs }).optional(),
});

/**
 * A rate in integer cents of `currency` per whole bitcoin. `at` is the time of the oldest quote used, `ageMs` its
 * age when this was sent; `source` fits a ledger entry's rate source (64 characters) and starts with `fixed:` when
 * the rate is a configured constant rather than a market price.
 */
export const priceRate = z.strictObject({
  currency: currencyCode,
  centsPerBtc,
  at: epochMs,
  ageMs: z.int().nonnegative(),
  source: z.string().min(1).max(64),
  fixed: z.boolean(),
  used: z.array(usedSource).min(1).max(20),
  dropped: z.array(droppedSource).max(20),
});

export const PriceRate = defineMessage({
  type: 'price.rate',
  topic: 'dctrl/v1/price-notifier/rate',
  kind: 'state',
  issuers: ['price-notifier'],
  retained: true,
  description:
    'The bitcoin rate: the median of the fresh sources in integer cents per BTC, with its time, age and the sources used and dropped, valid until it would go stale; or, when no fresh quote remains, that there is no rate and why, source by source.',
  payload: z.discriminatedUnion('available', [
    priceRate.extend({ available: z.literal(true) }),
    z.strictObject({
      available: z.literal(false),
      currency: currencyCode,
      code: z.string().min(1).max(64),
      message: z.string().max(2000),
      dropped: z.array(droppedSource).max(20),
    }),
  ]),
});

export const PriceQuote = defineMessage({
  type: 'price.quote',
  topic: 'dctrl/v1/price-notifier/rpc/quote',
  kind: 'request',
  issuers: 'any',
  description:
    'The current rate, to lock it for an invoice or a payment; polled again first when it is older than maxAgeMs. Refused with a code (PRICE_NOTIFIER_STALE, …) naming each source’s problem when there is no fresh rate: never a made-up one.',
  payload: z.strictObject({
    currency: currencyCode.optional(),
    maxAgeMs: z.int().positive().max(86_400_000).optional(),
  }),
  reply: priceRate,
  askers: ['cli', 'server', 'chain-notifier', 'payout-mgr'],
});

export const priceMessages: readonly MessageSpec[] = [PriceRate, PriceQuote] as MessageSpec[];
