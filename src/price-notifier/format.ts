// What every price source format provides: where to ask, and how to read the answer.
import type { SourceQuote } from './read.js';

export interface FormatContext {
  /** Three capital letters, such as CAD. */
  currency: string;
  /** When the answer arrived, by the injected clock: the quote's time when the format carries none. */
  fetchedAt: number;
}

export interface PriceFormat {
  /** Path and query of the ticker for the currency, appended to the source's baseUrl. */
  path(currency: string): string;
  /**
   * The quote in a 2xx answer's JSON body.
   * @throws PriceNotifierError PRICE_NOTIFIER_SOURCE_ERROR when the body reports an error, or
   * PRICE_NOTIFIER_SOURCE_MALFORMED naming the field that does not fit the format.
   */
  parse(body: unknown, context: FormatContext): SourceQuote;
}
