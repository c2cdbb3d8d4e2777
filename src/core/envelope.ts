// The signed envelope every bus message travels in: structure, canonical signing input, encode/decode.
import { z } from 'zod';
import { canonicalBytes } from './canonical.js';
import { CoreError } from './errors.js';
import { isMessageId } from './ids.js';
import { signBytes, verifyBytes, type SigningKey } from './keys.js';
import type { KeyObject } from 'node:crypto';

export const ENVELOPE_VERSION = 1;
export const CLIENT_NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;

export const clientNameSchema = z.string().regex(CLIENT_NAME_PATTERN, 'a client name is lowercase letters, digits and "-"');
const epochMs = z.int().nonnegative();

const envelopeSchema = z.strictObject({
  v: z.literal(ENVELOPE_VERSION),
  id: z.string().refine(isMessageId, 'id must be a ULID'),
  type: z.string().min(1).max(128),
  issuer: clientNameSchema,
  issuedAt: epochMs,
  expiresAt: epochMs.optional(),
  replyTo: z.string().min(1).max(512).optional(),
  correlationId: z.string().min(1).max(128).optional(),
  payload: z.unknown(),
  sig: z.string().length(86),
});

export type Envelope<P = unknown> = Omit<z.infer<typeof envelopeSchema>, 'payload'> & { payload: P };
export type UnsignedEnvelope<P = unknown> = Omit<Envelope<P>, 'sig'>;

// An opened envelope shows its recipient the plaintext; the signature and the wire still carry the seal.
const sealedPayloads = new WeakMap<object, unknown>();

/** The envelope as its recipient reads it: the opened payload in place of the seal, which it still encodes and verifies as. */
export function openedEnvelope<P>(wire: Envelope, payload: P): Envelope<P> {
  const opened = { ...wire, payload };
  sealedPayloads.set(opened, sealedPayloads.has(wire) ? sealedPayloads.get(wire) : wire.payload);
  return opened;
}

/** True for an envelope that was opened from a seal. */
export function isOpenedEnvelope(envelope: Envelope): boolean {
  return sealedPayloads.has(envelope);
}

/** The envelope as it travels and was signed: with the seal, for an opened one. */
export function wireEnvelope<P>(envelope: Envelope<P>): Envelope {
  return sealedPayloads.has(envelope) ? { ...envelope, payload: sealedPayloads.get(envelope) } : envelope;
}

/** The bytes a signature covers: the canonical encoding of every field but the signature. */
export function signingInput(envelope: UnsignedEnvelope): Buffer {
  const { v, id, type, issuer, issuedAt, expiresAt, replyTo, correlationId } = envelope;
  const payload = sealedPayloads.has(envelope) ? sealedPayloads.get(envelope) : envelope.payload;
  return canonicalBytes({ v, id, type, issuer, issuedAt, expiresAt, replyTo, correlationId, payload });
}

export function signEnvelope<P>(unsigned: UnsignedEnvelope<P>, key: SigningKey): Envelope<P> {
  return { ...unsigned, sig: signBytes(key, signingInput(unsigned)) };
}

export function verifyEnvelopeSignature(envelope: Envelope, publicKey: KeyObject): boolean {
  return verifyBytes(publicKey, signingInput(envelope), envelope.sig);
}

/** The wire bytes; an opened envelope is encoded sealed, as it was signed. */
export function encodeEnvelope(envelope: Envelope): Buffer {
  return Buffer.from(JSON.stringify(wireEnvelope(envelope)), 'utf8');
}

/**
 * Parses wire bytes into an envelope whose structure (not yet signature or payload) is valid.
 * @throws CoreError CORE_ENVELOPE_TOO_LARGE or CORE_ENVELOPE_MALFORMED.
 */
export function decodeEnvelope(bytes: Buffer, maxBytes: number): Envelope {
  if (bytes.length > maxBytes) {
    throw new CoreError('CORE_ENVELOPE_TOO_LARGE', `message is ${bytes.length} bytes; the limit is ${maxBytes}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (cause) {
    throw new CoreError('CORE_ENVELOPE_MALFORMED', `message is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  const result = envelopeSchema.safeParse(parsed);
  if (!result.success) {
    throw new CoreError('CORE_ENVELOPE_MALFORMED', `not a valid envelope: ${describeIssues(result.error)}`);
  }
  return result.data;
}

/** One line naming each invalid field: `"issuedAt": expected int, received string`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `"${issue.path.join('.') || '(root)'}": ${issue.message}`)
    .join('; ');
}
