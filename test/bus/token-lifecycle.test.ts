// Tokens over time: a renewed session outlives its first token; an unrenewed one is cut when it expires.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { createBusClient } from '../../src/auth-proxy/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { readTokenUnverified } from '../../src/core/token.js';
import { Ping } from '../../src/core/messages.js';
import type { Denial } from '../../src/subscription-mgr/sessions.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';

// Moving the clock past every token's expiry cuts the harness's own services too, so each test gets its own.
const clock = new ManualClock(Date.now());
let h: Harness;
const denials: Denial[] = [];

beforeEach(async () => {
  clock.set(Date.now());
  h = await startHarness({ clock, config: { vault: { tokenTtlSeconds: 3_600 }, subscriptionMgr: { sessionSweepMs: 50 } } });
  h.broker.onDenial((denial) => void denials.push(denial));
});
afterEach(async () => h.stop());

test('a renewed client stays connected past its first token; an unrenewed one is cut and cannot return', async () => {
  const renewing = await h.client('renewing', { extra: { sub: ['dctrl/v1/steady/ping'] } });
  const steady = await h.client('steady');
  clock.advance(3_000_000);
  await renewing.renewNow();
  clock.advance(700_000); // past the first tokens' expiry, inside the renewed one
  await eventually(
    () => denials.some((d) => d.client === 'steady' && d.error.code === 'SUBSCRIPTION_MGR_SESSION_EXPIRED'),
    'steady cut',
  );
  await eventually(
    () => denials.some((d) => d.client === 'steady' && d.action === 'connect' && /TOKEN_EXPIRED/.test(d.error.message)),
    'steady refused on reconnect',
  );
  assert.ok(renewing.connected, 'the renewed client is still connected');
  assert.ok(!denials.some((d) => d.client === 'renewing'), 'the renewed client was never denied');
  await steady.stop();
});

test('a message signed under the renewed token still flows', async () => {
  const sender = await h.client('sender');
  const receiver = await h.client('receiver', { extra: { sub: ['dctrl/v1/sender/ping'] } });
  const seen: number[] = [];
  await receiver.listen(Ping, (payload) => void seen.push(payload.seq), 'dctrl/v1/sender/ping');
  await sender.renewNow();
  await sender.publish(Ping, { seq: 5, sentAtNs: '0', pad: '' });
  await eventually(() => seen.includes(5), 'delivery after renewal');
});

test('a renewed token is handed to where the credentials came from, so a restart uses it', async () => {
  h.keeper.ensureClient('saver');
  await h.vault.publishChanges();
  const context = await h.context('saver');
  const saved: string[] = [];
  context.credentials.saveToken = (token) => void saved.push(token);
  const bus = createBusClient(context);
  await bus.start();
  try {
    await bus.renewNow();
    assert.equal(saved.length, 1);
    assert.equal(readTokenUnverified(saved[0]!).tokenId, bus.tokenClaims.tokenId);
  } finally {
    await bus.stop();
  }
});

test('a client renews by itself at two thirds of its token lifetime', async () => {
  h.keeper.ensureClient('auto');
  await h.vault.publishChanges();
  const context = await h.context('auto'); // its token: issued now, valid 3,600 s
  clock.advance(2_500_000); // past two thirds, still valid
  const bus = createBusClient(context);
  const first = readTokenUnverified(context.credentials.token).tokenId;
  await bus.start();
  try {
    await eventually(() => bus.tokenClaims.tokenId !== first, 'the automatic renewal');
    assert.ok(bus.tokenClaims.expiresAt > clock.now() + 3_000_000);
  } finally {
    await bus.stop();
  }
});
