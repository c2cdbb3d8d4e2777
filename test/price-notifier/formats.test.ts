// Each source format read from a local HTTP server serving its real answer shape, its errors and garbage.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import type { PriceSourceConfig } from '../../src/core/config.js';
import { DctrlError } from '../../src/core/errors.js';
import { askSource } from '../../src/price-notifier/index.js';
import { closedPort, startPriceServer, type Behaviour, type PriceServer } from './price-server.js';

interface Vector {
  id: string;
  kind: 'kraken' | 'coinbase' | 'bitstamp' | 'coingecko';
  currency: string;
  path: string;
  status?: number;
  body: unknown;
  expect: { centsPerBtc: number; at: number | 'fetched' } | { code: string; message: string };
}

const vectors = JSON.parse(readFileSync(new URL('./vectors/price-sources.json', import.meta.url), 'utf8')) as {
  now: number;
  cases: Vector[];
};
const LIVE_KINDS = ['kraken', 'coinbase', 'bitstamp', 'coingecko'] as const;
const clock = new ManualClock(vectors.now);
const stop = new AbortController();
let server: PriceServer;

before(async () => {
  server = await startPriceServer();
});
after(async () => {
  stop.abort();
  await server.close();
});

function sourceAt(kind: Vector['kind'], baseUrl: string, timeoutMs = 2_000): PriceSourceConfig {
  return { kind, name: `test-${kind}`, baseUrl, timeoutMs };
}

async function failureOf(work: Promise<unknown>): Promise<DctrlError> {
  const outcome = await work.then(
    (value) => value,
    (error: unknown) => error,
  );
  assert.ok(outcome instanceof DctrlError, `expected a coded error, got ${JSON.stringify(outcome)}`);
  return outcome;
}

describe('price source formats (vectors/price-sources.json)', () => {
  for (const vector of vectors.cases) {
    test(vector.id, async () => {
      const baseUrl = server.source(vector.id, () => ({ answer: 'json', status: vector.status ?? 200, body: vector.body }));
      const asking = askSource(sourceAt(vector.kind, baseUrl), { currency: vector.currency, clock, signal: stop.signal });
      if ('centsPerBtc' in vector.expect) {
        const quote = await asking;
        assert.equal(quote.centsPerBtc, vector.expect.centsPerBtc);
        assert.equal(quote.at, vector.expect.at === 'fetched' ? vectors.now : vector.expect.at);
      } else {
        const error = await failureOf(asking);
        assert.equal(error.code, vector.expect.code, error.message);
        assert.ok(error.message.includes(vector.expect.message), `"${error.message}" should include "${vector.expect.message}"`);
      }
      assert.deepEqual(server.asked(vector.id), [vector.path], 'asked at the documented path');
    });
  }
});

