// PriceNotifier: polls the configured exchange-rate sources, publishes the median of the fresh ones as retained
// state (or that there is none, and why), and answers price.quote so a rate can be locked on demand.
import { createBusClient, type BusClient } from '../auth-proxy/index.js';
import { DctrlError } from '../core/errors.js';
import { formatCents } from '../core/money.js';
import { PriceQuote, PriceRate } from '../core/messages-price.js';
import type { Service, ServiceContext } from '../core/service.js';
import { PriceNotifierError } from './errors.js';
import { decideRate, type Rate, type RateDecision, type SourceProblem, type SourceState } from './rate.js';
import { askSource } from './sources.js';

export { PriceNotifierError, PriceNotifierErrorCodes } from './errors.js';
export { decideRate, median, type Rate, type RateDecision, type SourceState } from './rate.js';
export { PRICE_FORMATS, askSource } from './sources.js';

export const SERVICE_NAME = 'price-notifier';

/** A request may make the notifier poll again, but not more often than this, so requests cannot flood the sources. */
export const ON_DEMAND_POLL_SPACING_MS = 5_000;
/** Time kept back from a request's expiry to send the answer. */
const REPLY_MARGIN_MS = 500;

export interface PriceNotifier extends Service {
  /** Polls every source now (or joins the poll already running), publishes the outcome and returns it. */
  pollNow(): Promise<RateDecision>;
  /** The rate as it stands now from the quotes held, without asking the sources. */
  current(): RateDecision;
}

