// Reading a source's answer: its fields checked one by one, each failure naming the field and what it expected.
import { z } from 'zod';
import { decimalToCents } from '../core/money.js';
import { PriceNotifierError } from './errors.js';

/** A usable quote from one source: integer cents per whole bitcoin, and when that price held. */
export interface SourceQuote {
  centsPerBtc: number;
  at: number;
}

/** A source's clock may run a little ahead of ours; further than this, the time is misread (ms taken for s). */
export const FUTURE_ALLOWANCE_MS = 120_000;
/** Above any fiat price of a bitcoin (10 trillion units of the currency): a misread field, not a price. */
export const MAX_CENTS_PER_BTC = 1e15;

/**
 * The part of a body a format needs, checked with a zod schema; `at` names where in the body it sits.
 * @throws PriceNotifierError PRICE_NOTIFIER_SOURCE_MALFORMED naming the first fields that do not fit.
 */
export function readShape<T>(schema: z.ZodType<T>, body: unknown, at?: string): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issues = result.error.issues
    .slice(0, 3)
    .map((issue) => `"${[...(at === undefined ? [] : [at]), ...issue.path].join('.') || '(root)'}": ${issue.message}`)
    .join('; ');
  throw new PriceNotifierError('PRICE_NOTIFIER_SOURCE_MALFORMED', `not the expected format: ${issues}`);
}

/**
 * A price field (decimal text or a JSON number) → cents per bitcoin.
 * @throws PriceNotifierError PRICE_NOTIFIER_SOURCE_MALFORMED naming the field and a short form of what it held.
 */
export function readPrice(field: string, value: string | number): number {
  const cents = decimalToCents(value);
  if (cents === undefined || cents === 0 || cents > MAX_CENTS_PER_BTC) {
    throw new PriceNotifierError(
      'PRICE_NOTIFIER_SOURCE_MALFORMED',
      `"${field}" expected a positive price per bitcoin written as a decimal, got ${shortly(value)}`,
    );
  }
  return cents;
}

/**
 * A source's own timestamp in Unix seconds → milliseconds, never later than when we fetched it.
 * @throws PriceNotifierError PRICE_NOTIFIER_SOURCE_MALFORMED when it is not whole seconds or lies in the future.
 */
export function readSeconds(field: string, value: string | number, fetchedAt: number): number {
  const text = String(value);
  if (!/^\d{1,11}$/.test(text)) {
    throw new PriceNotifierError('PRICE_NOTIFIER_SOURCE_MALFORMED', `"${field}" expected Unix seconds, got ${shortly(value)}`);
  }
  const at = Number(text) * 1000;
  if (at > fetchedAt + FUTURE_ALLOWANCE_MS) {
    throw new PriceNotifierError(
      'PRICE_NOTIFIER_SOURCE_MALFORMED',
      `"${field}" is ${Math.round((at - fetchedAt) / 1000)} s in the future (${new Date(at).toISOString()}); the source clock or the field is wrong`,
    );
  }
  return Math.min(at, fetchedAt);
}

/** What a field held, short enough for a log line and free of control characters. */
export function shortly(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 40 ? `${clean.slice(0, 40)}…` : clean;
}

/**
 * The error an exchange wrote in a JSON body, in any of the shapes these APIs use: Kraken `error: ["EQuery:…"]`,
 * Coinbase `errors: [{message}]`, CoinGecko `status.error_message` or `error`, Bitstamp `reason`.
 */
export function exchangeErrorText(body: unknown): string | undefined {
  const found = errorShapes.safeParse(body);
  if (!found.success) return undefined;
  const { error, errors, status, reason, message } = found.data;
  const texts = [
    ...(typeof error === 'string' ? [error] : (error ?? [])),
    ...(errors ?? []).map((entry) => entry.message ?? entry.id ?? ''),
    ...(typeof status === 'object' && status?.error_message ? [status.error_message] : []),
    ...(typeof reason === 'string' ? [reason] : []),
    ...(typeof message === 'string' ? [message] : []),
  ].filter((text) => text.length > 0);
  if (texts.length === 0) return undefined;
  return shortText(texts.join('; '), 200);
}

const errorShapes = z.looseObject({
  error: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .catch(undefined),
  errors: z
    .array(z.looseObject({ id: z.string().optional(), message: z.string().optional() }))
    .optional()
    .catch(undefined),
  status: z
    .union([z.string(), z.looseObject({ error_message: z.string().optional() })])
    .optional()
    .catch(undefined),
  reason: z.unknown().optional(),
  message: z.unknown().optional(),
});

function shortText(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
