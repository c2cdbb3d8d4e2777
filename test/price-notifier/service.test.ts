// The PriceNotifier on a real bus, polling four local HTTP servers in the exchanges' formats: the median published
// as retained state, bad sources reported and left out, no rate at all when every quote is stale, and back again.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { ManualClock } from '../../src/core/clock.js';
import type { PayloadOf } from '../../src/core/contract.js';
import type { Envelope } from '../../src/core/envelope.js';
import { RemoteError } from '../../src/core/errors.js';
import { PriceQuote, PriceRate } from '../../src/core/messages-price.js';
import { createPriceNotifier, type PriceNotifier, type Rate } from '../../src/price-notifier/index.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';
import { startPriceServer, type Behaviour, type PriceServer } from './price-server.js';

type Published = PayloadOf<typeof PriceRate>;

const clock = new ManualClock(Date.UTC(2026, 0, 1, 12));
const STALE_AFTER_MS = 300_000;
const SOURCE_TIMEOUT_MS = 300;

/** Each answer is made when the request arrives, so timestamps follow the clock. */
type Answer = () => Behaviour;
const ok = {
  kraken:
    (price: string): Answer =>
    () => ({ answer: 'json', body: { error: [], result: { XXBTZCAD: { c: [price, '0.1'] } } } }),
  coinbase:
    (price: string): Answer =>
    () => ({ answer: 'json', body: { data: { amount: price, base: 'BTC', currency: 'CAD' } } }),
  coingecko:
    (price: number, ageMs = 60_000): Answer =>
    () => ({ answer: 'json', body: { bitcoin: { cad: price, last_updated_at: Math.floor((clock.now() - ageMs) / 1000) } } }),
  bitstamp:
    (price: string): Answer =>
    () => ({ answer: 'json', body: { last: price, timestamp: String(Math.floor(clock.now() / 1000)), bid: price, ask: price } }),
};
const failing: Record<'http500' | 'hang' | 'garbage' | 'http503', Answer> = {
  http500: () => ({ answer: 'raw', status: 500, text: '<h1>Internal Server Error</h1>', contentType: 'text/html' }),
  hang: () => ({ answer: 'hang' }),
  garbage: () => ({ answer: 'raw', text: '{"bitcoin": {"cad": 1312' }),
  http503: () => ({ answer: 'raw', status: 503, text: '' }),
};
const healthy = () => ({
  kraken: ok.kraken('131245.60000'),
  coinbase: ok.coinbase('131250.12'),
  coingecko: ok.coingecko(131260.45),
  bitstamp: ok.bitstamp('131001.50'),
});

let answers: Record<'kraken' | 'coinbase' | 'coingecko' | 'bitstamp', Answer>;
let server: PriceServer;
let h: Harness;
let notifier: PriceNotifier;
let cli: BusClient;
const published: { payload: Published; envelope: Envelope<Published> }[] = [];

before(async () => {
  server = await startPriceServer();
  const base = (name: keyof typeof answers) => server.source(name, () => answers[name]());
  h = await startHarness({
    clock,
    config: {
      priceNotifier: {
        currency: 'CAD',
        sources: (['kraken', 'coinbase', 'coingecko', 'bitstamp'] as const).map((kind) => ({
          kind,
          name: kind,
          baseUrl: base(kind),
          timeoutMs: SOURCE_TIMEOUT_MS,
        })),
        // Polls are driven by the test; the timer would only fire after four real minutes.
        pollMs: 240_000,
        staleAfterMs: STALE_AFTER_MS,
      },
    },
  });
  const watcher = await h.client('watcher', { extra: { sub: [PriceRate.topic] } });
  await watcher.listen(PriceRate, (payload, envelope) => void published.push({ payload, envelope }));
  cli = await h.client('cli');
  h.keeper.ensureClient('price-notifier');
  await h.vault.publishChanges();
  notifier = createPriceNotifier(await h.context('price-notifier'));
});
after(async () => {
  await notifier.stop();
  await h.stop();
  await server.close();
});

/** The next rate published after `count` earlier ones. */
async function publishedAfter(count: number): Promise<{ payload: Published; envelope: Envelope<Published> }> {
  await eventually(() => published.length > count, 'a published rate');
  return published[published.length - 1]!;
}

async function refusal(work: Promise<unknown>): Promise<RemoteError> {
  const outcome = await work.then(
    (value) => value,
    (error: unknown) => error,
  );
  assert.ok(outcome instanceof RemoteError, `expected a refusal, got ${JSON.stringify(outcome)}`);
  return outcome;
}