/** Answers no source format can read, each of which must be refused with its code and never become a price. */
const HOSTILE: { name: string; behaviour: Behaviour; code: string; message: RegExp }[] = [
  {
    name: 'an HTML error page with status 200',
    behaviour: { answer: 'raw', text: '<html><body>502 Bad Gateway</body></html>', contentType: 'text/html' },
    code: 'PRICE_NOTIFIER_SOURCE_MALFORMED',
    message: /not JSON/,
  },
  { name: 'an empty body', behaviour: { answer: 'raw', text: '' }, code: 'PRICE_NOTIFIER_SOURCE_MALFORMED', message: /not JSON/ },
  {
    name: 'JSON cut off halfway',
    behaviour: { answer: 'raw', text: '{"error":[],"result":{"XXBTZCAD":{"c":["1312' },
    code: 'PRICE_NOTIFIER_SOURCE_MALFORMED',
    message: /not JSON/,
  },
  {
    name: 'binary bytes',
    behaviour: { answer: 'raw', text: Buffer.from([0, 255, 254, 1, 2, 3, 0x7b]) },
    code: 'PRICE_NOTIFIER_SOURCE_MALFORMED',
    message: /not JSON/,
  },
  { name: 'null', behaviour: { answer: 'raw', text: 'null' }, code: 'PRICE_NOTIFIER_SOURCE_MALFORMED', message: /format/ },
  { name: 'an array', behaviour: { answer: 'raw', text: '[1,2,3]' }, code: 'PRICE_NOTIFIER_SOURCE_MALFORMED', message: /format/ },
  {
    name: 'a bare number',
    behaviour: { answer: 'raw', text: '131245.6' },
    code: 'PRICE_NOTIFIER_SOURCE_MALFORMED',
    message: /format/,
  },
  {
    name: 'an empty object',
    behaviour: { answer: 'raw', text: '{}' },
    code: 'PRICE_NOTIFIER_SOURCE_MALFORMED',
    message: /format/,
  },
  {
    name: 'nesting ten thousand deep',
    behaviour: { answer: 'raw', text: '['.repeat(10_000) + ']'.repeat(10_000) },
    code: 'PRICE_NOTIFIER_SOURCE_MALFORMED',
    message: /format/,
  },
  {
    name: 'more than a ticker could ever be',
    behaviour: { answer: 'raw', text: `{"pad":"${'x'.repeat(300_000)}"}` },
    code: 'PRICE_NOTIFIER_SOURCE_MALFORMED',
    message: /more than a ticker/,
  },
  {
    name: 'HTTP 500 with an HTML page',
    behaviour: { answer: 'raw', status: 500, text: '<h1>Internal Server Error</h1>', contentType: 'text/html' },
    code: 'PRICE_NOTIFIER_SOURCE_HTTP',
    message: /^HTTP 500 Internal Server Error$/,
  },
  {
    name: 'HTTP 503 with an empty body',
    behaviour: { answer: 'raw', status: 503, text: '' },
    code: 'PRICE_NOTIFIER_SOURCE_HTTP',
    message: /^HTTP 503 Service Unavailable$/,
  },
  { name: 'no answer at all', behaviour: { answer: 'hang' }, code: 'PRICE_NOTIFIER_SOURCE_TIMEOUT', message: /within 300 ms/ },
  {
    name: 'an answer that stops halfway',
    behaviour: { answer: 'stall' },
    code: 'PRICE_NOTIFIER_SOURCE_TIMEOUT',
    message: /within 300 ms/,
  },
];

describe('hostile answers, against every format', () => {
  for (const kind of LIVE_KINDS) {
    for (const hostile of HOSTILE) {
      test(`${kind}: ${hostile.name}`, async () => {
        const baseUrl = server.source(`${kind}-${hostile.name.replaceAll(' ', '-')}`, () => hostile.behaviour);
        const started = performance.now();
        const error = await failureOf(askSource(sourceAt(kind, baseUrl, 300), { currency: 'CAD', clock, signal: stop.signal }));
        assert.equal(error.code, hostile.code, error.message);
        assert.match(error.message, hostile.message);
        assert.ok(performance.now() - started < 2_000, 'a failing source never holds a poll past its timeout for long');
      });
    }

    test(`${kind}: a port nobody listens on`, async () => {
      const port = await closedPort();
      const error = await failureOf(
        askSource(sourceAt(kind, `http://127.0.0.1:${port}`), { currency: 'CAD', clock, signal: stop.signal }),
      );
      assert.equal(error.code, 'PRICE_NOTIFIER_SOURCE_UNREACHABLE');
      assert.match(error.message, /ECONNREFUSED/);
    });
  }
});

test('a fixed source quotes its configured rate at the current time, and asks nobody', async () => {
  const quote = await askSource(
    { kind: 'fixed', name: 'demo-fixed', centsPerBtc: 13_500_000 },
    { currency: 'CAD', clock, signal: stop.signal },
  );
  assert.deepEqual(quote, { centsPerBtc: 13_500_000, at: vectors.now });
});

test('a trailing slash on the base URL does not double the path', async () => {
  const baseUrl = server.source('slash', () => ({
    answer: 'json',
    body: { data: { amount: '1.00', base: 'BTC', currency: 'CAD' } },
  }));
  await askSource(sourceAt('coinbase', `${baseUrl}/`), { currency: 'CAD', clock, signal: stop.signal });
  assert.deepEqual(server.asked('slash'), ['/v2/prices/BTC-CAD/spot']);
});
