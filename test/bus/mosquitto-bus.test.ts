// The same services through a real Mosquitto, where none of our ACLs run: signatures alone must stop forgeries.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { ulid } from 'ulid';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { encodeEnvelope, signEnvelope } from '../../src/core/envelope.js';
import { generateSigningKey } from '../../src/core/keys.js';
import { KeyDirectory, Ping, Topics } from '../../src/core/messages.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';

const pingPayload = (seq: number) => ({ seq, sentAtNs: '0', pad: '' });

describe('services over a real Mosquitto', () => {
  let broker: Mosquitto;
  let h: Harness;
  let alice: BusClient;
  let bob: BusClient;
  let mallory: MqttClient;
  const seen: number[] = [];
  const rejected: string[] = [];

  before(async () => {
    broker = await startMosquitto();
    h = await startHarness({ brokerUrl: broker.url });
    alice = await h.client('alice');
    bob = await h.client('bob', { extra: { sub: ['dctrl/v1/alice/ping'] } });
    await bob.listen(Ping, (payload) => void seen.push(payload.seq), 'dctrl/v1/alice/ping');
    await bob.subscribe(Topics.directory);
    bob.onRejected((rejection) => void rejected.push(rejection.code));
    mallory = await mqtt.connectAsync(broker.url, { clientId: `mallory-${ulid()}`, reconnectPeriod: 0 });
  });
  after(async () => {
    await mallory.endAsync(true);
    await h.stop();
    await broker.cleanup();
  });

  test('signed messages and request/response work through Mosquitto', async () => {
    await alice.publish(Ping, pingPayload(1));
    await eventually(() => seen.includes(1), 'ping through mosquitto');
    const before = alice.tokenClaims.tokenId;
    await alice.renewNow();
    assert.notEqual(alice.tokenClaims.tokenId, before);
  });

  test('forged, wrongly signed and oversized messages are rejected at the receiver', async () => {
    const strangerKey = generateSigningKey();
    const forgedPing = signEnvelope(
      { v: 1, id: ulid(), type: Ping.type, issuer: 'alice', issuedAt: Date.now(), payload: pingPayload(666) },
      strangerKey,
    );
    await mallory.publishAsync('dctrl/v1/alice/ping', encodeEnvelope(forgedPing), { qos: 1 });
    const huge = signEnvelope(
      {
        v: 1,
        id: ulid(),
        type: Ping.type,
        issuer: 'alice',
        issuedAt: Date.now(),
        payload: { ...pingPayload(667), pad: 'x'.repeat(59_000) },
      },
      strangerKey,
    );
    await mallory.publishAsync('dctrl/v1/alice/ping', Buffer.concat([encodeEnvelope(huge), Buffer.alloc(10_000, 32)]), {
      qos: 1,
    });
    // A directory that would swap in Mallory's key for alice, signed by Mallory.
    const forgedDirectory = signEnvelope(
      {
        v: 1,
        id: ulid(),
        type: KeyDirectory.type,
        issuer: 'vault',
        issuedAt: Date.now(),
        expiresAt: Date.now() + 60_000,
        payload: { version: 10_000, keys: [{ client: 'alice', publicKey: strangerKey.publicKeyB64 }] },
      },
      strangerKey,
    );
    await mallory.publishAsync(Topics.directory, encodeEnvelope(forgedDirectory), { qos: 1 });
    await eventually(() => rejected.length >= 3, 'three rejections');
    assert.deepEqual(rejected.slice(0, 3), [
      'CORE_ENVELOPE_BAD_SIGNATURE',
      'CORE_ENVELOPE_TOO_LARGE',
      'CORE_ENVELOPE_BAD_SIGNATURE',
    ]);
    assert.ok(!seen.includes(666) && !seen.includes(667));
    assert.ok(bob.directoryVersion < 10_000, 'the forged directory was not applied');
    // The real alice is still believed.
    await alice.publish(Ping, pingPayload(2));
    await eventually(() => seen.includes(2), 'genuine ping after the forgeries');
  });

  test('a broker restart loses no QoS 1 message: queued while down, delivered once after', async () => {
    const from = 1_000;
    await broker.stop();
    await eventually(() => !alice.connected && !bob.connected, 'clients to notice the broker is gone');
    const sends = Array.from({ length: 20 }, (_, i) => alice.publish(Ping, pingPayload(from + i)));
    await broker.restart();
    await Promise.all(sends);
    await eventually(
      () => Array.from({ length: 20 }, (_, i) => from + i).every((seq) => seen.includes(seq)),
      () =>
        `all 20 after restart (saw ${seen.filter((seq) => seq >= from).join(',')}; alice ${alice.connected}, bob ${bob.connected})`,
      30_000,
    );
    const delivered = seen.filter((seq) => seq >= from);
    assert.equal(delivered.length, 20, 'each exactly once');
  });
});
