// CoinGecko simple price: GET /api/v3/simple/price?ids=bitcoin&vs_currencies=cad&include_last_updated_at=true →
// {bitcoin: {cad: <price as a JSON number>, last_updated_at: <unix seconds>}}; an unknown currency gives {bitcoin: {}},
// a rate limit {status: {error_code, error_message}}.
import { z } from 'zod';
import { PriceNotifierError } from './errors.js';
import type { PriceFormat } from './format.js';
import { exchangeErrorText, readPrice, readSeconds, readShape } from './read.js';

export const coingeckoFormat: PriceFormat = {
  path: (currency) => `/api/v3/simple/price?ids=bitcoin&vs_currencies=${currency.toLowerCase()}&include_last_updated_at=true`,
  parse(body, { currency, fetchedAt }) {
    if (typeof body === 'object' && body !== null && ('status' in body || 'error' in body) && !('bitcoin' in body)) {
      throw new PriceNotifierError('PRICE_NOTIFIER_SOURCE_ERROR', `CoinGecko reported: ${exchangeErrorText(body) ?? 'an error'}`);
    }
    const key = currency.toLowerCase();
    const { bitcoin } = readShape(z.looseObject({ bitcoin: z.record(z.string(), z.unknown()) }), body);
    const price = readShape(z.number(), bitcoin[key], `bitcoin.${key}`);
    const updated = readShape(z.number(), bitcoin.last_updated_at, 'bitcoin.last_updated_at');
    return {
      centsPerBtc: readPrice(`bitcoin.${key}`, price),
      at: readSeconds('bitcoin.last_updated_at', updated, fetchedAt),
    };
  },
};
