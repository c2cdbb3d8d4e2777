// Bitstamp ticker: GET /api/v2/ticker/btccad/ → {last: "<price>", timestamp: "<unix seconds>", bid, ask, vwap, …}, all
// strings; errors come as {status: "error", reason, code}. Bitstamp lists few fiat pairs: it fits a space in USD, EUR
// or GBP, and answers 404 for a pair it does not list.
import { z } from 'zod';
import { PriceNotifierError } from './errors.js';
import type { PriceFormat } from './format.js';
import { exchangeErrorText, readPrice, readSeconds, readShape } from './read.js';

const ticker = z.looseObject({ last: z.string(), timestamp: z.string() });

export const bitstampFormat: PriceFormat = {
  path: (currency) => `/api/v2/ticker/btc${currency.toLowerCase()}/`,
  parse(body, { fetchedAt }) {
    if (typeof body === 'object' && body !== null && (body as { status?: unknown }).status === 'error') {
      throw new PriceNotifierError('PRICE_NOTIFIER_SOURCE_ERROR', `Bitstamp reported: ${exchangeErrorText(body) ?? 'an error'}`);
    }
    const { last, timestamp } = readShape(ticker, body);
    const centsPerBtc = readPrice('last', last);
    return { centsPerBtc, at: readSeconds('timestamp', timestamp, fetchedAt) };
  },
};
