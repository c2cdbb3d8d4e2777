// Sealed payloads: the seal alone (round trip, wrong key, tampering, lifting), then inside signed envelopes on a real bus.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { encodeEnvelope, signEnvelope, wireEnvelope, type Envelope } from '../../src/core/envelope.js';
import { DctrlError } from '../../src/core/errors.js';
import { generateSigningKey } from '../../src/core/keys.js';
import { AuditRejected, MemberStatusChanged } from '../../src/core/messages.js';
import {
  deriveSealingKey,
  importSealPublicKey,
  isSealed,
  openPayload,
  sealPayload,
  type SealedPayload,
} from '../../src/core/seal.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';

const keyOf = () => {
  const sealing = deriveSealingKey(generateSigningKey());
  return { sealing, public: importSealPublicKey(sealing.publicKeyB64) };
};
const alice = keyOf();
const bob = keyOf();
const mallory = keyOf();
const binding = { id: '01KBZ7X5Q1N6W8D9E2F3G4H5J6', type: 'member-data.changed', issuer: 'member-data' };
const secret = { email: 'ada@example.org', balanceCents: -7500 };

const sealToBoth = (): SealedPayload =>
  sealPayload(
    secret,
    [
      { client: 'alice', key: alice.public },
      { client: 'bob', key: bob.public },
    ],
    binding,
  );

/** The envelope without its signature, to sign again as an insider would. */
function unsign<P>(envelope: Envelope<P>): Omit<Envelope<P>, 'sig'> {
  const copy: Partial<Envelope<P>> = { ...envelope };
  delete copy.sig;
  return copy as Omit<Envelope<P>, 'sig'>;
}

function assertCode(run: () => unknown, code: string): void {
  assert.throws(run, (error: unknown) => error instanceof DctrlError && error.code === code);
}

describe('the seal', () => {
  test('every recipient opens it to the same payload; the wire form holds none of it', () => {
    const sealed = sealToBoth();
    assert.ok(isSealed(sealed));
    assert.deepEqual(openPayload(sealed, 'alice', alice.sealing, binding), secret);
    assert.deepEqual(openPayload(sealed, 'bob', bob.sealing, binding), secret);
    const wire = JSON.stringify(sealed);
    assert.ok(!wire.includes('ada@example.org') && !wire.includes('7500'));
  });

  test('the sealing key is derived from the signing key, the same every time, and is not it', () => {
    const signing = generateSigningKey();
    assert.equal(deriveSealingKey(signing).publicKeyB64, deriveSealingKey(signing).publicKeyB64);
    assert.notEqual(deriveSealingKey(signing).publicKeyB64, signing.publicKeyB64);
  });

  test('a client it is not sealed to finds nothing for it', () => {
    assert.equal(openPayload(sealToBoth(), 'mallory', mallory.sealing, binding), undefined);
  });

  test('a recipient name with the wrong key cannot open it', () => {
    assertCode(() => openPayload(sealToBoth(), 'bob', mallory.sealing, binding), 'CORE_SEAL_OPEN_FAILED');
  });

  test('a changed ciphertext, wrapped key or recipient list does not open', () => {
    const sealed = sealToBoth();
    const flip = (text: string) => {
      const bytes = Buffer.from(text, 'base64url');
      bytes[0]! ^= 1;
      return bytes.toString('base64url');
    };
    const tampered: SealedPayload[] = [
      { sealed: { ...sealed.sealed, ct: flip(sealed.sealed.ct) } },
      { sealed: { ...sealed.sealed, nonce: flip(sealed.sealed.nonce) } },
      {
        sealed: {
          ...sealed.sealed,
          to: [{ ...sealed.sealed.to[0]!, key: flip(sealed.sealed.to[0]!.key) }, sealed.sealed.to[1]!],
        },
      },
      // Bob's entry dropped: the names are bound, so Alice notices the list changed.
      { sealed: { ...sealed.sealed, to: [sealed.sealed.to[0]!] } },
    ];
    for (const payload of tampered)
      assertCode(() => openPayload(payload, 'alice', alice.sealing, binding), 'CORE_SEAL_OPEN_FAILED');
  });

  test('a seal moved to another envelope, type or issuer does not open', () => {
    const sealed = sealToBoth();
    for (const other of [
      { ...binding, id: '01KBZ7X5Q1N6W8D9E2F3G4H5J7' },
      { ...binding, type: 'reporter.balance-changed' },
      { ...binding, issuer: 'mallory' },
      { ...binding, correlationId: '01KBZ7X5Q1N6W8D9E2F3G4H5J8' },
    ]) {
      assertCode(() => openPayload(sealed, 'alice', alice.sealing, other), 'CORE_SEAL_OPEN_FAILED');
    }
  });

  test('what is not a seal is refused as malformed', () => {
    assertCode(() => openPayload({ sealed: { v: 1 } }, 'alice', alice.sealing, binding), 'CORE_SEAL_MALFORMED');
  });

  test('a seal needs a recipient', () => {
    assertCode(() => sealPayload(secret, [], binding), 'CORE_SEAL_NO_RECIPIENT');
  });
});

