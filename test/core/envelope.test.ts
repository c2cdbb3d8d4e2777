// The envelope's canonical signing input and round trip; canonical bytes checked against RFC 8785 vectors.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { canonicalBytes } from '../../src/core/canonical.js';
import { decodeEnvelope, encodeEnvelope, signEnvelope, verifyEnvelopeSignature } from '../../src/core/envelope.js';
import { ManualClock } from '../../src/core/clock.js';
import { createIdFactory, idTime, isMessageId } from '../../src/core/ids.js';
import { exportPrivateKeyPem, generateSigningKey, importPrivateKeyPem, importPublicKey } from '../../src/core/keys.js';

const vectors = JSON.parse(readFileSync(new URL('../vectors/rfc8785-jcs.json', import.meta.url), 'utf8')) as {
  cases: { id: string; input: unknown; canonical: string }[];
};

describe('canonical bytes (RFC 8785)', () => {
  for (const v of vectors.cases) {
    test(`rfc8785/${v.id}`, () => assert.equal(canonicalBytes(v.input).toString('utf8'), v.canonical));
  }
  test('values with no JSON form are refused', () => assert.throws(() => canonicalBytes(undefined), TypeError));
});

describe('envelope', () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 27));
  const nextId = createIdFactory(clock);
  const key = generateSigningKey();
  const unsigned = {
    v: 1 as const,
    id: nextId(),
    type: 'bus.ping',
    issuer: 'alice',
    issuedAt: clock.now(),
    payload: { b: 2, a: [1, { d: 4, c: 3 }] },
  };

  test('signature covers the canonical form: key order on the wire does not matter', () => {
    const envelope = signEnvelope(unsigned, key);
    const reordered = {
      sig: envelope.sig,
      payload: { a: [1, { c: 3, d: 4 }], b: 2 },
      issuedAt: envelope.issuedAt,
      issuer: 'alice',
      type: 'bus.ping',
      id: envelope.id,
      v: 1,
    };
    const decoded = decodeEnvelope(Buffer.from(JSON.stringify(reordered)), 65_536);
    assert.ok(verifyEnvelopeSignature(decoded, key.publicKey));
  });

  test('every signed field is covered: changing any one breaks the signature', () => {
    const envelope = signEnvelope(
      { ...unsigned, expiresAt: clock.now() + 5_000, replyTo: 'dctrl/v1/alice/reply/x', correlationId: 'c1' },
      key,
    );
    const changes = {
      id: nextId(),
      type: 'bus.pong',
      issuer: 'bob',
      issuedAt: 1,
      expiresAt: 2,
      replyTo: 'dctrl/v1/bob/reply/x',
      correlationId: 'c2',
      payload: {},
    };
    for (const [field, value] of Object.entries(changes)) {
      assert.equal(verifyEnvelopeSignature({ ...envelope, [field]: value }, key.publicKey), false, field);
    }
  });

  test('round trip through the wire', () => {
    const envelope = signEnvelope(unsigned, key);
    assert.deepEqual(decodeEnvelope(encodeEnvelope(envelope), 65_536), envelope);
  });

  test('ids are ULIDs, sortable by time and unique within a millisecond', () => {
    const ids = Array.from({ length: 1000 }, () => nextId());
    assert.ok(ids.every(isMessageId));
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(idTime(ids[0]!), clock.now());
  });

  test('keys survive export and import', () => {
    const restored = importPrivateKeyPem(exportPrivateKeyPem(key));
    assert.equal(restored.publicKeyB64, key.publicKeyB64);
    const envelope = signEnvelope(unsigned, restored);
    assert.ok(verifyEnvelopeSignature(envelope, importPublicKey(key.publicKeyB64)));
    assert.throws(() => importPublicKey('c2hvcnQ'), /32 bytes/);
  });
});
