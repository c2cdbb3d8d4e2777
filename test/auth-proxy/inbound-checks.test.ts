// Every hostile input against the inbound checks, one test each, named after its case.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InboundChecks, ExpectedDuplicate } from '../../src/auth-proxy/inbound.js';
import { TrustedKeys } from '../../src/auth-proxy/key-directory.js';
import { ReplayGuard } from '../../src/auth-proxy/replay-guard.js';
import { VerifyCache } from '../../src/auth-proxy/verify-cache.js';
import { ManualClock } from '../../src/core/clock.js';
import { defineMessage } from '../../src/core/contract.js';
import { encodeEnvelope, signEnvelope, type Envelope, type UnsignedEnvelope } from '../../src/core/envelope.js';
import { DctrlError } from '../../src/core/errors.js';
import { createIdFactory } from '../../src/core/ids.js';
import { generateSigningKey } from '../../src/core/keys.js';
import { createRegistry, KeyDirectory, Ping, TokenRenew } from '../../src/core/messages.js';
import { z } from 'zod';

const clock = new ManualClock(Date.UTC(2026, 10, 27, 12));
const nextId = createIdFactory(clock);
const root = generateSigningKey();
const alice = generateSigningKey();
const mallory = generateSigningKey();
const policy = {
  freshnessWindowMs: 120_000,
  maxStateTtlMs: 86_400_000,
  maxClockSkewMs: 5_000,
  maxCommandTtlMs: 60_000,
  maxMessageBytes: 65_536,
};
const Unlock = defineMessage({
  type: 'test.unlock',
  topic: 'dctrl/v1/{issuer}/unlock',
  kind: 'command',
  issuers: ['alice'],
  description: 'a command for the tests',
  payload: z.strictObject({ door: z.string() }),
});

function checks() {
  const keys = new TrustedKeys(root.publicKeyB64);
  keys.apply({ version: 1, keys: [{ client: 'alice', publicKey: alice.publicKeyB64 }] }, clock.now() + 86_400_000);
  return new InboundChecks(createRegistry([Unlock]), keys, new ReplayGuard(), new VerifyCache(), policy, clock);
}

function ping(overrides: Partial<UnsignedEnvelope> = {}, key = alice): Envelope {
  return signEnvelope(
    {
      v: 1,
      id: nextId(),
      type: Ping.type,
      issuer: 'alice',
      issuedAt: clock.now(),
      payload: { seq: 1, sentAtNs: '0', pad: '' },
      ...overrides,
    },
    key,
  );
}

const wire = (value: unknown) => Buffer.from(JSON.stringify(value));

interface HostileCase {
  id: string;
  topic?: string;
  bytes: () => Buffer;
  code: string;
}

