// The dashboard's login throttle, X-Forwarded-For, security headers and /metrics over real HTTP, from several
// loopback source addresses: a guesser is slowed (growing Retry-After) but never keeps out the right password from
// another address; X-Forwarded-For is believed only through the configured hops or proxy addresses.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { ManualClock } from '../../src/core/clock.js';
import type { ConfigInput } from '../../src/core/config.js';
import { generateSigningKey } from '../../src/core/keys.js';
import { silentLogger } from '../../src/core/logger.js';
import { openDatabase } from '../../src/core/storage/index.js';
import { addressKey, LoginLimiter } from '../../src/server/auth.js';
import { createDeviceBoard } from '../../src/server/devices.js';
import { CONTENT_SECURITY_POLICY } from '../../src/server/guards.js';
import { buildApp, ServerStore, type AppDeps } from '../../src/server/index.js';
import { createLiveFeed } from '../../src/server/live.js';
import { createServerMetrics } from '../../src/server/metrics.js';
import { registerLiveRoutes } from '../../src/server/routes-live.js';
import { createSpaceApi } from '../../src/server/spaceapi.js';
import { tempDir, testConfig } from '../helpers/harness.js';
import { callFrom } from './from-address.js';

const A = '127.0.0.1';
const B = '127.0.0.2';
const METRICS_SECRET = 'scrape-secret-for-the-test';

interface App {
  base: string;
  clock: ManualClock;
  /** A login attempt from `from`, optionally through a proxy that sent `forwardedFor`. */
  login(from: string, name: string, password: string, forwardedFor?: string): ReturnType<typeof callFrom>;
}

const open: (() => Promise<void>)[] = [];
after(async () => {
  for (const close of open) await close();
});

/** The app with its login and the metrics route, listening on 127.0.0.1; the bus is never asked. */
async function startApp(server: NonNullable<ConfigInput['server']> = {}): Promise<App> {
  const dataDir = tempDir('dctrl-throttle-');
  const config = testConfig(dataDir, { server: { port: 0, ...server } });
  const clock = new ManualClock(Date.UTC(2026, 10, 2, 18));
  const database = await openDatabase({ sqliteFile: `${dataDir}/dctrl.db` });
  const store = await ServerStore.open(database);
  for (const name of ['tess', 'root']) {
    await store.setUser(
      { name, role: name === 'root' ? 'admin' : 'treasurer', memberId: null, password: `${name}-password-123` },
      clock.now(),
    );
  }
  const bus = {
    on() {},
    onAny() {},
    subscribe: () => Promise.resolve(),
    listen: () => Promise.resolve(),
  } as unknown as BusClient;
  const deps: AppDeps = {
    config,
    clock,
    logger: silentLogger,
    ask: () => Promise.reject(new Error('the bus is not asked here')),
    store,
    rootPublicKey: generateSigningKey().publicKeyB64,
    isRevoked: () => false,
    live: createLiveFeed({ bus, clock, bufferSize: 10 }),
    metrics: createServerMetrics({ bus, clock, defaultMetrics: false }),
    spaceApi: createSpaceApi({ bus, clock, options: config.server.spaceApi }),
    devices: createDeviceBoard({ bus, clock, devices: {} }),
    space: () => Promise.reject(new Error('no BusinessData here')),
  };
  const app = await buildApp(deps, [registerLiveRoutes]);
  await app.listen({ host: A, port: 0 });
  open.push(async () => {
    await app.close();
    await database.close();
  });
  const address = app.server.address();
  const base = `http://${A}:${typeof address === 'object' && address !== null ? address.port : 0}`;
  return {
    base,
    clock,
    login: (from, name, password, forwardedFor) =>
      callFrom(from, `${base}/api/v1/session`, {
        body: { name, password },
        ...(forwardedFor === undefined ? {} : { headers: { 'x-forwarded-for': forwardedFor } }),
      }),
  };
}

