// A stolen door: retiring its client cuts its session and makes every receiver drop what its key signs.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mqtt from 'mqtt';
import { ulid } from 'ulid';
import { encodeEnvelope, signEnvelope } from '../../src/core/envelope.js';
import { Ping } from '../../src/core/messages.js';
import type { Denial } from '../../src/subscription-mgr/sessions.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';

let h: Harness;
before(async () => {
  h = await startHarness({ config: { vault: { revocationPollMs: 100 } } });
});
after(async () => h.stop());

test('after `keys retire`, the device is disconnected and its signatures are refused everywhere', async () => {
  const door = await h.client('door');
  const receiver = await h.client('receiver', { extra: { sub: ['dctrl/v1/door/ping'] } });
  const seen: number[] = [];
  const rejected: string[] = [];
  receiver.onRejected((rejection) => void rejected.push(rejection.code));
  await receiver.listen(Ping, (payload) => void seen.push(payload.seq), 'dctrl/v1/door/ping');
  const denials: Denial[] = [];
  h.broker.onDenial((denial) => void denials.push(denial));
  const stolenKey = h.keeper.signingKey('door');

  h.keeper.retireClient('door');
  await eventually(
    () => denials.some((d) => d.client === 'door' && d.error.code === 'SUBSCRIPTION_MGR_SESSION_REVOKED'),
    'door cut',
  );
  await eventually(() => receiver.directoryVersion === h.keeper.versions().directory, 'receiver to get the new directory');
  await eventually(() => !door.connected, 'the door to stay disconnected');

  // The thief still has the key, and a broker that lets it publish (or one without our ACLs).
  const relay = await mqtt.connectAsync(h.brokerUrl, {
    clientId: `relay:${ulid()}`,
    username: 'relay',
    password: (await h.credentials('relay', { pub: ['dctrl/v1/door/ping'] })).token,
    reconnectPeriod: 0,
  });
  const forged = signEnvelope(
    { v: 1, id: ulid(), type: Ping.type, issuer: 'door', issuedAt: Date.now(), payload: { seq: 13, sentAtNs: '0', pad: '' } },
    stolenKey,
  );
  await relay.publishAsync('dctrl/v1/door/ping', encodeEnvelope(forged), { qos: 1 });
  await eventually(() => rejected.includes('CORE_ENVELOPE_UNKNOWN_ISSUER'), 'the stolen key refused');
  assert.ok(!seen.includes(13));
  await relay.endAsync();
});