/** A listener that joins later, as the ChainNotifier starting after the PriceNotifier does. */
async function retainedFor(client: string): Promise<Published> {
  const late = await h.client(client, { extra: { sub: [PriceRate.topic] } });
  const seen: Published[] = [];
  await late.listen(PriceRate, (payload) => void seen.push(payload));
  await eventually(() => seen.length > 0, 'the retained rate');
  return seen[0]!;
}

test('HTTP 500, a timeout and malformed JSON are each reported and left out; the source that answers is quoted', async () => {
  answers = { kraken: failing.http500, coinbase: failing.hang, coingecko: failing.garbage, bitstamp: ok.bitstamp('131001.50') };
  await notifier.start();
  const decision = await notifier.pollNow();
  assert.ok(decision.available);
  const { payload } = await publishedAfter(0);
  assert.ok(payload.available);
  assert.equal(payload.centsPerBtc, 13_100_150);
  assert.equal(payload.source, 'single:bitstamp');
  assert.deepEqual(
    payload.used.map((source) => source.name),
    ['bitstamp'],
  );
  const reasons = Object.fromEntries(payload.dropped.map((source) => [source.name, `${source.code}: ${source.message}`]));
  assert.deepEqual(Object.keys(reasons).sort(), ['coinbase', 'coingecko', 'kraken']);
  assert.match(reasons.kraken!, /^PRICE_NOTIFIER_SOURCE_HTTP: HTTP 500 Internal Server Error$/);
  assert.match(reasons.coinbase!, /^PRICE_NOTIFIER_SOURCE_TIMEOUT: no complete answer within 300 ms$/);
  assert.match(reasons.coingecko!, /^PRICE_NOTIFIER_SOURCE_MALFORMED: the answer is not JSON/);
  const quote = (await cli.request(PriceQuote, {})) as Rate;
  assert.equal(quote.centsPerBtc, 13_100_150);
});

test('the median of the fresh quotes is published as retained state, with its time, age and sources', async () => {
  answers = healthy();
  const before = published.length;
  await notifier.pollNow();
  const { payload, envelope } = await publishedAfter(before);
  assert.ok(payload.available);
  // 1310015.0, 1312456.0, 1312501.2, 1312604.5 → the middle two averaged.
  assert.equal(payload.centsPerBtc, 13_124_786);
  assert.equal(payload.currency, 'CAD');
  assert.equal(payload.fixed, false);
  assert.equal(payload.source, 'median:kraken+coinbase+coingecko+bitstamp');
  // CoinGecko's own timestamp is a minute old: the rate is as old as its oldest quote.
  assert.equal(payload.at, clock.now() - 60_000);
  assert.equal(payload.ageMs, 60_000);
  assert.deepEqual(
    payload.used.map((source) => [source.name, source.centsPerBtc]),
    [
      ['kraken', 13_124_560],
      ['coinbase', 13_125_012],
      ['coingecko', 13_126_045],
      ['bitstamp', 13_100_150],
    ],
  );
  assert.deepEqual(payload.dropped, []);
  assert.equal(envelope.expiresAt, payload.at + STALE_AFTER_MS, 'the retained rate expires when it would go stale');
  assert.deepEqual(server.asked('kraken').at(-1), '/0/public/Ticker?pair=XBTCAD');
  const late = await retainedFor('late-listener');
  assert.ok(late.available);
  assert.equal(late.centsPerBtc, 13_124_786);
});

test('one source ten times off is dropped as an outlier and the rest decide', async () => {
  answers = { ...healthy(), coinbase: ok.coinbase('1312501.20') };
  const before = published.length;
  await notifier.pollNow();
  const { payload } = await publishedAfter(before);
  assert.ok(payload.available);
  assert.equal(payload.centsPerBtc, 13_124_560);
  assert.deepEqual(
    payload.used.map((source) => source.name),
    ['kraken', 'coingecko', 'bitstamp'],
  );
  assert.equal(payload.dropped.length, 1);
  assert.equal(payload.dropped[0]!.name, 'coinbase');
  assert.equal(payload.dropped[0]!.code, 'PRICE_NOTIFIER_SOURCE_OUTLIER');
  assert.match(payload.dropped[0]!.message, /131250120 cents\/BTC is \d+\.\d% from the median/);
  const quote = (await cli.request(PriceQuote, { currency: 'CAD' })) as Rate;
  assert.equal(quote.centsPerBtc, 13_124_560);
});