describe('server: login throttle', () => {
  test('a guesser is slowed with a growing Retry-After while the right password from another address gets in', async () => {
    const app = await startApp({ loginMaxFailures: 3, loginMaxFailuresPerAddress: 50, loginWindowMinutes: 10 });
    for (let guess = 0; guess < 3; guess += 1) assert.equal((await app.login(A, 'tess', 'guess-guess-guess')).status, 401);
    const expectedWaits = [1, 2, 4, 8];
    for (const seconds of expectedWaits) {
      const slowed = await app.login(A, 'tess', 'guess-guess-guess');
      assert.equal(slowed.status, 429);
      assert.equal(slowed.json().code, 'SERVER_LOGIN_RATE_LIMITED');
      assert.equal(slowed.headers['retry-after'], String(seconds));
      // The right password from the guessing address waits too: the guesser learns nothing from the answer.
      assert.equal((await app.login(A, 'tess', 'tess-password-123')).status, 429);
      // From an address that has not been guessing, the same name gets in at once.
      assert.equal((await app.login(B, 'tess', 'tess-password-123')).status, 200);
      app.clock.advance(seconds * 1_000);
      assert.equal((await app.login(A, 'tess', 'guess-guess-guess')).status, 401, `a guess again after ${seconds} s`);
    }
    // Another name from the guessing address is not slowed by the guesses at tess.
    assert.equal((await app.login(A, 'root', 'root-password-123')).status, 200);
    // The waits stop growing at the window, and the failures are forgotten after it.
    app.clock.advance(10 * 60_000);
    assert.equal((await app.login(A, 'tess', 'tess-password-123')).status, 200);
  });

  test('one address guessing many names is slowed for every name it tries, an unknown name counting the same', async () => {
    const app = await startApp({ loginMaxFailures: 5, loginMaxFailuresPerAddress: 4 });
    for (const name of ['tess', 'nobody', 'root', 'nobody-else']) {
      const refused = await app.login(A, name, 'guess-guess-guess');
      assert.equal(refused.status, 401, name);
      assert.deepEqual(refused.json(), { code: 'SERVER_LOGIN_FAILED', message: 'wrong name or password' });
    }
    for (const name of ['root', 'someone']) {
      const slowed = await app.login(A, name, 'root-password-123');
      assert.equal(slowed.status, 429, name);
      assert.equal(slowed.headers['retry-after'], '1');
    }
    assert.equal((await app.login(B, 'root', 'root-password-123')).status, 200);
  });

  test('a burst of parallel guesses from one address gets no more tries than the limit', async () => {
    const app = await startApp({ loginMaxFailures: 3 });
    const answers = await Promise.all(Array.from({ length: 12 }, () => app.login(A, 'tess', 'guess-guess-guess')));
    const statuses = answers.map((answer) => answer.status);
    assert.equal(statuses.filter((status) => status === 401).length, 3, statuses.join(' '));
    assert.equal(statuses.filter((status) => status === 429).length, 9);
    assert.equal((await app.login(B, 'tess', 'tess-password-123')).status, 200);
  });

  test('failures are forgotten after the window, so many addresses guessing once each leave nothing behind', () => {
    const clock = new ManualClock(0);
    const limiter = new LoginLimiter(clock, 60_000);
    for (let address = 0; address < 1_000; address += 1) {
      limiter.attempt([{ key: `address:10.0.${address >> 8}.${address & 255}`, freeFailures: 5 }]);
      clock.advance(10);
    }
    assert.equal(limiter.size, 1_000);
    clock.advance(60_000);
    limiter.attempt([{ key: 'address:10.1.0.1', freeFailures: 5 }]);
    assert.equal(limiter.size, 1);
  });

  test('IPv6 addresses are counted by their /64, IPv4 ones whole', () => {
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:0db8::7'), '2001:db8:0:0::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(addressKey('10.1.2.3'), '10.1.2.3');
  });
});

