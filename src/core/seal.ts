// Sealed payloads: a payload encrypted to its recipients, inside the signature (X25519, HKDF-SHA256, ChaCha20-Poly1305).
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { z } from 'zod';
import { canonicalBytes } from './canonical.js';
import { describeIssues, isOpenedEnvelope, openedEnvelope, type Envelope } from './envelope.js';
import { CoreError } from './errors.js';
import type { SigningKey } from './keys.js';

export const SEAL_VERSION = 1;

/**
 * A renewed token handed to the embedded broker on Topics.sessionRenew is sealed to the broker's own client, under
 * this type; it is no bus message, so it is bound to an id and issuer of its own.
 */
export const SESSION_RENEWAL = { type: 'session.renew', reader: 'subscription-mgr' } as const;

const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
// Domain separation: the sealing key is derived from the Ed25519 seed but is never the signing key itself.
const DERIVE_INFO = 'dctrl-os/v1 x25519 sealing key';
const WRAP_INFO = 'dctrl-os/v1 seal key-wrap';
// Each wrapping key and each content key encrypts exactly one message, so a fixed nonce never repeats under one key.
const ZERO_NONCE = Buffer.alloc(12);
const TAG_BYTES = 16;
const MAX_RECIPIENTS = 64;

/** A client's X25519 key pair for opening what is sealed to it. */
export interface SealingKey {
  readonly privateKey: KeyObject;
  /** Raw 32-byte public key, base64url: how it travels in the key directory. */
  readonly publicKeyB64: string;
}

export interface SealRecipient {
  readonly client: string;
  readonly key: KeyObject;
}

/** What a seal is bound to: it opens only inside the envelope it was made for, from the issuer that made it. */
export interface SealBinding {
  readonly id: string;
  readonly type: string;
  readonly issuer: string;
  readonly correlationId?: string | undefined;
}

const b64url = (chars: number) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_-]*$/)
    .length(chars);

export const sealedPayloadSchema = z.strictObject({
  sealed: z.strictObject({
    v: z.literal(SEAL_VERSION),
    /** The sender's ephemeral X25519 public key, one per message. */
    epk: b64url(43),
    /** The content key wrapped to each recipient, in order; the names are bound into the ciphertext. */
    to: z
      .array(z.strictObject({ client: z.string().min(1).max(63), key: b64url(64) }))
      .min(1)
      .max(MAX_RECIPIENTS),
    nonce: b64url(16),
    ct: z.string().regex(/^[A-Za-z0-9_-]+$/),
  }),
});

export type SealedPayload = z.infer<typeof sealedPayloadSchema>;

/** True for a payload that has the form of a seal (its contents are checked when it is opened). */
export function isSealed(payload: unknown): payload is SealedPayload {
  return typeof payload === 'object' && payload !== null && 'sealed' in payload && Object.keys(payload).length === 1;
}

/** The client's sealing key, derived from its Ed25519 seed: no new secret to store, and the Vault can list its public half. */
export function deriveSealingKey(signingKey: SigningKey): SealingKey {
  const seed = Buffer.from(signingKey.privateKey.export({ format: 'jwk' }).d!, 'base64url');
  const raw = Buffer.from(hkdfSync('sha256', seed, Buffer.alloc(0), DERIVE_INFO, 32));
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, raw]), format: 'der', type: 'pkcs8' });
  return { privateKey, publicKeyB64: exportSealPublicKey(createPublicKey(privateKey)) };
}

function exportSealPublicKey(publicKey: KeyObject): string {
  return publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_X25519_PREFIX.length).toString('base64url');
}