describe('sealed messages on the bus', () => {
  let h: Harness;
  let reporter: BusClient;
  let recipient: BusClient;
  let bystander: BusClient;
  let auditor: BusClient;
  const heard: { payload: unknown; issuer: string }[] = [];
  const bystanderHandled: unknown[] = [];
  const bystanderSaw: Envelope[] = [];
  const rejections: string[] = [];
  const audits: string[] = [];
  const status = { memberId: 'M0042', active: false, reason: 'dues-overdue' as const, balanceCents: -7_512, groups: [] };

  before(async () => {
    h = await startHarness();
    reporter = await h.client('reporter');
    recipient = await h.client('business-mgr');
    bystander = await h.client('chain-notifier', { extra: { sub: [MemberStatusChanged.topic] } });
    auditor = await h.client('auditor', { extra: { sub: ['dctrl/v1/business-mgr/audit'] } });
    await recipient.listen(MemberStatusChanged, (payload, envelope) => void heard.push({ payload, issuer: envelope.issuer }));
    recipient.onRejected((rejection) => void rejections.push(rejection.code));
    await bystander.listen(MemberStatusChanged, (payload) => void bystanderHandled.push(payload));
    bystander.onAny(({ envelope }) => void bystanderSaw.push(envelope));
    await auditor.listen(AuditRejected, (payload) => void audits.push(payload.reason), 'dctrl/v1/business-mgr/audit');
  });
  after(() => h.stop());

  test('a recipient reads it; a client it is not sealed to never runs its handler and sees only the seal', async () => {
    const sent = await reporter.publish(MemberStatusChanged, status);
    assert.deepEqual(sent.payload, status, 'the sender keeps the plaintext view');
    assert.ok(isSealed(wireEnvelope(sent).payload));
    assert.ok(!encodeEnvelope(sent).toString().includes('7512'), 'the wire carries no balance');
    await eventually(() => heard.length === 1, 'the recipient to read it');
    assert.deepEqual(heard[0], { payload: status, issuer: 'reporter' });
    await eventually(() => bystanderSaw.some((envelope) => envelope.id === sent.id), 'the bystander to see it');
    assert.ok(isSealed(bystanderSaw.find((envelope) => envelope.id === sent.id)!.payload));
    assert.deepEqual(bystanderHandled, []);
  });

  test('a seal tampered by an insider holding the issuer key is refused with a code and an audit event', async () => {
    const key = h.keeper.signingKey('reporter');
    const wire = wireEnvelope(reporter.seal(MemberStatusChanged, status)) as Envelope<SealedPayload>;
    const ct = Buffer.from(wire.payload.sealed.ct, 'base64url');
    ct[3]! ^= 0x40;
    const unsigned = unsign(wire);
    const tampered = signEnvelope(
      { ...unsigned, payload: { sealed: { ...wire.payload.sealed, ct: ct.toString('base64url') } } },
      key,
    );
    await reporter.sendSealed(MemberStatusChanged, tampered);
    await eventually(() => rejections.includes('CORE_SEAL_OPEN_FAILED'), 'the recipient to refuse it');
    await eventually(() => audits.includes('CORE_SEAL_OPEN_FAILED'), 'the audit event');
    assert.equal(heard.length, 1, 'no handler ran');
  });

  test('a seal moved into a new envelope by the issuer key does not open there', async () => {
    const key = h.keeper.signingKey('reporter');
    const original = wireEnvelope(reporter.seal(MemberStatusChanged, status));
    const donor = wireEnvelope(reporter.seal(MemberStatusChanged, { ...status, memberId: 'M0001' }));
    const unsigned = unsign(donor);
    const moved = signEnvelope({ ...unsigned, payload: original.payload }, key);
    const before = rejections.filter((code) => code === 'CORE_SEAL_OPEN_FAILED').length;
    await reporter.sendSealed(MemberStatusChanged, moved);
    await eventually(
      () => rejections.filter((code) => code === 'CORE_SEAL_OPEN_FAILED').length > before,
      'the recipient to refuse the moved seal',
    );
    assert.equal(heard.length, 1);
  });

  test('a type that travels sealed is refused in clear, even when properly signed', async () => {
    const key = h.keeper.signingKey('reporter');
    const clear = signEnvelope(
      {
        v: 1,
        id: reporter.seal(MemberStatusChanged, status).id,
        type: MemberStatusChanged.type,
        issuer: 'reporter',
        issuedAt: Date.now(),
        payload: status,
      },
      key,
    );
    await reporter.sendSealed(MemberStatusChanged, clear);
    await eventually(() => rejections.includes('CORE_SEAL_REQUIRED'), 'the recipient to refuse a clear one');
    assert.equal(heard.length, 1);
  });

  test('a signature by someone else over a seal is still just a bad signature', async () => {
    const wire = wireEnvelope(reporter.seal(MemberStatusChanged, status));
    const unsigned = unsign(wire);
    await reporter.sendSealed(MemberStatusChanged, signEnvelope(unsigned, generateSigningKey()));
    await eventually(() => rejections.includes('CORE_ENVELOPE_BAD_SIGNATURE'), 'a bad signature');
    assert.equal(heard.length, 1);
  });
});