test('a source that fails while its last quote is fresh still counts, with its failure shown', async () => {
  clock.advance(30_000);
  answers = { ...healthy(), kraken: failing.http500 };
  const before = published.length;
  await notifier.pollNow();
  const { payload } = await publishedAfter(before);
  assert.ok(payload.available);
  const kraken = payload.used.find((source) => source.name === 'kraken');
  assert.ok(kraken, 'kraken is still used');
  assert.equal(kraken.at, clock.now() - 30_000);
  assert.deepEqual(kraken.problem, { code: 'PRICE_NOTIFIER_SOURCE_HTTP', message: 'HTTP 500 Internal Server Error' });
});

test('when every quote is stale, "unavailable" is published and price.quote is refused, naming each source', async () => {
  answers = { kraken: failing.http500, coinbase: failing.hang, coingecko: failing.garbage, bitstamp: failing.http503 };
  clock.advance(STALE_AFTER_MS + 60_000);
  const before = published.length;
  const decision = await notifier.pollNow();
  assert.equal(decision.available, false);
  const { payload, envelope } = await publishedAfter(before);
  assert.ok(!payload.available);
  assert.equal(payload.code, 'PRICE_NOTIFIER_STALE');
  assert.equal(envelope.expiresAt, envelope.issuedAt + 3 * 240_000);
  assert.deepEqual(
    payload.dropped.map((source) => [source.name, source.code]),
    [
      ['kraken', 'PRICE_NOTIFIER_SOURCE_STALE'],
      ['coinbase', 'PRICE_NOTIFIER_SOURCE_STALE'],
      ['coingecko', 'PRICE_NOTIFIER_SOURCE_STALE'],
      ['bitstamp', 'PRICE_NOTIFIER_SOURCE_STALE'],
    ],
  );
  assert.match(payload.message, /kraken: last quote is \d+ s old, more than 300 s; last poll: PRICE_NOTIFIER_SOURCE_HTTP/);
  assert.match(payload.message, /coinbase: .*PRICE_NOTIFIER_SOURCE_TIMEOUT/);
  assert.match(payload.message, /coingecko: .*PRICE_NOTIFIER_SOURCE_MALFORMED/);
  assert.match(payload.message, /bitstamp: .*HTTP 503/);
  const refused = await refusal(cli.request(PriceQuote, {}));
  assert.equal(refused.code, 'PRICE_NOTIFIER_STALE');
  for (const name of ['kraken', 'coinbase', 'coingecko', 'bitstamp']) assert.match(refused.message, new RegExp(`${name}: `));
  assert.ok(
    published.slice(before).every(({ payload: rate }) => !rate.available),
    'no price is published while every quote is stale',
  );
  const late = await retainedFor('late-listener-2');
  assert.equal(late.available, false, 'a listener joining now is told there is no rate, not given the old one');
});

test('when the sources come back, a quote request polls them again and the rate is published once more', async () => {
  answers = healthy();
  clock.advance(10_000);
  const before = published.length;
  const quote = (await cli.request(PriceQuote, {})) as Rate;
  assert.equal(quote.centsPerBtc, 13_124_786);
  assert.equal(quote.ageMs, 60_000);
  const { payload } = await publishedAfter(before);
  assert.ok(payload.available);
  assert.equal(payload.centsPerBtc, 13_124_786);
});

test('maxAgeMs: a rate older than asked is refreshed first, and refused with PRICE_NOTIFIER_TOO_OLD if it stays older', async () => {
  clock.advance(6_000);
  const asked = server.asked('coinbase').length;
  const refused = await refusal(cli.request(PriceQuote, { maxAgeMs: 30_000 }));
  assert.equal(refused.code, 'PRICE_NOTIFIER_TOO_OLD');
  assert.match(refused.message, /the rate is 60000 ms old .* more than the 30000 ms asked for/);
  assert.equal(server.asked('coinbase').length, asked + 1, 'the sources were asked again before refusing');
  answers = { ...healthy(), coingecko: ok.coingecko(131260.45, 10_000) };
  clock.advance(6_000);
  const fresh = (await cli.request(PriceQuote, { maxAgeMs: 30_000 })) as Rate;
  assert.equal(fresh.ageMs, 10_000);
});

test('requests cannot make it poll the sources more often than every few seconds', async () => {
  const asked = server.asked('kraken').length;
  await refusal(cli.request(PriceQuote, { maxAgeMs: 1_000 }));
  await refusal(cli.request(PriceQuote, { maxAgeMs: 1_000 }));
  assert.equal(server.asked('kraken').length, asked);
});

test('a currency this notifier does not quote is refused with its code', async () => {
  const refused = await refusal(cli.request(PriceQuote, { currency: 'USD' }));
  assert.equal(refused.code, 'PRICE_NOTIFIER_CURRENCY_UNSUPPORTED');
  assert.match(refused.message, /asked for USD; this PriceNotifier quotes CAD/);
});
