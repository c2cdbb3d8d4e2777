// The signed bus end to end on the embedded broker: delivery, requests, ACLs, tokens, revocation, audit.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { ulid } from 'ulid';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { encodeEnvelope, signEnvelope } from '../../src/core/envelope.js';
import { RemoteError } from '../../src/core/errors.js';
import { AuditDenied, AuditRejected, Ping, ServiceStatus, TokenRenew } from '../../src/core/messages.js';
import { generateSigningKey } from '../../src/core/keys.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';

const pingPayload = (seq: number) => ({ seq, sentAtNs: '0', pad: '' });

describe('embedded broker + AuthProxy', () => {
  let h: Harness;
  let alice: BusClient;
  let bob: BusClient;
  let auditor: BusClient;
  const audits: { type: string; payload: Record<string, unknown> }[] = [];

  before(async () => {
    h = await startHarness();
    alice = await h.client('alice');
    bob = await h.client('bob', { extra: { sub: ['dctrl/v1/alice/ping'] } });
    auditor = await h.client('auditor', { extra: { sub: ['dctrl/v1/+/audit', 'dctrl/v1/+/status'] } });
    auditor.on(AuditRejected, (payload) => void audits.push({ type: AuditRejected.type, payload }));
    auditor.on(AuditDenied, (payload) => void audits.push({ type: AuditDenied.type, payload }));
    await auditor.subscribe('dctrl/v1/+/audit');
  });
  after(async () => h.stop());

  test('a signed message reaches a subscriber once, with its payload', async () => {
    const seen: number[] = [];
    await bob.listen(Ping, (payload) => void seen.push(payload.seq), 'dctrl/v1/alice/ping');
    await alice.publish(Ping, pingPayload(7));
    await eventually(() => seen.includes(7), 'bob to see ping 7');
    assert.deepEqual(seen, [7]);
  });

  test('every client keeps a retained heartbeat, and says when it leaves', async () => {
    const statuses: { client: string; state: string }[] = [];
    auditor.on(ServiceStatus, (payload, envelope) => void statuses.push({ client: envelope.issuer, state: payload.state }));
    await auditor.subscribe('dctrl/v1/+/status');
    // Retained: the heartbeats of clients that started earlier arrive on subscribing.
    await eventually(() => statuses.some((s) => s.client === 'alice' && s.state === 'up'), 'alice heartbeat');
    const visitor = await h.client('visitor');
    await eventually(() => statuses.some((s) => s.client === 'visitor' && s.state === 'up'), 'visitor up');
    await visitor.stop();
    await eventually(() => statuses.some((s) => s.client === 'visitor' && s.state === 'stopping'), 'visitor leaving');
  });

  test('a message delivered twice by the broker runs its handler once', async () => {
    const seen: number[] = [];
    bob.on(Ping, (payload) => void seen.push(payload.seq));
    const envelope = alice.seal(Ping, pingPayload(99));
    await alice.sendSealed(Ping, envelope);
    await alice.sendSealed(Ping, envelope);
    await alice.publish(Ping, pingPayload(100));
    await eventually(() => seen.includes(100), 'the ping after the duplicate');
    assert.equal(seen.filter((seq) => seq === 99).length, 1);
  });

  test('request/response: the Vault renews a token with the same grants', async () => {
    const before = alice.tokenClaims;
    const bobsToken = h.keeper.listTokens().find((t) => t.client === 'bob')!.tokenId;
    const refused: unknown = await alice.request(TokenRenew, { tokenId: bobsToken }).catch((error: unknown) => error);
    // Alice cannot renew Bob's token: the Vault answers with a coded error, not silence.
    assert.ok(refused instanceof RemoteError);
    assert.equal(refused.code, 'VAULT_RENEW_MISMATCH');
    await alice.renewNow();
    assert.notEqual(alice.tokenClaims.tokenId, before.tokenId);
    assert.deepEqual(alice.tokenClaims.grants, before.grants);
    // The session goes on under the renewed token.
    const seen: number[] = [];
    bob.on(Ping, (payload) => void seen.push(payload.seq));
    await alice.publish(Ping, pingPayload(201));
    await eventually(() => seen.includes(201), 'ping after renewal');
  });

  test('a request nobody answers times out with AUTH_PROXY_REQUEST_TIMEOUT', async () => {
    await h.vault.stop();
    try {
      await assert.rejects(alice.request(TokenRenew, { tokenId: 'x' }, { timeoutMs: 300 }), {
        code: 'AUTH_PROXY_REQUEST_TIMEOUT',
      });
    } finally {
      await h.vault.start();
    }
  });

  test('publishing outside the token grants fails locally, before anything is sent', async () => {
    await assert.rejects(alice.publish(Ping, pingPayload(1), { topic: 'dctrl/v1/bob/ping' }), { code: 'AUTH_PROXY_NOT_GRANTED' });
    await assert.rejects(alice.subscribe('dctrl/v1/#'), { code: 'AUTH_PROXY_NOT_GRANTED' });
  });

  test('a forged message on the bus is dropped and reported on the audit channel', async () => {
    const seen: number[] = [];
    bob.on(Ping, (payload) => void seen.push(payload.seq));
    const rejections: string[] = [];
    bob.onRejected((rejection) => void rejections.push(rejection.code));
    // Mallory holds a valid token that lets her publish on alice's topic, and her own key.
    const mallory = await rawClient(h, 'mallory', { pub: ['dctrl/v1/alice/ping'] });
    const forged = signEnvelope(
      { v: 1, id: ulid(), type: Ping.type, issuer: 'alice', issuedAt: Date.now(), payload: pingPayload(666) },
      generateSigningKey(),
    );
    await mallory.publishAsync('dctrl/v1/alice/ping', encodeEnvelope(forged), { qos: 1 });
    await mallory.publishAsync('dctrl/v1/alice/ping', Buffer.from('not json at all'), { qos: 1 });
    // A number canonical JSON cannot encode: it once threw out of the message listener and took the process down.
    await mallory.publishAsync('dctrl/v1/alice/ping', Buffer.from(JSON.stringify(forged).replace('"seq":666', '"seq":1e999')), {
      qos: 1,
    });
    await eventually(() => rejections.length >= 3, 'bob to reject all three');
    assert.deepEqual(rejections, ['CORE_ENVELOPE_BAD_SIGNATURE', 'CORE_ENVELOPE_MALFORMED', 'CORE_ENVELOPE_MALFORMED']);
    assert.ok(!seen.includes(666));
    await eventually(
      () => audits.some((a) => a.payload.reason === 'CORE_ENVELOPE_BAD_SIGNATURE' && a.payload.claimedIssuer === 'alice'),
      'audit of the forgery',
    );
    await mallory.endAsync();
  });

  test('a replayed message is dropped with CORE_ENVELOPE_REPLAYED and audited', async () => {
    const rejections: string[] = [];
    bob.onRejected((rejection) => void rejections.push(rejection.code));
    let captured: Buffer | undefined;
    bob.on(Ping, (_payload, _envelope, context) => {
      captured ??= context.raw;
    });
    await alice.publish(Ping, pingPayload(300));
    await eventually(() => captured !== undefined, 'capture');
    const mallory = await rawClient(h, 'mallory', { pub: ['dctrl/v1/alice/ping'] });
    await mallory.publishAsync('dctrl/v1/alice/ping', captured!, { qos: 1 });
    await eventually(() => rejections.includes('CORE_ENVELOPE_REPLAYED'), 'replay rejection');
    await eventually(() => audits.some((a) => a.payload.reason === 'CORE_ENVELOPE_REPLAYED'), 'audit of the replay');
    await mallory.endAsync();
  });

  test('connecting with a forged, malformed or missing token is refused and audited', async () => {
    const url = h.brokerUrl;
    const forged = (await h.credentials('mallory')).token.replace(/.{4}$/, 'AAAA');
    for (const [password, reason] of [
      [forged, 'SUBSCRIPTION_MGR_TOKEN_INVALID'],
      ['not-a-jwt', 'SUBSCRIPTION_MGR_TOKEN_INVALID'],
      ['', 'SUBSCRIPTION_MGR_NO_TOKEN'],
    ] as const) {
      const error = await connectError(url, 'mallory', password);
      assert.match(error, /Bad username or password|Not authorized/);
      await eventually(
        () => audits.some((a) => a.payload.action === 'connect' && a.payload.reason === reason),
        `audit ${reason}`,
      );
    }
  });

  test('a client id that is not the token subject is refused', async () => {
    const token = (await h.credentials('mallory')).token;
    assert.match(await connectError(h.brokerUrl, 'alice', token), /Not authorized/);
  });

  test('publish and subscribe outside the grants are denied by the broker and audited', async () => {
    const mallory = await rawClient(h, 'mallory', {});
    await assert.rejects(
      mallory.subscribeAsync('dctrl/v1/#', { qos: 1 }),
      (error: { packet?: { granted?: number[] } }) => error.packet?.granted?.[0] === 128,
    );
    await eventually(
      () => audits.some((a) => a.payload.action === 'subscribe' && a.payload.topic === 'dctrl/v1/#'),
      'subscribe denial',
    );
    mallory.publish('dctrl/v1/alice/ping', 'x', { qos: 0 });
    await eventually(
      () => audits.some((a) => a.payload.action === 'publish' && a.payload.reason === 'SUBSCRIPTION_MGR_PUBLISH_DENIED'),
      'publish denial',
    );
    await mallory.endAsync(true);
  });

  test('a message over the size limit is refused by the broker', async () => {
    const mallory = await rawClient(h, 'mallory', { pub: ['dctrl/v1/mallory/#'] });
    mallory.publish('dctrl/v1/mallory/ping', Buffer.alloc(h.config.bus.maxMessageBytes + 1), { qos: 0 });
    await eventually(() => audits.some((a) => a.payload.reason === 'SUBSCRIPTION_MGR_MESSAGE_TOO_LARGE'), 'size denial');
    await mallory.endAsync(true);
  });

  test('revoking a token disconnects its holder within seconds and keeps it out', async () => {
    const creds = await h.credentials('carol');
    const carol = mqtt.connect(h.brokerUrl, { clientId: 'carol', username: 'carol', password: creds.token, reconnectPeriod: 0 });
    await new Promise<void>((resolve) => carol.once('connect', () => resolve()));
    const closed = new Promise<void>((resolve) => carol.once('close', () => resolve()));
    const tokenId = h.keeper
      .listTokens()
      .filter((t) => t.client === 'carol')
      .at(-1)!.tokenId;
    const started = Date.now();
    h.keeper.revokeToken(tokenId, 'lost fob');
    await closed;
    assert.ok(Date.now() - started < 5_000, 'disconnected within 5 s');
    await eventually(() => audits.some((a) => a.payload.reason === 'SUBSCRIPTION_MGR_SESSION_REVOKED'), 'revocation audit');
    assert.match(await connectError(h.brokerUrl, 'carol', creds.token), /Not authorized/);
    carol.end(true);
  });
});

async function rawClient(h: Harness, client: string, extra: { pub?: string[]; sub?: string[] }) {
  const creds = await h.credentials(client, extra);
  const connection = await mqtt.connectAsync(h.brokerUrl, {
    clientId: `${client}:${ulid()}`,
    username: client,
    password: creds.token,
    reconnectPeriod: 0,
  });
  connection.on('error', () => undefined);
  return connection;
}

async function connectError(url: string, clientId: string, password: string): Promise<string> {
  try {
    const connection = await mqtt.connectAsync(url, {
      clientId,
      username: clientId,
      password,
      reconnectPeriod: 0,
      connectTimeout: 3_000,
    });
    await connection.endAsync(true);
    return 'connected';
  } catch (error) {
    return (error as Error).message;
  }
}
