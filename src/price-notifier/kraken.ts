// Kraken public Ticker: GET /0/public/Ticker?pair=XBTCAD → {error: [], result: {XXBTZCAD: {c: ["<last price>", "<lot volume>"], …}}}.
// The result is keyed by Kraken's own pair name (XXBTZCAD for XBTCAD), not the one asked for; there is no timestamp.
import { z } from 'zod';
import { PriceNotifierError } from './errors.js';
import type { PriceFormat } from './format.js';
import { readPrice, readShape } from './read.js';

const envelope = z.looseObject({
  error: z.array(z.string()),
  result: z.record(z.string(), z.unknown()).optional(),
});
const ticker = z.looseObject({ c: z.tuple([z.string(), z.string()], z.unknown()) });

export const krakenFormat: PriceFormat = {
  path: (currency) => `/0/public/Ticker?pair=XBT${currency}`,
  parse(body, { currency, fetchedAt }) {
    const answer = readShape(envelope, body);
    // Kraken prefixes each message with its severity: E for errors, W for warnings that still carry a result.
    const errors = answer.error.filter((message) => !message.startsWith('W'));
    if (errors.length > 0) {
      throw new PriceNotifierError('PRICE_NOTIFIER_SOURCE_ERROR', `Kraken reported: ${errors.join('; ').slice(0, 200)}`);
    }
    const pairs = Object.entries(answer.result ?? {});
    if (pairs.length !== 1) {
      throw new PriceNotifierError(
        'PRICE_NOTIFIER_SOURCE_MALFORMED',
        `"result" expected exactly one pair, got ${pairs.length}${
          pairs.length > 0
            ? ` (${pairs
                .map(([key]) => key)
                .join(', ')
                .slice(0, 60)})`
            : ''
        }`,
      );
    }
    const [pair, info] = pairs[0]!;
    if (!pair.endsWith(currency)) {
      throw new PriceNotifierError(
        'PRICE_NOTIFIER_SOURCE_MALFORMED',
        `"result" holds pair ${pair.slice(0, 20)}, not one in ${currency}`,
      );
    }
    const { c } = readShape(ticker, info, `result.${pair}`);
    return { centsPerBtc: readPrice(`result.${pair}.c.0`, c[0]), at: fetchedAt };
  },
};
