// Asks one configured source for a quote: the fixed rate as configured, or a public ticker over HTTP in its format.
import type { Clock } from '../core/clock.js';
import type { PriceSourceConfig } from '../core/config.js';
import { bitstampFormat } from './bitstamp.js';
import { coinbaseFormat } from './coinbase.js';
import { coingeckoFormat } from './coingecko.js';
import type { PriceFormat } from './format.js';
import { fetchJson } from './http.js';
import { krakenFormat } from './kraken.js';
import type { SourceQuote } from './read.js';

export type { SourceQuote } from './read.js';
export type { PriceFormat } from './format.js';

export const PRICE_FORMATS: Record<Exclude<PriceSourceConfig['kind'], 'fixed'>, PriceFormat> = {
  kraken: krakenFormat,
  coinbase: coinbaseFormat,
  bitstamp: bitstampFormat,
  coingecko: coingeckoFormat,
};

export interface AskOptions {
  currency: string;
  clock: Clock;
  signal: AbortSignal;
}

/**
 * The source's quote now.
 * @throws PriceNotifierError PRICE_NOTIFIER_SOURCE_* saying why there is none.
 */
export async function askSource(source: PriceSourceConfig, { currency, clock, signal }: AskOptions): Promise<SourceQuote> {
  if (source.kind === 'fixed') return { centsPerBtc: source.centsPerBtc, at: clock.now() };
  const format = PRICE_FORMATS[source.kind];
  const body = await fetchJson(source.baseUrl.replace(/\/+$/, '') + format.path(currency), {
    timeoutMs: source.timeoutMs,
    signal,
  });
  return format.parse(body, { currency, fetchedAt: clock.now() });
}