const hostile: HostileCase[] = [
  { id: 'garbage-bytes', bytes: () => Buffer.from([0xff, 0x00, 0x13, 0x37]), code: 'CORE_ENVELOPE_MALFORMED' },
  { id: 'malformed-json', bytes: () => Buffer.from('{"v":1,"id":'), code: 'CORE_ENVELOPE_MALFORMED' },
  { id: 'json-not-an-envelope', bytes: () => wire([1, 2, 3]), code: 'CORE_ENVELOPE_MALFORMED' },
  { id: 'missing-signature', bytes: () => wire({ ...ping(), sig: undefined }), code: 'CORE_ENVELOPE_MALFORMED' },
  { id: 'extra-field', bytes: () => wire({ ...ping(), admin: true }), code: 'CORE_ENVELOPE_MALFORMED' },
  {
    id: 'over-size-limit',
    bytes: () => wire(ping({ payload: { seq: 1, sentAtNs: '0', pad: 'x'.repeat(70_000) } })),
    code: 'CORE_ENVELOPE_TOO_LARGE',
  },
  {
    id: 'payload-number-out-of-range',
    bytes: () => Buffer.from(JSON.stringify(ping()).replace('"seq":1', '"seq":1e999')),
    code: 'CORE_ENVELOPE_MALFORMED',
  },
  {
    id: 'payload-nested-too-deep',
    bytes: () =>
      Buffer.from(
        JSON.stringify({ ...ping(), payload: 0 }).replace('"payload":0', `"payload":${'['.repeat(30_000)}${']'.repeat(30_000)}`),
      ),
    code: 'CORE_ENVELOPE_MALFORMED',
  },
  {
    id: 'tampered-payload',
    bytes: () => wire({ ...ping(), payload: { seq: 2, sentAtNs: '0', pad: '' } }),
    code: 'CORE_ENVELOPE_BAD_SIGNATURE',
  },
  {
    id: 'tampered-signature',
    bytes: () => {
      const e = ping();
      return wire({ ...e, sig: (e.sig[0] === 'A' ? 'B' : 'A') + e.sig.slice(1) });
    },
    code: 'CORE_ENVELOPE_BAD_SIGNATURE',
  },
  { id: 'signed-with-wrong-key', bytes: () => wire(ping({}, mallory)), code: 'CORE_ENVELOPE_BAD_SIGNATURE' },
  {
    id: 'unknown-issuer',
    topic: 'dctrl/v1/mallory/ping',
    bytes: () => wire(ping({ issuer: 'mallory' }, mallory)),
    code: 'CORE_ENVELOPE_UNKNOWN_ISSUER',
  },
  { id: 'stale-event', bytes: () => wire(ping({ issuedAt: clock.now() - 121_000 })), code: 'CORE_ENVELOPE_STALE' },
  { id: 'from-the-future', bytes: () => wire(ping({ issuedAt: clock.now() + 60_000 })), code: 'CORE_ENVELOPE_FROM_FUTURE' },
  { id: 'unknown-type', bytes: () => wire(ping({ type: 'door.open-everything' })), code: 'CORE_ENVELOPE_UNKNOWN_TYPE' },
  { id: 'wrong-topic-for-issuer', topic: 'dctrl/v1/bob/ping', bytes: () => wire(ping()), code: 'CORE_ENVELOPE_WRONG_TOPIC' },
  {
    id: 'issuer-not-allowed-for-type',
    topic: 'dctrl/v1/vault/directory',
    bytes: () => wire(ping({ type: KeyDirectory.type, expiresAt: clock.now() + 1000, payload: { version: 9, keys: [] } })),
    code: 'CORE_ENVELOPE_ISSUER_NOT_ALLOWED',
  },
  {
    id: 'payload-fails-schema',
    bytes: () => wire(ping({ payload: { seq: -1, sentAtNs: '0', pad: '' } })),
    code: 'CORE_ENVELOPE_PAYLOAD_INVALID',
  },
  {
    id: 'command-without-expiry',
    topic: 'dctrl/v1/alice/unlock',
    bytes: () => wire(ping({ type: Unlock.type, payload: { door: 'front' } })),
    code: 'CORE_ENVELOPE_MALFORMED',
  },
  {
    id: 'command-expired',
    topic: 'dctrl/v1/alice/unlock',
    bytes: () =>
      wire(
        ping({ type: Unlock.type, issuedAt: clock.now() - 20_000, expiresAt: clock.now() - 10_000, payload: { door: 'front' } }),
      ),
    code: 'CORE_ENVELOPE_STALE',
  },
  {
    id: 'command-valid-too-long',
    topic: 'dctrl/v1/alice/unlock',
    bytes: () => wire(ping({ type: Unlock.type, expiresAt: clock.now() + 3_600_000, payload: { door: 'front' } })),
    code: 'CORE_ENVELOPE_STALE',
  },
  {
    id: 'request-without-reply-to',
    topic: 'dctrl/v1/vault/rpc/token-renew',
    bytes: () => wire(ping({ type: TokenRenew.type, expiresAt: clock.now() + 5_000, payload: { tokenId: 'x' } })),
    code: 'CORE_ENVELOPE_MALFORMED',
  },
];

describe('inbound checks reject hostile input', () => {
  for (const c of hostile) {
    test(`hostile/${c.id} → ${c.code}`, () => {
      assert.throws(
        () => checks().accept(c.topic ?? 'dctrl/v1/alice/ping', c.bytes(), false),
        (error: unknown) => error instanceof DctrlError && error.code === c.code && error.message.length > 10,
      );
    });
  }
});

