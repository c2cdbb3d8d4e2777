// Retained Vault state on a broker that runs none of our ACLs: garbage or an old signed copy on the directory and
// revocation topics cannot keep a fresh client from starting, nor keep a retired key or a revoked token alive.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { ulid } from 'ulid';
import { closeShared, createBusClient, type BusClient } from '../../src/auth-proxy/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { encodeEnvelope, signEnvelope } from '../../src/core/envelope.js';
import type { SigningKey } from '../../src/core/keys.js';
import { Ping, Topics } from '../../src/core/messages.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';

/** The retained message on `topic` as the broker hands it to a new subscriber. */
async function retainedOn(url: string, topic: string): Promise<Buffer> {
  const reader = await mqtt.connectAsync(url, { clientId: `reader-${ulid()}`, reconnectPeriod: 0 });
  try {
    const message = new Promise<Buffer>((resolve) => reader.once('message', (_topic, payload) => resolve(payload)));
    await reader.subscribeAsync(topic, { qos: 1 });
    return await message;
  } finally {
    await reader.endAsync(true);
  }
}

interface Fresh {
  bus: BusClient;
  pings: number[];
  rejected: string[];
  stop(): Promise<void>;
}

/** A client as a remote machine starts it: no directory handed in by its process, only the broker and the Vault. */
async function freshClient(h: Harness, client: string, listenTo: string): Promise<Fresh> {
  h.keeper.ensureClient(client);
  const shared: Record<string, unknown> = {};
  const context = { ...(await h.context(client, { sub: [`dctrl/v1/${listenTo}/ping`] })), shared };
  const bus = createBusClient(context);
  const pings: number[] = [];
  const rejected: string[] = [];
  bus.on(Ping, (payload) => void pings.push(payload.seq));
  bus.onRejected((rejection) => void rejected.push(rejection.code));
  await bus.start();
  await bus.subscribe(`dctrl/v1/${listenTo}/ping`);
  return {
    bus,
    pings,
    rejected,
    async stop() {
      await bus.stop();
      await closeShared(shared);
    },
  };
}

function signedPing(key: SigningKey, issuer: string, seq: number, now: number): Buffer {
  const envelope = signEnvelope(
    { v: 1, id: ulid(), type: Ping.type, issuer, issuedAt: now, payload: { seq, sentAtNs: '0', pad: '' } },
    key,
  );
  return encodeEnvelope(envelope);
}

describe('retained vault state on a Mosquitto without ACLs', () => {
  let broker: Mosquitto;
  let h: Harness;
  let mallory: MqttClient;

  before(async () => {
    broker = await startMosquitto();
    h = await startHarness({ brokerUrl: broker.url });
    mallory = await mqtt.connectAsync(broker.url, { clientId: `mallory-${ulid()}`, reconnectPeriod: 0 });
  });
  after(async () => {
    await mallory.endAsync(true);
    await h.stop();
    await broker.cleanup();
  });

  test('garbage retained on the directory topic: a fresh client asks the Vault and starts', async () => {
    h.keeper.ensureClient('garbage-reader');
    await h.vault.publishChanges();
    await mallory.publishAsync(Topics.directory, Buffer.from('{"not":"a directory"'), { qos: 1, retain: true });
    assert.equal((await retainedOn(broker.url, Topics.directory)).toString(), '{"not":"a directory"');
    const fresh = await freshClient(h, 'garbage-reader', 'nobody');
    try {
      assert.equal(fresh.bus.directoryVersion, h.keeper.versions().directory);
      await eventually(
        () => fresh.rejected.includes('CORE_ENVELOPE_MALFORMED'),
        () => `garbage rejected: ${fresh.rejected.join(', ')}`,
      );
    } finally {
      await fresh.stop();
    }
  });

  test('an old signed directory and revocation list replayed retained: a fresh client trusts neither the retired key nor the un-revoked token', async () => {
    const oldKey = h.keeper.ensureClient('old-door');
    const doomed = await h.keeper.issueToken('old-door', { pub: [], sub: [] });
    h.keeper.ensureClient('newcomer');
    await h.vault.publishChanges();
    const oldDirectory = await retainedOn(broker.url, Topics.directory);
    const oldRevocations = await retainedOn(broker.url, Topics.revocations);
    assert.match(oldDirectory.toString(), /"old-door"/);

    h.keeper.retireClient('old-door');
    h.keeper.revokeToken(doomed.tokenId, 'stolen');
    await h.vault.publishChanges();
    await mallory.publishAsync(Topics.directory, oldDirectory, { qos: 1, retain: true });
    await mallory.publishAsync(Topics.revocations, oldRevocations, { qos: 1, retain: true });
    assert.deepEqual(await retainedOn(broker.url, Topics.directory), oldDirectory, 'the broker now hands out the old copy');

    const fresh = await freshClient(h, 'newcomer', 'old-door');
    try {
      assert.equal(fresh.bus.directoryVersion, h.keeper.versions().directory);
      assert.ok(
        fresh.bus.revocations?.revoked.some((entry) => entry.tokenId === doomed.tokenId),
        'the revocation holds',
      );
      await mallory.publishAsync('dctrl/v1/old-door/ping', signedPing(oldKey, 'old-door', 1, Date.now()), { qos: 1 });
      await eventually(
        () => fresh.rejected.includes('CORE_ENVELOPE_UNKNOWN_ISSUER'),
        () => `rejected: ${fresh.rejected.join(', ')}`,
      );
      assert.deepEqual(fresh.pings, [], 'nothing signed by the retired key was accepted');
      // The old copies arriving again, retained or live, change nothing either.
      await mallory.publishAsync(Topics.directory, oldDirectory, { qos: 1 });
      await mallory.publishAsync(Topics.revocations, oldRevocations, { qos: 1 });
      await fresh.bus.subscribe(Topics.revocations);
      assert.equal(fresh.bus.directoryVersion, h.keeper.versions().directory);
      assert.ok(fresh.bus.revocations?.revoked.some((entry) => entry.tokenId === doomed.tokenId));
    } finally {
      await fresh.stop();
    }
  });
});