export function createPriceNotifier(context: ServiceContext): PriceNotifier {
  const { config, clock } = context;
  const settings = config.priceNotifier;
  const log = context.logger.child({ service: SERVICE_NAME });
  const rules = {
    currency: settings.currency,
    staleAfterMs: settings.staleAfterMs,
    outlierPercent: settings.outlierPercent,
    minSources: settings.minSources,
  };
  const states = new Map<string, SourceState>(
    settings.sources.map((source) => [source.name, { name: source.name, kind: source.kind }]),
  );
  let bus: BusClient | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopping = new AbortController();
  let polling: Promise<RateDecision> | undefined;
  let lastPollStartedAt: number | undefined;
  let lastDecision: RateDecision | undefined;

  const current = (): RateDecision => decideRate([...states.values()], clock.now(), rules);

  const pollSource = async (source: (typeof settings.sources)[number]): Promise<void> => {
    const state = states.get(source.name)!;
    try {
      const quote = await askSource(source, { currency: settings.currency, clock, signal: stopping.signal });
      // A cached answer can be older than the one held; the newer quote stays.
      if (!state.quote || quote.at >= state.quote.at) state.quote = quote;
      if (state.failure) log.info({ source: source.name }, 'price source answers again');
      delete state.failure;
    } catch (error) {
      const failure = problemOf(error);
      if (state.failure?.code !== failure.code || state.failure.message !== failure.message) {
        log.warn({ source: source.name, code: failure.code }, `price source failed: ${failure.message}`);
      } else {
        log.debug({ source: source.name, code: failure.code }, `price source still failing: ${failure.message}`);
      }
      state.failure = failure;
    }
  };

  const publish = async (decision: RateDecision): Promise<void> => {
    if (!bus) return;
    // A rate is valid until its oldest quote goes stale, so a retained copy outliving this process is never used
    // stale; a refusal until three polls have been missed.
    const validMs = decision.available ? decision.at + settings.staleAfterMs - clock.now() : settings.pollMs * 3;
    const expiresInMs = Math.min(Math.max(validMs, 1_000), config.bus.maxStateTtlMs);
    try {
      await bus.publish(PriceRate, decision, { expiresInMs });
    } catch (error) {
      log.warn({ err: (error as Error).message }, 'could not publish the rate; the next poll publishes it again');
    }
  };

  const report = (decision: RateDecision): void => {
    const before = lastDecision;
    lastDecision = decision;
    if (decision.available) {
      const fields = { centsPerBtc: decision.centsPerBtc, currency: decision.currency, source: decision.source };
      if (!before?.available) log.info(fields, 'rate available');
      else log.debug(fields, 'rate');
      return;
    }
    if (before?.available !== false || before.code !== decision.code) {
      log.error({ code: decision.code }, `no rate is quoted: ${decision.message}`);
    }
  };

  const runPoll = async (): Promise<RateDecision> => {
    lastPollStartedAt = clock.now();
    await Promise.all(settings.sources.map(pollSource));
    const decision = current();
    report(decision);
    await publish(decision);
    return decision;
  };

  const pollNow = (): Promise<RateDecision> => {
    polling ??= runPoll().finally(() => {
      polling = undefined;
    });
    return polling;
  };

  const quote = async (request: { currency?: string; maxAgeMs?: number }, expiresAt: number): Promise<Rate> => {
    if (request.currency !== undefined && request.currency !== settings.currency) {
      throw new PriceNotifierError(
        'PRICE_NOTIFIER_CURRENCY_UNSUPPORTED',
        `asked for ${request.currency}; this PriceNotifier quotes ${settings.currency} (priceNotifier.currency)`,
      );
    }
    let decision = current();
    const tooOld = (rate: RateDecision) => rate.available && request.maxAgeMs !== undefined && rate.ageMs > request.maxAgeMs;
    if (!decision.available || tooOld(decision)) {
      const spaced = lastPollStartedAt === undefined || clock.now() - lastPollStartedAt >= ON_DEMAND_POLL_SPACING_MS;
      if (polling || spaced) {
        await settledWithin(pollNow(), expiresAt - clock.now() - REPLY_MARGIN_MS);
        decision = current();
      }
    }
    if (!decision.available) throw new PriceNotifierError(decision.code, decision.message);
    const rate = rateOf(decision);
    if (tooOld(decision)) {
      throw new PriceNotifierError(
        'PRICE_NOTIFIER_TOO_OLD',
        `the rate is ${rate.ageMs} ms old (from ${new Date(rate.at).toISOString()}), more than the ${request.maxAgeMs} ms asked for`,
      );
    }
    return rate;
  };

  return {
    name: SERVICE_NAME,
    pollNow,
    current,
    async start() {
      stopping = new AbortController();
      bus = createBusClient(context);
      await bus.start();
      await bus.respond(PriceQuote, (request, envelope) => quote(request, envelope.expiresAt ?? clock.now()));
      void pollNow();
      timer = setInterval(() => void pollNow(), settings.pollMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      stopping.abort();
      await polling?.catch(() => undefined);
      await bus?.stop();
      bus = undefined;
    },
    describe() {
      const fixed = settings.sources.find((source) => source.kind === 'fixed');
      const sources = fixed
        ? `a fixed rate of ${formatCents(fixed.centsPerBtc)} ${settings.currency}/BTC (${fixed.name}; demo only, not a market price)`
        : `the median of ${settings.sources.map((source) => `${source.name} (${source.kind})`).join(', ')}`;
      return [`price notifier: ${settings.currency} per bitcoin from ${sources}, every ${Math.round(settings.pollMs / 1000)} s`];
    },
  };
}

function rateOf(decision: Extract<RateDecision, { available: true }>): Rate {
  const { currency, centsPerBtc, at, ageMs, source, fixed, used, dropped } = decision;
  return { currency, centsPerBtc, at, ageMs, source, fixed, used, dropped };
}

function problemOf(error: unknown): SourceProblem {
  if (error instanceof DctrlError) return { code: error.code, message: error.message.slice(0, 500) };
  return { code: 'PRICE_NOTIFIER_SOURCE_MALFORMED', message: `unexpected failure: ${String(error).slice(0, 200)}` };
}

/** Waits for the work, but no longer than `ms`; the work goes on either way. */
async function settledWithin(work: Promise<unknown>, ms: number): Promise<void> {
  if (ms <= 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    work.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