describe('inbound checks accept good input once', () => {
  test('a fresh, signed ping is accepted with its payload', () => {
    const accepted = checks().accept('dctrl/v1/alice/ping', wire(ping()), false);
    assert.equal(accepted.envelope.issuer, 'alice');
    assert.deepEqual(accepted.envelope.payload, { seq: 1, sentAtNs: '0', pad: '' });
  });

  test('replayed message is rejected as CORE_ENVELOPE_REPLAYED', () => {
    const inbound = checks();
    const bytes = wire(ping());
    inbound.accept('dctrl/v1/alice/ping', bytes, false);
    assert.throws(() => inbound.accept('dctrl/v1/alice/ping', bytes, false), { code: 'CORE_ENVELOPE_REPLAYED' });
  });

  test('an MQTT redelivery (dup flag) of an accepted message is dropped quietly', () => {
    const inbound = checks();
    const bytes = wire(ping());
    inbound.accept('dctrl/v1/alice/ping', bytes, false);
    assert.throws(() => inbound.accept('dctrl/v1/alice/ping', bytes, true), ExpectedDuplicate);
  });

  test('a command within its expiry is accepted; the same one after expiry is stale', () => {
    const inbound = checks();
    const bytes = wire(ping({ type: Unlock.type, expiresAt: clock.now() + 5_000, payload: { door: 'front' } }));
    inbound.accept('dctrl/v1/alice/unlock', bytes, false);
    clock.advance(11_000);
    assert.throws(() => checks().accept('dctrl/v1/alice/unlock', bytes, false), { code: 'CORE_ENVELOPE_STALE' });
  });

  test('the root key alone may sign as the Vault', () => {
    const directory = signEnvelope(
      {
        v: 1,
        id: nextId(),
        type: KeyDirectory.type,
        issuer: 'vault',
        issuedAt: clock.now(),
        expiresAt: clock.now() + 60_000,
        payload: { version: 2, keys: [] },
      },
      root,
    );
    const accepted = checks().accept('dctrl/v1/vault/directory', encodeEnvelope(directory), false);
    assert.equal(accepted.envelope.type, KeyDirectory.type);
    const forged = signEnvelope({ ...directory, id: nextId() }, alice);
    assert.throws(() => checks().accept('dctrl/v1/vault/directory', encodeEnvelope(forged), false), {
      code: 'CORE_ENVELOPE_BAD_SIGNATURE',
    });
  });

  test('an expired key directory refuses every issuer but the Vault', () => {
    const keys = new TrustedKeys(root.publicKeyB64);
    keys.apply({ version: 1, keys: [{ client: 'alice', publicKey: alice.publicKeyB64 }] }, clock.now() + 1_000);
    const inbound = new InboundChecks(createRegistry([Unlock]), keys, new ReplayGuard(), new VerifyCache(), policy, clock);
    inbound.accept('dctrl/v1/alice/ping', wire(ping()), false);
    clock.advance(2_000);
    assert.throws(() => inbound.accept('dctrl/v1/alice/ping', wire(ping()), false), /key directory has expired/);
    const fresh = signEnvelope(
      {
        v: 1,
        id: nextId(),
        type: KeyDirectory.type,
        issuer: 'vault',
        issuedAt: clock.now(),
        expiresAt: clock.now() + 60_000,
        payload: { version: 2, keys: [] },
      },
      root,
    );
    assert.equal(inbound.accept('dctrl/v1/vault/directory', encodeEnvelope(fresh), false).envelope.issuer, 'vault');
  });

  test('a cached verification never vouches for different bytes', () => {
    const inbound = checks();
    const good = ping();
    inbound.accept('dctrl/v1/alice/ping', wire(good), false);
    const tampered = { ...good, id: nextId() };
    assert.throws(() => inbound.accept('dctrl/v1/alice/ping', wire(tampered), false), { code: 'CORE_ENVELOPE_BAD_SIGNATURE' });
  });
});