describe('a retired key, when the Vault cannot be heard at all', () => {
  const clock = new ManualClock(Date.UTC(2026, 11, 8, 12));
  const ttlSeconds = 300;
  let broker: Mosquitto;
  let h: Harness;
  let mallory: MqttClient;

  before(async () => {
    broker = await startMosquitto();
    h = await startHarness({
      brokerUrl: broker.url,
      clock,
      config: { vault: { directoryTtlSeconds: ttlSeconds }, bus: { requestTimeoutMs: 500 } },
    });
    mallory = await mqtt.connectAsync(broker.url, { clientId: `mallory-${ulid()}`, reconnectPeriod: 0 });
  });
  after(async () => {
    await mallory.endAsync(true);
    await h.stop();
    await broker.cleanup();
  });

  test('is trusted from a withheld-for copy at most until that copy expires, vault.directoryTtlSeconds after its signing', async () => {
    const oldKey = h.keeper.ensureClient('old-door');
    h.keeper.ensureClient('remote');
    await h.vault.publishChanges();
    const signedAt = clock.now();
    const oldDirectory = await retainedOn(broker.url, Topics.directory);
    h.keeper.retireClient('old-door');
    await h.vault.publishChanges();
    // The hostile broker withholds the Vault: no newer directory, no answer to a request.
    await h.vault.stop();
    await mallory.publishAsync(Topics.directory, oldDirectory, { qos: 1, retain: true });

    const fresh = await freshClient(h, 'remote', 'old-door');
    try {
      assert.ok(fresh.bus.directoryVersion < h.keeper.versions().directory, 'started on the old retained copy');
      clock.advance(ttlSeconds * 1000 - 1);
      await mallory.publishAsync('dctrl/v1/old-door/ping', signedPing(oldKey, 'old-door', 1, clock.now()), { qos: 1 });
      await eventually(() => fresh.pings.includes(1), 'the retired key is still trusted one ms before the copy expires');
      clock.advance(1);
      assert.equal(clock.now(), signedAt + ttlSeconds * 1000);
      await mallory.publishAsync('dctrl/v1/old-door/ping', signedPing(oldKey, 'old-door', 2, clock.now()), { qos: 1 });
      await eventually(
        () => fresh.rejected.includes('CORE_ENVELOPE_UNKNOWN_ISSUER'),
        () => `rejected: ${fresh.rejected.join(', ')}`,
      );
      assert.deepEqual(fresh.pings, [1]);
    } finally {
      await fresh.stop();
    }
  });
});
