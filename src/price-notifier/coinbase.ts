// Coinbase spot price: GET /v2/prices/BTC-CAD/spot → {data: {amount: "<price>", base: "BTC", currency: "CAD"}};
// errors come as {errors: [{id, message}]}. There is no timestamp.
import { z } from 'zod';
import { PriceNotifierError } from './errors.js';
import type { PriceFormat } from './format.js';
import { exchangeErrorText, readPrice, readShape, shortly } from './read.js';

const spot = z.looseObject({
  data: z.looseObject({ amount: z.string(), currency: z.string(), base: z.string().optional() }),
});

export const coinbaseFormat: PriceFormat = {
  path: (currency) => `/v2/prices/BTC-${currency}/spot`,
  parse(body, { currency, fetchedAt }) {
    if (typeof body === 'object' && body !== null && 'errors' in body) {
      throw new PriceNotifierError('PRICE_NOTIFIER_SOURCE_ERROR', `Coinbase reported: ${exchangeErrorText(body) ?? 'an error'}`);
    }
    const { data } = readShape(spot, body);
    if (data.currency !== currency) {
      throw new PriceNotifierError(
        'PRICE_NOTIFIER_SOURCE_MALFORMED',
        `"data.currency" expected ${currency}, got ${shortly(data.currency)}`,
      );
    }
    if (data.base !== undefined && data.base !== 'BTC') {
      throw new PriceNotifierError('PRICE_NOTIFIER_SOURCE_MALFORMED', `"data.base" expected BTC, got ${shortly(data.base)}`);
    }
    return { centsPerBtc: readPrice('data.amount', data.amount), at: fetchedAt };
  },
};