/** @throws Error when the text is not a 32-byte base64url X25519 public key. */
export function importSealPublicKey(publicKeyB64: string): KeyObject {
  const raw = Buffer.from(publicKeyB64, 'base64url');
  if (raw.length !== 32) throw new Error(`an X25519 public key is 32 bytes, got ${raw.length}`);
  return createPublicKey({ key: Buffer.concat([SPKI_X25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

/**
 * Encrypts `payload` (as canonical JSON) to every recipient: one ephemeral X25519 key per message, a random content
 * key wrapped to each recipient, the envelope's id, type, issuer, correlation id and the recipient names as
 * associated data.
 * @throws CoreError CORE_SEAL_NO_RECIPIENT when there is no recipient or too many.
 */
export function sealPayload(payload: unknown, recipients: readonly SealRecipient[], binding: SealBinding): SealedPayload {
  if (recipients.length === 0 || recipients.length > MAX_RECIPIENTS) {
    throw new CoreError(
      'CORE_SEAL_NO_RECIPIENT',
      `${binding.type}: a seal needs 1 to ${MAX_RECIPIENTS} recipients, got ${recipients.length}`,
    );
  }
  const ephemeral = generateKeyPairSync('x25519');
  const epk = exportSealPublicKey(ephemeral.publicKey);
  const contentKey = randomBytes(32);
  const to = recipients.map(({ client, key }) => ({
    client,
    key: encrypt(wrappingKey(ephemeral.privateKey, key, epk), ZERO_NONCE, contentKey, Buffer.from(client)).toString('base64url'),
  }));
  const nonce = randomBytes(12);
  const aad = associatedData(binding, epk, to);
  const ct = encrypt(contentKey, nonce, canonicalBytes(payload), aad).toString('base64url');
  return { sealed: { v: SEAL_VERSION, epk, to, nonce: nonce.toString('base64url'), ct } };
}

/**
 * Opens a seal made for `client` inside the envelope `binding` describes; undefined when `client` is not a recipient.
 * @throws CoreError CORE_SEAL_MALFORMED when it is not a seal, CORE_SEAL_OPEN_FAILED when it does not open with this
 * key in this envelope (tampered, or lifted from another envelope or issuer).
 */
export function openPayload(payload: unknown, client: string, key: SealingKey, binding: SealBinding): unknown {
  const parsed = sealedPayloadSchema.safeParse(payload);
  if (!parsed.success) throw new CoreError('CORE_SEAL_MALFORMED', `${binding.type} ${binding.id}: not a valid seal`);
  const { epk, to, nonce, ct } = parsed.data.sealed;
  const mine = to.find((entry) => entry.client === client);
  if (!mine) return undefined;
  let plaintext: Buffer;
  try {
    const kek = wrappingKey(key.privateKey, importSealPublicKey(epk), epk, key.publicKeyB64);
    const contentKey = decrypt(kek, ZERO_NONCE, Buffer.from(mine.key, 'base64url'), Buffer.from(client));
    plaintext = decrypt(
      contentKey,
      Buffer.from(nonce, 'base64url'),
      Buffer.from(ct, 'base64url'),
      associatedData(binding, epk, to),
    );
  } catch (cause) {
    throw new CoreError(
      'CORE_SEAL_OPEN_FAILED',
      `${binding.type} ${binding.id} from "${binding.issuer}" is sealed to "${client}" but does not open: tampered, or moved from another envelope`,
      { cause },
    );
  }
  try {
    return JSON.parse(plaintext.toString('utf8')) as unknown;
  } catch (cause) {
    throw new CoreError('CORE_SEAL_MALFORMED', `${binding.type} ${binding.id}: the sealed payload is not JSON`, { cause });
  }
}

/**
 * The envelope as `client` reads it, its payload checked against `schema`: itself when it is not sealed, opened
 * when sealed to `client`, undefined when sealed to others.
 * @throws CoreError CORE_SEAL_OPEN_FAILED, CORE_SEAL_MALFORMED, CORE_ENVELOPE_PAYLOAD_INVALID.
 */
export function openEnvelope<P>(
  envelope: Envelope,
  schema: z.ZodType<P>,
  client: string,
  key: SealingKey,
): Envelope<P> | undefined {
  if (isOpenedEnvelope(envelope)) return envelope as Envelope<P>;
  const sealed = isSealed(envelope.payload);
  const payload = sealed ? openPayload(envelope.payload, client, key, envelope) : envelope.payload;
  if (payload === undefined) return undefined;
  const checked = schema.safeParse(payload);
  if (!checked.success) {
    throw new CoreError('CORE_ENVELOPE_PAYLOAD_INVALID', `${envelope.type} payload invalid: ${describeIssues(checked.error)}`);
  }
  // A clear payload is checked but kept as signed, so its signature still verifies.
  return sealed ? openedEnvelope(envelope, checked.data) : (envelope as Envelope<P>);
}

/** The names a seal is addressed to (visible on the wire). */
export function sealRecipients(payload: SealedPayload): string[] {
  return payload.sealed.to.map((entry) => entry.client);
}

function wrappingKey(privateKey: KeyObject, publicKey: KeyObject, epk: string, recipientB64?: string): Buffer {
  const shared = diffieHellman({ privateKey, publicKey });
  // The salt binds both public keys, as in HPKE's DHKEM: the same shared secret under other keys gives another key.
  const recipient = recipientB64 ?? exportSealPublicKey(publicKey);
  const salt = Buffer.concat([Buffer.from(epk, 'base64url'), Buffer.from(recipient, 'base64url')]);
  return Buffer.from(hkdfSync('sha256', shared, salt, WRAP_INFO, 32));
}

function associatedData(binding: SealBinding, epk: string, to: readonly { client: string }[]): Buffer {
  const { id, type, issuer, correlationId } = binding;
  return canonicalBytes({ v: SEAL_VERSION, id, type, issuer, correlationId, epk, to: to.map((entry) => entry.client) });
}

function encrypt(key: Buffer, nonce: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad, { plaintextLength: plaintext.length });
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function decrypt(key: Buffer, nonce: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  if (sealed.length < TAG_BYTES) throw new Error('ciphertext shorter than its tag');
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad, { plaintextLength: sealed.length - TAG_BYTES });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]);
}
