// The rate rule alone: fresh quotes only, outliers out, the median of the rest, and refusals that say why.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideRate, median, type RateDecision, type SourceState } from '../../src/price-notifier/index.js';

const NOW = Date.UTC(2026, 0, 1);
const RULES = { currency: 'CAD', staleAfterMs: 300_000, outlierPercent: 10, minSources: 1 };

function live(name: string, centsPerBtc: number, ageMs = 0, failure?: SourceState['failure']): SourceState {
  return { name, kind: 'kraken', quote: { centsPerBtc, at: NOW - ageMs }, ...(failure ? { failure } : {}) };
}

function available(decision: RateDecision): Extract<RateDecision, { available: true }> {
  assert.ok(decision.available, `expected a rate, got ${decision.available ? '' : `${decision.code}: ${decision.message}`}`);
  return decision;
}

function refused(decision: RateDecision): Extract<RateDecision, { available: false }> {
  assert.ok(!decision.available, `expected no rate, got ${decision.available ? decision.centsPerBtc : ''}`);
  return decision;
}

test('the median of three fresh quotes, timed by the oldest one used', () => {
  const rate = available(
    decideRate([live('a', 13_124_560, 0), live('b', 13_125_012, 30_000), live('c', 13_126_045, 60_000)], NOW, RULES),
  );
  assert.equal(rate.centsPerBtc, 13_125_012);
  assert.equal(rate.at, NOW - 60_000);
  assert.equal(rate.ageMs, 60_000);
  assert.equal(rate.source, 'median:a+b+c');
  assert.equal(rate.fixed, false);
  assert.deepEqual(
    rate.used.map((source) => source.name),
    ['a', 'b', 'c'],
  );
  assert.deepEqual(rate.dropped, []);
});

test('an even number of quotes averages the middle two, rounding a half cent up', () => {
  assert.equal(median([4, 1, 3, 2]), 2.5);
  const rate = available(decideRate([live('a', 100_001), live('b', 100_002)], NOW, RULES));
  assert.equal(rate.centsPerBtc, 100_002);
});

test('one source ten times off is dropped as an outlier and named with both prices', () => {
  const rate = available(decideRate([live('a', 13_124_560), live('b', 131_250_120), live('c', 13_126_045)], NOW, RULES));
  assert.equal(rate.centsPerBtc, 13_125_303);
  assert.deepEqual(
    rate.used.map((source) => source.name),
    ['a', 'c'],
  );
  assert.equal(rate.dropped.length, 1);
  assert.equal(rate.dropped[0]!.name, 'b');
  assert.equal(rate.dropped[0]!.code, 'PRICE_NOTIFIER_SOURCE_OUTLIER');
  assert.match(rate.dropped[0]!.message, /131250120 cents\/BTC is 899\.9% from the median 13126045 of 3 fresh quotes/);
  assert.equal(rate.dropped[0]!.quote?.centsPerBtc, 131_250_120);
});

test('one source ten times too low is dropped the same way', () => {
  const rate = available(decideRate([live('a', 13_124_560), live('b', 1_312_501), live('c', 13_126_045)], NOW, RULES));
  assert.deepEqual(
    rate.dropped.map((source) => source.name),
    ['b'],
  );
});

test('a quote just inside the band is kept, one just outside is dropped', () => {
  const inside = available(decideRate([live('a', 100_000), live('b', 100_000), live('c', 110_000)], NOW, RULES));
  assert.equal(inside.used.length, 3);
  const outside = available(decideRate([live('a', 100_000), live('b', 100_000), live('c', 110_001)], NOW, RULES));
  assert.deepEqual(
    outside.dropped.map((source) => source.name),
    ['c'],
  );
});

test('two sources too far apart to tell which is wrong: no rate, rather than a guess', () => {
  const decision = refused(decideRate([live('a', 13_124_560), live('b', 131_245_600)], NOW, RULES));
  assert.equal(decision.code, 'PRICE_NOTIFIER_SOURCES_DISAGREE');
  assert.match(decision.message, /2 fresh quotes but no majority within 10% of their median/);
  assert.deepEqual(
    decision.dropped.map((source) => source.code),
    ['PRICE_NOTIFIER_SOURCE_OUTLIER', 'PRICE_NOTIFIER_SOURCE_OUTLIER'],
  );
});

test('two sources a little apart are both kept: each is within the band of their midpoint', () => {
  const rate = available(decideRate([live('a', 100_000), live('b', 115_000)], NOW, RULES));
  assert.equal(rate.centsPerBtc, 107_500);
});

