// The checks every inbound message passes before any handler sees it: size, shape, route, freshness, signature, replay, payload.
import type { Clock } from '../core/clock.js';
import type { MessageRegistry, MessageSpec } from '../core/contract.js';
import { decodeEnvelope, describeIssues, signingInput, type Envelope } from '../core/envelope.js';
import { CoreError } from '../core/errors.js';
import { isSealed, sealedPayloadSchema } from '../core/seal.js';
import type { IssuerKey, TrustedKeys } from './key-directory.js';
import type { ReplayGuard } from './replay-guard.js';
import { inlineVerifier, type Verifier } from './verifier-pool.js';
import type { VerifyCache } from './verify-cache.js';

export interface FreshnessPolicy {
  freshnessWindowMs: number;
  maxStateTtlMs: number;
  maxClockSkewMs: number;
  maxCommandTtlMs: number;
  maxMessageBytes: number;
}

export interface PendingMessage {
  envelope: Envelope;
  spec: MessageSpec;
  topic: string;
  raw: Buffer;
  issuerKey: IssuerKey;
}

export interface AcceptedMessage {
  envelope: Envelope;
  spec: MessageSpec;
  topic: string;
  raw: Buffer;
}

/** A duplicate that is expected (retained state again, or an MQTT redelivery): dropped without an audit event. */
export class ExpectedDuplicate extends Error {}

export class InboundChecks {
  constructor(
    private readonly registry: MessageRegistry,
    private readonly keys: TrustedKeys,
    private readonly replay: ReplayGuard,
    private readonly cache: VerifyCache,
    private readonly policy: FreshnessPolicy,
    private readonly clock: Clock,
    private readonly verifier: Verifier = inlineVerifier,
  ) {}

  /**
   * Runs every check in order, cheap ones first so a flood of junk costs little; for tests and
   * callers that verify on this thread.
   * @throws CoreError with the code of the first check that failed, or ExpectedDuplicate.
   */
  accept(topic: string, raw: Buffer, redelivery: boolean): AcceptedMessage {
    const pending = this.precheck(topic, raw);
    const verdict = this.signature(pending);
    if (verdict instanceof Promise) throw new Error('accept() needs an inline verifier; use precheck/signature/finish');
    return this.finish(pending, verdict, redelivery);
  }

  /** Step 1, on this thread: size, shape, route, freshness, and whose key must have signed. */
  precheck(topic: string, raw: Buffer): PendingMessage {
    const envelope = decodeEnvelope(raw, this.policy.maxMessageBytes);
    const spec = this.registry.checkRoute(envelope.type, envelope.issuer, topic);
    this.#checkFreshness(envelope, spec, this.clock.now());
    const issuerKey = this.keys.keyFor(envelope.issuer, this.clock.now());
    if (!issuerKey) {
      const why = this.keys.expired(this.clock.now())
        ? 'the key directory has expired'
        : `not in key directory v${this.keys.version}`;
      throw new CoreError('CORE_ENVELOPE_UNKNOWN_ISSUER', `issuer "${envelope.issuer}": ${why}`);
    }
    return { envelope, spec, topic, raw, issuerKey };
  }

  /**
   * Step 2: the signature, from the cache (no encoding needed) or the verifier, which may be a worker thread.
   * @throws CoreError CORE_ENVELOPE_MALFORMED when the payload has no canonical encoding.
   */
  signature(pending: PendingMessage): boolean | Promise<boolean> {
    const wireText = pending.raw.toString('latin1');
    const known = this.cache.lookup(pending.issuerKey.publicKeyB64, wireText);
    if (known !== undefined) return known;
    let bytes: Buffer;
    try {
      bytes = signingInput(pending.envelope);
    } catch (cause) {
      // Values JSON can carry but canonical JSON cannot (1e999 parses to Infinity), or nesting too deep to encode.
      throw new CoreError('CORE_ENVELOPE_MALFORMED', `payload has no canonical encoding: ${(cause as Error).message}`, { cause });
    }
    const verdict = this.verifier.verify(pending.issuerKey, bytes, pending.envelope.sig);
    this.cache.record(pending.issuerKey.publicKeyB64, wireText, verdict);
    return verdict;
  }

  /**
   * Step 3, in arrival order: the verdict, replay, payload schema (or, for a sealed payload, the seal's form).
   * @throws CoreError CORE_ENVELOPE_BAD_SIGNATURE, CORE_ENVELOPE_REPLAYED, CORE_ENVELOPE_PAYLOAD_INVALID,
   * CORE_SEAL_REQUIRED, CORE_SEAL_MALFORMED, or ExpectedDuplicate.
   */
  finish(pending: PendingMessage, signatureOk: boolean, redelivery: boolean): AcceptedMessage {
    const { envelope, spec } = pending;
    if (!signatureOk) {
      throw new CoreError('CORE_ENVELOPE_BAD_SIGNATURE', `signature does not verify with the key of "${envelope.issuer}"`);
    }
    // Checked only after the signature, so forged ids cannot fill the replay cache.
    this.#checkReplay(envelope, spec, redelivery, this.clock.now());
    this.#checkPayload(envelope, spec);
    return { envelope, spec, topic: pending.topic, raw: pending.raw };
  }

