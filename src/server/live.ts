// The live event stream of the dashboard: every accepted bus message as a short summary with only allow-listed fields.
import type { AcceptedMessage, BusClient } from '../auth-proxy/index.js';
import type { Clock } from '../core/clock.js';
import type { MessageSpec, PayloadOf } from '../core/contract.js';
import { CLIENT_NAME_PATTERN, type Envelope } from '../core/envelope.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { ChainAlarm, ChainInvoice, ChainPayment } from '../core/messages-chain.js';
import {
  AllowList,
  BusinessDecision,
  MachineActuation,
  MachineCommand,
  MachineInput,
  MachineRefused,
  MachineStatus,
  MachineTap,
} from '../core/messages-machine.js';
import { MailChanged } from '../core/messages-mail.js';
import { PriceRate } from '../core/messages-price.js';
import {
  AuditDenied,
  AuditRejected,
  BalanceChanged,
  KeyDirectory,
  LogCheckpoint,
  MemberChanged,
  MemberStatusChanged,
  Ping,
  Replayed,
  Revocations,
  RpcPrivateReply,
  RpcReply,
  ServiceStatus,
  SettingChanged,
  Topics,
} from '../core/messages.js';
import { isSealed } from '../core/seal.js';
import { topicMatches } from '../core/topic-filter.js';

export type SummaryValue = string | number | boolean | null;
export type Summary = Readonly<Record<string, SummaryValue>>;

/** One bus message as the dashboard shows it: who sent what where, and the few fields of it that are safe to show. */
export interface LiveEvent {
  /** The envelope id (a ULID); also the SSE event id. */
  id: string;
  /** When the issuer says it happened (the envelope's issuedAt), epoch ms. */
  at: number;
  /** When the Server heard it, by its clock, epoch ms. */
  receivedAt: number;
  type: string;
  topic: string;
  issuer: string;
  /** Only the fields the allow-list names for this type; empty for a type it does not know. */
  summary: Summary;
}

export type LiveListener = (event: LiveEvent) => void;

export interface LiveFeed {
  /** Registers on the bus client and subscribes to dctrl/v1/#; the client must be started. */
  start(): Promise<void>;
  /** Stops passing messages on and forgets every listener; the buffer stays readable. */
  stop(): void;
  /** Calls `listener` with each new event until the returned function is called. */
  subscribe(listener: LiveListener): () => void;
  /**
   * The newest events, oldest first: at most `limit`, and only those after `afterId` when it is still in the
   * buffer (an SSE client's Last-Event-ID); every buffered one up to `limit` when it is not.
   */
  recent(limit?: number, afterId?: string): LiveEvent[];
}

export interface LiveFeedOptions {
  bus: BusClient;
  clock: Clock;
  /** How many events `recent` keeps. */
  bufferSize: number;
  logger?: Logger;
}

type Redactor = (payload: unknown) => Summary;

const CODE = /^[A-Z][A-Z0-9_]{0,63}$/;
const MESSAGE_TYPE = /^[a-z][a-z0-9.-]{0,63}$/;

function shaped(form: RegExp, value: string | undefined): string | null {
  return value !== undefined && form.test(value) ? value : null;
}

function rule<S extends MessageSpec>(spec: S, pick: (payload: PayloadOf<S>) => Summary): [string, Redactor] {
  return [spec.type, (payload) => pick(payload as PayloadOf<S>)];
}

/**
 * What each type may show, named field by field: a field added to a payload later stays hidden until it is named
 * here. Never names, emails, fob hashes, addresses, txids, free-text notes or messages, tokens or keys; no balances
 * or ledger amounts either, since the stream is also shown on a wall screen.
 */
