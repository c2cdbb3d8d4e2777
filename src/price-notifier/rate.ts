// The rule that turns each source's last quote into one rate, or into a refusal that says why: fresh quotes only,
// outliers dropped, the median of the rest, and no rate at all when no majority of fresh quotes agrees.
import type { PriceSourceConfig } from '../core/config.js';
import type { PriceNotifierErrorCode } from './errors.js';
import type { SourceQuote } from './sources.js';

type SourceKind = PriceSourceConfig['kind'];

export interface SourceProblem {
  code: string;
  message: string;
}

/** What the notifier holds for one source: its newest good quote, and why the last poll failed, if it did. */
export interface SourceState {
  name: string;
  kind: SourceKind;
  quote?: SourceQuote;
  failure?: SourceProblem;
}

export interface RateRules {
  currency: string;
  staleAfterMs: number;
  outlierPercent: number;
  minSources: number;
}

export interface UsedSource {
  name: string;
  kind: SourceKind;
  centsPerBtc: number;
  at: number;
  problem?: SourceProblem;
}

export interface DroppedSource extends SourceProblem {
  name: string;
  kind: SourceKind;
  quote?: SourceQuote;
}

export interface Rate {
  currency: string;
  centsPerBtc: number;
  /** The time of the oldest quote used: the rate is no newer than that. */
  at: number;
  ageMs: number;
  source: string;
  fixed: boolean;
  used: UsedSource[];
  dropped: DroppedSource[];
}

export type RateDecision =
  | ({ available: true } & Rate)
  | {
      available: false;
      currency: string;
      code: Extract<
        PriceNotifierErrorCode,
        'PRICE_NOTIFIER_STALE' | 'PRICE_NOTIFIER_SOURCES_DISAGREE' | 'PRICE_NOTIFIER_TOO_FEW_SOURCES'
      >;
      message: string;
      dropped: DroppedSource[];
    };

/** The longest `source` label a ledger entry keeps. */
const SOURCE_LABEL_MAX = 64;

/** Decides the rate at `now` from what each source last gave. Pure: the same states and time give the same answer. */
export function decideRate(states: readonly SourceState[], now: number, rules: RateRules): RateDecision {
  const dropped: DroppedSource[] = [];
  const fresh: (UsedSource & { quote: SourceQuote })[] = [];
  for (const state of states) {
    if (!state.quote) {
      dropped.push({
        name: state.name,
        kind: state.kind,
        ...(state.failure ?? { code: 'PRICE_NOTIFIER_SOURCE_STALE', message: 'no quote yet' }),
      });
      continue;
    }
    const ageMs = now - state.quote.at;
    if (ageMs > rules.staleAfterMs) {
      const why = state.failure ? `; last poll: ${state.failure.code}: ${state.failure.message}` : '';
      dropped.push({
        name: state.name,
        kind: state.kind,
        code: 'PRICE_NOTIFIER_SOURCE_STALE',
        message: `last quote is ${seconds(ageMs)} old, more than ${seconds(rules.staleAfterMs)}${why}`.slice(0, 500),
        quote: state.quote,
      });
      continue;
    }
    fresh.push({
      name: state.name,
      kind: state.kind,
      centsPerBtc: state.quote.centsPerBtc,
      at: state.quote.at,
      quote: state.quote,
      ...(state.failure ? { problem: state.failure } : {}),
    });
  }

  if (fresh.length === 0) {
    return refuse(rules, dropped, 'PRICE_NOTIFIER_STALE', `no fresh quote from any source: ${summary(dropped)}`);
  }

  const middle = median(fresh.map((quote) => quote.centsPerBtc));
  const agreeing: typeof fresh = [];
  for (const quote of fresh) {
    const offPercent = (Math.abs(quote.centsPerBtc - middle) * 100) / middle;
    if (offPercent <= rules.outlierPercent) {
      agreeing.push(quote);
      continue;
    }
    dropped.push({
      name: quote.name,
      kind: quote.kind,
      code: 'PRICE_NOTIFIER_SOURCE_OUTLIER',
      message: `${quote.centsPerBtc} cents/BTC is ${offPercent.toFixed(1)}% from the median ${Math.round(middle)} of ${fresh.length} fresh quotes (at most ${rules.outlierPercent}%)`,
      quote: quote.quote,
    });
  }

  // With no majority within the band there is no telling which side is right (two sources far apart, or a spread
  // market): quoting either would be a guess.
  if (agreeing.length * 2 <= fresh.length) {
    return refuse(
      rules,
      dropped,
      'PRICE_NOTIFIER_SOURCES_DISAGREE',
      `${fresh.length} fresh quotes but no majority within ${rules.outlierPercent}% of their median: ${summary(dropped)}`,
    );
  }
  if (agreeing.length < rules.minSources) {
    return refuse(
      rules,
      dropped,
      'PRICE_NOTIFIER_TOO_FEW_SOURCES',
      `${agreeing.length} source${agreeing.length === 1 ? '' : 's'} agree, minSources is ${rules.minSources}${dropped.length ? `: ${summary(dropped)}` : ''}`,
    );
  }

  const used = agreeing.map(({ quote: _quote, ...source }) => source);
  const at = Math.min(...used.map((source) => source.at));
  const fixed = used.some((source) => source.kind === 'fixed');
  return {
    available: true,
    currency: rules.currency,
    // Two middle quotes average to a half cent at most; rounding it up is as good as down, and deterministic.
    centsPerBtc: Math.round(median(used.map((source) => source.centsPerBtc))),
    at,
    ageMs: Math.max(0, now - at),
    source: sourceLabel(used, fixed),
    fixed,
    used,
    dropped,
  };
}

/** The middle value, or the mean of the two middle ones. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('the median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const half = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[half]! : (sorted[half - 1]! + sorted[half]!) / 2;
}

/** `fixed:demo-fixed`, `median:kraken+coinbase+coingecko`, or `median:5 sources` when the names do not fit. */
function sourceLabel(used: readonly UsedSource[], fixed: boolean): string {
  const prefix = fixed ? 'fixed:' : used.length === 1 ? 'single:' : 'median:';
  const named = prefix + used.map((source) => source.name).join('+');
  return named.length <= SOURCE_LABEL_MAX ? named : `${prefix}${used.length} sources`;
}

function refuse(
  rules: RateRules,
  dropped: DroppedSource[],
  code: Extract<RateDecision, { available: false }>['code'],
  message: string,
): RateDecision {
  return { available: false, currency: rules.currency, code, message: message.slice(0, 2000), dropped };
}

function summary(dropped: readonly DroppedSource[]): string {
  return dropped.map((source) => `${source.name}: ${source.message}`).join('; ');
}

function seconds(ms: number): string {
  return ms > 3_600_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;
}