  #checkFreshness(envelope: Envelope, spec: MessageSpec, now: number): void {
    const { freshnessWindowMs, maxClockSkewMs, maxCommandTtlMs } = this.policy;
    if (envelope.issuedAt > now + maxClockSkewMs) {
      throw new CoreError(
        'CORE_ENVELOPE_FROM_FUTURE',
        `issued ${envelope.issuedAt - now} ms in the future; allowed skew is ${maxClockSkewMs} ms`,
      );
    }
    if (spec.kind === 'event' || spec.kind === 'reply') {
      if (now - envelope.issuedAt > freshnessWindowMs) {
        throw new CoreError('CORE_ENVELOPE_STALE', `issued ${now - envelope.issuedAt} ms ago; window is ${freshnessWindowMs} ms`);
      }
      return;
    }
    if (envelope.expiresAt === undefined) {
      throw new CoreError('CORE_ENVELOPE_MALFORMED', `a ${spec.kind} (${spec.type}) must carry expiresAt`);
    }
    if (envelope.expiresAt + maxClockSkewMs <= now) {
      throw new CoreError('CORE_ENVELOPE_STALE', `expired ${now - envelope.expiresAt} ms ago`);
    }
    if (spec.kind === 'state' && envelope.expiresAt - envelope.issuedAt > this.policy.maxStateTtlMs) {
      throw new CoreError(
        'CORE_ENVELOPE_STALE',
        `state may be valid for at most ${this.policy.maxStateTtlMs} ms, this one for ${envelope.expiresAt - envelope.issuedAt} ms`,
      );
    }
    if (spec.kind !== 'state' && envelope.expiresAt - envelope.issuedAt > maxCommandTtlMs) {
      throw new CoreError(
        'CORE_ENVELOPE_STALE',
        `a ${spec.kind} may be valid for at most ${maxCommandTtlMs} ms, this one for ${envelope.expiresAt - envelope.issuedAt} ms`,
      );
    }
    if (spec.kind === 'request' && (envelope.replyTo === undefined || envelope.correlationId === undefined)) {
      throw new CoreError('CORE_ENVELOPE_MALFORMED', `a request (${spec.type}) must carry replyTo and correlationId`);
    }
  }

  #checkReplay(envelope: Envelope, spec: MessageSpec, redelivery: boolean, now: number): void {
    if (this.replay.has(envelope.id)) {
      if (redelivery || spec.kind === 'state') throw new ExpectedDuplicate(envelope.id);
      throw new CoreError('CORE_ENVELOPE_REPLAYED', `message ${envelope.id} was already accepted`);
    }
    // Long enough that the message can no longer pass freshness. Retained state is idempotent and newer-wins
    // (versions), so its id is kept for the freshness window only, never for its whole validity.
    const { freshnessWindowMs, maxClockSkewMs } = this.policy;
    const fresh = envelope.issuedAt + freshnessWindowMs;
    const until = spec.kind === 'state' ? fresh : Math.max(envelope.expiresAt ?? fresh, fresh);
    this.replay.remember(envelope.id, until + maxClockSkewMs, now);
  }

  #checkPayload(envelope: Envelope, spec: MessageSpec): void {
    if (isSealed(envelope.payload)) {
      // Only a recipient can check what a seal holds; it does so once it has opened it.
      if (spec.sealed?.to === undefined && spec.kind !== 'reply') {
        throw new CoreError('CORE_SEAL_MALFORMED', `${spec.type} travels in clear, but this one came sealed`);
      }
      if (!sealedPayloadSchema.safeParse(envelope.payload).success) {
        throw new CoreError('CORE_SEAL_MALFORMED', `${spec.type} ${envelope.id}: the sealed payload is not a valid seal`);
      }
      return;
    }
    if (spec.sealed?.to !== undefined) {
      throw new CoreError('CORE_SEAL_REQUIRED', `${spec.type} must travel sealed to its recipients; this one came in clear`);
    }
    const result = spec.payload.safeParse(envelope.payload);
    if (!result.success) {
      throw new CoreError('CORE_ENVELOPE_PAYLOAD_INVALID', `${spec.type} payload invalid: ${describeIssues(result.error)}`);
    }
    envelope.payload = result.data;
  }
}