test('half the fresh quotes far off is no majority either', () => {
  const decision = refused(
    decideRate([live('a', 100_000), live('b', 101_000), live('c', 50_000), live('d', 200_000)], NOW, RULES),
  );
  assert.equal(decision.code, 'PRICE_NOTIFIER_SOURCES_DISAGREE');
});

test('stale quotes are never used; when all are stale there is no rate, and each source says why', () => {
  const states: SourceState[] = [
    live('a', 13_124_560, 300_001, { code: 'PRICE_NOTIFIER_SOURCE_HTTP', message: 'HTTP 500 Internal Server Error' }),
    live('b', 13_125_012, 600_000, { code: 'PRICE_NOTIFIER_SOURCE_TIMEOUT', message: 'no complete answer within 2000 ms' }),
    { name: 'c', kind: 'coingecko', failure: { code: 'PRICE_NOTIFIER_SOURCE_MALFORMED', message: 'the answer is not JSON' } },
  ];
  const decision = refused(decideRate(states, NOW, RULES));
  assert.equal(decision.code, 'PRICE_NOTIFIER_STALE');
  assert.deepEqual(
    decision.dropped.map((source) => [source.name, source.code]),
    [
      ['a', 'PRICE_NOTIFIER_SOURCE_STALE'],
      ['b', 'PRICE_NOTIFIER_SOURCE_STALE'],
      ['c', 'PRICE_NOTIFIER_SOURCE_MALFORMED'],
    ],
  );
  assert.match(decision.message, /a: last quote is 300 s old, more than 300 s; last poll: PRICE_NOTIFIER_SOURCE_HTTP: HTTP 500/);
  assert.match(decision.message, /b: last quote is 600 s old/);
  assert.match(decision.message, /c: the answer is not JSON/);
});

test('a quote exactly staleAfterMs old is still fresh; one millisecond more is not', () => {
  available(decideRate([live('a', 100_000, 300_000)], NOW, RULES));
  refused(decideRate([live('a', 100_000, 300_001)], NOW, RULES));
});

test('a source whose last poll failed still counts while its earlier quote is fresh, with the failure shown', () => {
  const rate = available(
    decideRate(
      [live('a', 100_000, 120_000, { code: 'PRICE_NOTIFIER_SOURCE_HTTP', message: 'HTTP 502 Bad Gateway' })],
      NOW,
      RULES,
    ),
  );
  assert.deepEqual(rate.used[0]!.problem, { code: 'PRICE_NOTIFIER_SOURCE_HTTP', message: 'HTTP 502 Bad Gateway' });
  assert.equal(rate.source, 'single:a');
});

test('before any poll there is no quote, and no rate', () => {
  const decision = refused(decideRate([{ name: 'a', kind: 'kraken' }], NOW, RULES));
  assert.equal(decision.code, 'PRICE_NOTIFIER_STALE');
  assert.match(decision.message, /a: no quote yet/);
});

test('fewer agreeing sources than minSources: no rate', () => {
  const decision = refused(decideRate([live('a', 100_000), { name: 'b', kind: 'coinbase' }], NOW, { ...RULES, minSources: 2 }));
  assert.equal(decision.code, 'PRICE_NOTIFIER_TOO_FEW_SOURCES');
  assert.match(decision.message, /1 source agree, minSources is 2: b: no quote yet/);
});

test('a fixed rate is labelled as fixed', () => {
  const rate = available(
    decideRate([{ name: 'demo-fixed', kind: 'fixed', quote: { centsPerBtc: 13_500_000, at: NOW } }], NOW, RULES),
  );
  assert.equal(rate.fixed, true);
  assert.equal(rate.source, 'fixed:demo-fixed');
});

test('a source label too long for a ledger entry names the count instead', () => {
  const names = ['kraken-toronto-mirror', 'coinbase-eu-mirror', 'coingecko-pro-account', 'bitstamp-backup'];
  const rate = available(
    decideRate(
      names.map((name) => live(name, 100_000)),
      NOW,
      RULES,
    ),
  );
  assert.equal(rate.source, 'median:4 sources');
});

test('a quote stamped later than now (a clock set back) has age zero, not a negative one', () => {
  const rate = available(decideRate([live('a', 100_000, -5_000)], NOW, RULES));
  assert.equal(rate.ageMs, 0);
});
