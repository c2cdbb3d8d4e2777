// PriceNotifier error codes: why a source gave no usable quote, and why no rate is quoted.
import { errorClass } from '../core/errors.js';

export const PriceNotifierErrorCodes = {
  PRICE_NOTIFIER_STALE:
    'No source has a fresh quote (each one failing, or its last quote older than priceNotifier.staleAfterMs), so no rate is quoted; the message names each source and its problem. Fix the sources (network, base URL, pair); the rate is published again at the first poll that gets fresh quotes.',
  PRICE_NOTIFIER_SOURCES_DISAGREE:
    'There are fresh quotes, but no majority of them lies within priceNotifier.outlierPercent of their median (with two sources: they are too far apart to tell which is wrong), so no rate is quoted. Check which source is off; add a third source so one wrong source can be outvoted.',
  PRICE_NOTIFIER_TOO_FEW_SOURCES:
    'Fewer sources agree than priceNotifier.minSources asks for, so no rate is quoted; the message names the ones missing and why.',
  PRICE_NOTIFIER_TOO_OLD:
    'The rate is older than the maxAgeMs the request allows, and polling again did not give a fresher one in time. Ask again later, or allow an older rate.',
  PRICE_NOTIFIER_CURRENCY_UNSUPPORTED:
    'The request asks for a currency this PriceNotifier does not quote (priceNotifier.currency); point it at the space currency.',
  PRICE_NOTIFIER_SOURCE_HTTP:
    'A price source answered with an HTTP status other than 2xx; the message has the status and what the source said.',
  PRICE_NOTIFIER_SOURCE_TIMEOUT:
    'A price source did not answer within its timeoutMs; check the network, or give the source a longer timeout.',
  PRICE_NOTIFIER_SOURCE_UNREACHABLE:
    'A price source could not be reached (connection refused, DNS, TLS); check its baseUrl and the network.',
  PRICE_NOTIFIER_SOURCE_MALFORMED:
    'A price source answered with something that is not its documented format (not JSON, a missing or wrong field, a price that is not a positive decimal, a time in the future, too large); the message names the field.',
  PRICE_NOTIFIER_SOURCE_ERROR:
    'A price source answered in its format but reported an error itself (an unknown pair, a rate limit); the message quotes it.',
  PRICE_NOTIFIER_SOURCE_STALE:
    'A source’s last good quote is older than priceNotifier.staleAfterMs, so it is not used; the message says how old and why it was not refreshed.',
  PRICE_NOTIFIER_SOURCE_OUTLIER:
    'A source’s quote lies more than priceNotifier.outlierPercent from the median of the fresh quotes, so it is not used; the message has both prices.',
} as const;

export type PriceNotifierErrorCode = keyof typeof PriceNotifierErrorCodes;

export const PriceNotifierError = errorClass('PriceNotifierError', PriceNotifierErrorCodes);
export type PriceNotifierError = InstanceType<typeof PriceNotifierError>;