describe('server: X-Forwarded-For', () => {
  /** Three failures as `guesser`, then whether the right password as `user` is slowed (429) or let in (200). */
  async function afterGuesses(app: App, guesser: string | undefined, user: string | undefined): Promise<number> {
    for (let guess = 0; guess < 3; guess += 1)
      assert.equal((await app.login(A, 'tess', 'guess-guess-guess', guesser)).status, 401);
    return (await app.login(A, 'tess', 'tess-password-123', user)).status;
  }

  test('without trusted hops it is ignored: a guesser cannot pose as a fresh address', async () => {
    const app = await startApp({ loginMaxFailures: 3 });
    assert.equal(await afterGuesses(app, '10.0.0.1', '10.0.0.2'), 429);
  });

  test('with one trusted hop (a proxy on loopback) the address the proxy added is believed, not one the client sent', async () => {
    const app = await startApp({ loginMaxFailures: 3, trustProxy: 1 });
    // The proxy appends the address it saw; the client's own entry in front of it is not believed.
    assert.equal(await afterGuesses(app, '10.0.0.9, 10.0.0.1', '10.0.0.2'), 200);
    assert.equal((await app.login(A, 'tess', 'tess-password-123', '10.0.0.2, 10.0.0.1')).status, 429);
    assert.equal((await app.login(B, 'tess', 'tess-password-123', '10.0.0.1')).status, 429, 'another proxy address, same client');
  });

  test('with trusted proxy addresses it is believed only from those proxies', async () => {
    const elsewhere = await startApp({ loginMaxFailures: 3, trustProxy: ['10.9.9.9'] });
    assert.equal(await afterGuesses(elsewhere, '10.0.0.1', '10.0.0.2'), 429, 'the socket is not the proxy');
    const local = await startApp({ loginMaxFailures: 3, trustProxy: ['loopback'] });
    assert.equal(await afterGuesses(local, '10.0.0.1', '10.0.0.2'), 200);
  });

  test('trustProxy true, which believed any client, is refused with what to give instead', () => {
    assert.throws(() => testConfig(tempDir(), { server: { trustProxy: true as never } }), /the number of proxies in front/);
  });
});

describe('server: security headers and /metrics', () => {
  test('every response carries the CSP with frame-ancestors, X-Frame-Options, Referrer-Policy and nosniff', async () => {
    const app = await startApp();
    for (const [path, status] of [
      ['/metrics', 200],
      ['/api/v1/nothing-here', 404],
      ['/api/v1/session', 401],
    ] as const) {
      const response = await callFrom(A, `${app.base}${path}`);
      assert.equal(response.status, status, path);
      assert.equal(response.headers['content-security-policy'], CONTENT_SECURITY_POLICY, path);
      assert.match(CONTENT_SECURITY_POLICY, /frame-ancestors 'none'/);
      assert.match(CONTENT_SECURITY_POLICY, /script-src 'self'(;|$)/);
      assert.equal(response.headers['x-frame-options'], 'DENY', path);
      assert.equal(response.headers['referrer-policy'], 'no-referrer', path);
      assert.equal(response.headers['x-content-type-options'], 'nosniff', path);
    }
  });

  test('/metrics with server.metricsBearerSha256 set answers its secret or an admin, and refuses anyone else', async () => {
    const app = await startApp({ metricsBearerSha256: createHash('sha256').update(METRICS_SECRET).digest('hex') });
    const metrics = (headers: Record<string, string> = {}) => callFrom(A, `${app.base}/metrics`, { headers });
    const anonymous = await metrics();
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.json().code, 'SERVER_NOT_LOGGED_IN');
    assert.match(String(anonymous.headers['www-authenticate']), /^Bearer/);
    assert.equal((await metrics({ authorization: 'Bearer not-the-secret' })).status, 401);
    const scraped = await metrics({ authorization: `Bearer ${METRICS_SECRET}` });
    assert.equal(scraped.status, 200);
    assert.match(scraped.text, /dctrl_/);
    const cookieOf = async (name: string) =>
      String((await app.login(A, name, `${name}-password-123`)).headers['set-cookie']).split(';')[0]!;
    assert.equal((await metrics({ cookie: await cookieOf('root') })).status, 200, 'an admin');
    assert.equal((await metrics({ cookie: await cookieOf('tess') })).status, 401, 'a treasurer');
  });

  test('/metrics is open by default (the dashboard listens on loopback unless told otherwise)', async () => {
    const app = await startApp();
    assert.equal((await callFrom(A, `${app.base}/metrics`)).status, 200);
  });
});
