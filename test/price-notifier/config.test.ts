// The priceNotifier config: a fixed demo rate by default, real sources from the file, and every bad setting named.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/core/config.js';

test('the default is one fixed demo rate in CAD, polled every minute, stale after five', () => {
  const { priceNotifier } = loadConfig();
  assert.equal(priceNotifier.currency, 'CAD');
  assert.deepEqual(priceNotifier.sources, [{ kind: 'fixed', name: 'demo-fixed', centsPerBtc: 13_500_000 }]);
  assert.equal(priceNotifier.pollMs, 60_000);
  assert.equal(priceNotifier.staleAfterMs, 300_000);
  assert.equal(priceNotifier.outlierPercent, 10);
  assert.equal(priceNotifier.minSources, 1);
});

test('live sources get their exchange as base URL and a 5 s timeout unless told otherwise; JSON works from env', () => {
  const sources = [
    { kind: 'kraken', name: 'kraken' },
    { kind: 'coinbase', name: 'coinbase', timeoutMs: 2_000 },
    { kind: 'coingecko', name: 'gecko', baseUrl: 'https://pro-api.coingecko.com' },
  ];
  const { priceNotifier } = loadConfig({ env: { DCTRL_PRICE_NOTIFIER__SOURCES: JSON.stringify(sources) } });
  assert.deepEqual(priceNotifier.sources, [
    { kind: 'kraken', name: 'kraken', baseUrl: 'https://api.kraken.com', timeoutMs: 5_000 },
    { kind: 'coinbase', name: 'coinbase', baseUrl: 'https://api.coinbase.com', timeoutMs: 2_000 },
    { kind: 'coingecko', name: 'gecko', baseUrl: 'https://pro-api.coingecko.com', timeoutMs: 5_000 },
  ]);
});

test('every bad price setting is named in one error', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ 'priceNotifier.currency': 'cad' }, /"priceNotifier\.currency": expected a three-letter currency code/],
    [
      {
        'priceNotifier.sources': [
          { kind: 'kraken', name: 'a' },
          { kind: 'fixed', name: 'b', centsPerBtc: 1 },
        ],
      },
      /"priceNotifier\.sources": a fixed source must be the only source/,
    ],
    [
      {
        'priceNotifier.sources': [
          { kind: 'kraken', name: 'a' },
          { kind: 'coinbase', name: 'a' },
        ],
      },
      /"priceNotifier\.sources": source names must differ; repeated: a/,
    ],
    [{ 'priceNotifier.pollMs': 300_000 }, /"priceNotifier\.pollMs": must be less than staleAfterMs/],
    [{ 'priceNotifier.minSources': 2 }, /"priceNotifier\.minSources": asks for 2 sources but only 1 are configured/],
    [
      { 'priceNotifier.sources': [{ kind: 'kraken', name: 'a', baseUrl: 'ftp://example.org' }] },
      /"priceNotifier\.sources\.0\.baseUrl": expected an http\(s\):\/\/ URL without query/,
    ],
    [{ 'priceNotifier.sources': [{ kind: 'binance', name: 'a' }] }, /"priceNotifier\.sources\.0\.kind"/],
    [{ 'priceNotifier.sources': [{ kind: 'fixed', name: 'a', centsPerBtc: 0 }] }, /"priceNotifier\.sources\.0\.centsPerBtc"/],
    [
      { 'priceNotifier.sources': [{ kind: 'kraken', name: 'a', apiKey: 'x' }] },
      /unknown key "priceNotifier\.sources\.0\.apiKey"/,
    ],
    [{ 'priceNotifier.sources': [] }, /"priceNotifier\.sources"/],
    [{ 'priceNotifier.outlierPercent': 0 }, /"priceNotifier\.outlierPercent"/],
  ];
  for (const [overrides, message] of bad) {
    assert.throws(
      () => loadConfig({ overrides }),
      (error: Error & { code?: string }) => error.code === 'CORE_CONFIG_INVALID' && message.test(error.message),
      `${JSON.stringify(overrides)} should fail with ${message}`,
    );
  }
});
