// The checks every inbound message passes before any handler sees it: size, shape, route, freshness, signature, replay, payload.
import type { Clock } from '../core/clock.js';
import type { MessageRegistry, MessageSpec } from '../core/contract.js';
import { decodeEnvelope, describeIssues, verifyEnvelopeSignature, type Envelope } from '../core/envelope.js';
import { CoreError } from '../core/errors.js';
import type { TrustedKeys } from './key-directory.js';
import type { ReplayGuard } from './replay-guard.js';
import type { VerifyCache } from './verify-cache.js';

export interface FreshnessPolicy {
  freshnessWindowMs: number;
  maxClockSkewMs: number;
  maxCommandTtlMs: number;
  maxMessageBytes: number;
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
  ) {}

  /**
   * Runs every check in order; cheap ones first so a flood of junk costs little.
   * @throws CoreError with the code of the first check that failed, or ExpectedDuplicate.
   */
  accept(topic: string, raw: Buffer, redelivery: boolean): AcceptedMessage {
    const envelope = decodeEnvelope(raw, this.policy.maxMessageBytes);
    const spec = this.registry.checkRoute(envelope.type, envelope.issuer, topic);
    const now = this.clock.now();
    this.#checkFreshness(envelope, spec, now);
    this.#checkSignature(envelope, raw);
    this.#checkReplay(envelope, spec, redelivery, now);
    this.#checkPayload(envelope, spec);
    return { envelope, spec, topic, raw };
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

  #checkSignature(envelope: Envelope, raw: Buffer): void {
    const issuerKey = this.keys.keyFor(envelope.issuer);
    if (!issuerKey) {
      throw new CoreError(
        'CORE_ENVELOPE_UNKNOWN_ISSUER',
        `issuer "${envelope.issuer}" is not in key directory v${this.keys.version}`,
      );
    }
    const wireText = raw.toString('latin1');
    if (this.cache.has(issuerKey.publicKeyB64, wireText)) return;
    if (!verifyEnvelopeSignature(envelope, issuerKey.key)) {
      throw new CoreError('CORE_ENVELOPE_BAD_SIGNATURE', `signature does not verify with the key of "${envelope.issuer}"`);
    }
    this.cache.add(issuerKey.publicKeyB64, wireText);
  }

  #checkReplay(envelope: Envelope, spec: MessageSpec, redelivery: boolean, now: number): void {
    if (this.replay.has(envelope.id)) {
      if (redelivery || spec.kind === 'state') throw new ExpectedDuplicate(envelope.id);
      throw new CoreError('CORE_ENVELOPE_REPLAYED', `message ${envelope.id} was already accepted`);
    }
    const validUntil = envelope.expiresAt ?? envelope.issuedAt + this.policy.freshnessWindowMs;
    this.replay.remember(
      envelope.id,
      Math.max(validUntil, envelope.issuedAt + this.policy.freshnessWindowMs) + this.policy.maxClockSkewMs,
      now,
    );
  }

  #checkPayload(envelope: Envelope, spec: MessageSpec): void {
    const result = spec.payload.safeParse(envelope.payload);
    if (!result.success) {
      throw new CoreError('CORE_ENVELOPE_PAYLOAD_INVALID', `${spec.type} payload invalid: ${describeIssues(result.error)}`);
    }
    envelope.payload = result.data;
  }
}
