// Signature checks on worker threads: the same verdicts as inline, and handlers still see arrival order.
import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { ulid } from 'ulid';
import { VerifierPool } from '../../src/auth-proxy/verifier-pool.js';
import { encodeEnvelope, signEnvelope } from '../../src/core/envelope.js';
import { generateSigningKey, importPublicKey } from '../../src/core/keys.js';
import { Ping } from '../../src/core/messages.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';

describe('VerifierPool', () => {
  test('a burst of good and bad signatures gets exactly the inline verdicts', async () => {
    const pool = new VerifierPool(2);
    const signer = generateSigningKey();
    const key = { publicKeyB64: signer.publicKeyB64, key: importPublicKey(signer.publicKeyB64) };
    const cases = Array.from({ length: 600 }, (_, i) => {
      const message = Buffer.from(`message ${i}`);
      const good = i % 3 !== 0;
      const sig = signBuffer(good ? signer : generateSigningKey(), message);
      return { message, sig, good };
    });
    const verdicts = await Promise.all(cases.map((c) => Promise.resolve(pool.verify(key, c.message, c.sig))));
    assert.deepEqual(
      verdicts,
      cases.map((c) => c.good),
    );
    await pool.close();
  });
});

describe('a bus client verifying on worker threads', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ config: { bus: { verifyThreads: 2 } } });
  });
  after(async () => h.stop());

  test('a burst arrives in order, forgeries in it are dropped', async () => {
    const sender = await h.client('sender');
    const receiver = await h.client('receiver', { extra: { sub: ['dctrl/v1/sender/ping'] } });
    const seen: number[] = [];
    const rejected: string[] = [];
    receiver.onRejected((rejection) => void rejected.push(rejection.code));
    await receiver.listen(Ping, (payload) => void seen.push(payload.seq), 'dctrl/v1/sender/ping');
    const mallory = await mqtt.connectAsync(h.brokerUrl, {
      clientId: `mallory:${ulid()}`,
      username: 'mallory',
      password: (await h.credentials('mallory', { pub: ['dctrl/v1/sender/ping'] })).token,
      reconnectPeriod: 0,
    });
    const forger = generateSigningKey();
    const sends: Promise<unknown>[] = [];
    for (let seq = 0; seq < 500; seq++) {
      sends.push(sender.publish(Ping, { seq, sentAtNs: '0', pad: '' }));
      if (seq % 50 === 0) {
        const forged = signEnvelope(
          {
            v: 1,
            id: ulid(),
            type: Ping.type,
            issuer: 'sender',
            issuedAt: Date.now(),
            payload: { seq: 10_000 + seq, sentAtNs: '0', pad: '' },
          },
          forger,
        );
        sends.push(mallory.publishAsync('dctrl/v1/sender/ping', encodeEnvelope(forged), { qos: 1 }));
      }
    }
    await Promise.all(sends);
    await eventually(
      () => seen.length >= 500 && rejected.length >= 10,
      () => `the burst (seen ${seen.length}, rejected ${rejected.length})`,
      15_000,
    );
    assert.deepEqual(
      seen,
      Array.from({ length: 500 }, (_, i) => i),
    );
    assert.deepEqual(new Set(rejected), new Set(['CORE_ENVELOPE_BAD_SIGNATURE']));
    await mallory.endAsync();
  });
});

function signBuffer(key: ReturnType<typeof generateSigningKey>, message: Buffer): string {
  return sign(null, message, key.privateKey).toString('base64url');
}