const REDACTORS: ReadonlyMap<string, Redactor> = new Map([
  rule(ServiceStatus, (p) => ({ state: p.state, version: p.version })),
  // Audits repeat what a client claimed, which may be anything it typed: shown only when it has the expected form.
  rule(AuditRejected, (p) => ({
    reason: shaped(CODE, p.reason),
    claimedType: shaped(MESSAGE_TYPE, p.claimedType),
    suppressed: p.suppressed,
  })),
  rule(AuditDenied, (p) => ({ client: shaped(CLIENT_NAME_PATTERN, p.client), action: p.action, reason: shaped(CODE, p.reason) })),
  rule(KeyDirectory, (p) => ({ version: p.version, keys: p.keys.length })),
  rule(Revocations, (p) => ({ version: p.version, revoked: p.revoked.length })),
  rule(LogCheckpoint, (p) => ({ seq: p.seq })),
  rule(SettingChanged, (p) => ({ kind: p.kind, key: p.key, effectiveFrom: p.effectiveFrom, recordedBy: p.recordedBy })),
  rule(MemberChanged, (p) => ({ memberId: p.member.memberId, event: p.event, status: p.member.status })),
  rule(MemberStatusChanged, (p) => ({ memberId: p.memberId, active: p.active, reason: p.reason })),
  rule(BalanceChanged, (p) => ({ memberId: p.memberId, kind: p.entry.kind })),
  rule(MachineTap, (p) => ({ device: p.device, lastDigits: p.fob.lastDigits, reader: p.reader })),
  rule(MachineInput, (p) => ({ device: p.device, input: p.input, kind: p.kind, value: p.value })),
  rule(MachineCommand, (p) => ({ device: p.device, action: p.action, count: p.count, reason: p.reason })),
  rule(AllowList, (p) => ({ device: p.device, version: p.version, entries: p.entries.length, expiresAt: p.expiresAt })),
  rule(MachineActuation, (p) => ({
    device: p.device,
    action: p.action,
    output: p.output,
    sequence: p.sequence,
    outcome: p.outcome,
    errorCode: p.error?.code ?? null,
  })),
  rule(MachineRefused, (p) => ({ device: p.device, what: p.what, code: p.code })),
  rule(MachineStatus, (p) => ({
    device: p.device,
    kind: p.kind,
    mode: p.mode,
    queuedVends: p.queuedVends,
    offlineLogPending: p.offlineLogPending,
  })),
  rule(BusinessDecision, (p) => ({
    device: p.device,
    kind: p.kind,
    via: p.via,
    allowed: p.allowed,
    reason: p.reason,
    memberId: p.memberId,
    product: p.product,
    count: p.count,
  })),
  rule(ChainPayment, (p) => ({ event: p.event, sats: p.sats, confirmations: p.confirmations, ownerKind: p.ownerKind })),
  rule(ChainAlarm, (p) => ({ code: p.code, cleared: p.cleared })),
  rule(ChainInvoice, (p) => ({ id: p.id, state: p.state, previousState: p.previousState, product: p.product })),
  rule(MailChanged, (p) => ({ kind: p.kind, state: p.state, errorCode: p.errorCode })),
  rule(PriceRate, (p) => ({
    available: p.available,
    currency: p.currency,
    centsPerBtc: p.available ? p.centsPerBtc : null,
    code: p.available ? null : p.code,
  })),
]);

/** Replies answer one requester; copies of logged messages (a replay) and health probes are not news. */
const NEVER_SHOWN: ReadonlySet<string> = new Set([RpcReply.type, RpcPrivateReply.type, Replayed.type, Ping.type]);

/** Heartbeats are re-sent unchanged every few seconds; only a change is shown. */
const HEARTBEATS: ReadonlySet<string> = new Set([ServiceStatus.type, MachineStatus.type]);

const PRIVATE_ROOT = 'dctrl/private/#';
const ANY_REPLY = `${Topics.root}/+/reply/#`;

/**
 * The live summary of one accepted message, or null when it is never shown: replies, anything on the private tree
 * or a reply topic, replays and probes. Pure, so a logged envelope can be shown the same way; a sealed one (the
 * Server is not among its recipients, or it comes from the log) shows only its type, topic and issuer.
 */
export function summarizeMessage(envelope: Envelope, topic: string, receivedAt: number): LiveEvent | null {
  if (NEVER_SHOWN.has(envelope.type) || topicMatches(PRIVATE_ROOT, topic) || topicMatches(ANY_REPLY, topic)) return null;
  const redact = REDACTORS.get(envelope.type);
  return {
    id: envelope.id,
    at: envelope.issuedAt,
    receivedAt,
    type: envelope.type,
    topic,
    issuer: envelope.issuer,
    // Sealed to others than the Server: what it says stays unknown here too.
    summary: redact && !isSealed(envelope.payload) ? redact(envelope.payload) : {},
  };
}

/** Builds the feed; nothing is heard until `start()`. */
export function createLiveFeed(options: LiveFeedOptions): LiveFeed {
  const { bus, clock, bufferSize } = options;
  const log = (options.logger ?? silentLogger).child({ part: 'live' });
  const buffer: LiveEvent[] = [];
  const listeners = new Set<LiveListener>();
  const lastHeartbeat = new Map<string, string>();
  let started = false;
  let stopped = false;

  const isRepeatedHeartbeat = (event: LiveEvent): boolean => {
    if (!HEARTBEATS.has(event.type)) return false;
    const key = `${event.type} ${event.issuer}`;
    const said = JSON.stringify(event.summary);
    if (lastHeartbeat.get(key) === said) return true;
    lastHeartbeat.set(key, said);
    return false;
  };

  const hear = ({ envelope, topic, opened }: AcceptedMessage & { opened?: Envelope }): void => {
    if (stopped) return;
    const event = summarizeMessage(opened ?? envelope, topic, clock.now());
    if (!event || isRepeatedHeartbeat(event)) return;
    buffer.push(event);
    if (buffer.length > bufferSize) buffer.splice(0, buffer.length - bufferSize);
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        // One broken stream must not keep the event from the others.
        log.warn({ err: (error as Error).message }, 'live listener failed; removed');
        listeners.delete(listener);
      }
    }
  };

  return {
    async start() {
      if (started) return;
      started = true;
      bus.onAny(hear);
      await bus.subscribe(Topics.everything);
    },
    stop() {
      stopped = true;
      listeners.clear();
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    recent(limit = bufferSize, afterId) {
      const from = afterId === undefined ? -1 : buffer.findIndex((event) => event.id === afterId);
      const after = from === -1 ? buffer : buffer.slice(from + 1);
      return limit <= 0 ? [] : after.slice(-limit);
    },
  };
}
