// AuthProxy: the only way a service touches the bus. Signs what it sends, checks what it receives, renews its token.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import type { Clock } from '../core/clock.js';
import { MessageRegistry, type MessageSpec, type PayloadOf } from '../core/contract.js';
import {
  encodeEnvelope,
  signEnvelope,
  type Envelope,
  describeIssues,
  isOpenedEnvelope,
  openedEnvelope,
} from '../core/envelope.js';
import { CoreError, DctrlError, errorFromWire, errorToWire } from '../core/errors.js';
import { createIdFactory, type IdFactory } from '../core/ids.js';
import type { SigningKey } from '../core/keys.js';
import type { Logger } from '../core/logger.js';
import {
  AuditRejected,
  DirectoryGet,
  KeyDirectory,
  Revocations,
  RpcPrivateReply,
  RpcReply,
  ServiceStatus,
  Topics,
  TokenRenew,
} from '../core/messages.js';
import {
  deriveSealingKey,
  openEnvelope,
  sealPayload,
  SESSION_RENEWAL,
  type SealingKey,
  type SealRecipient,
} from '../core/seal.js';
import { readTokenUnverified, type TokenClaims } from '../core/token.js';
import { anyFilterContains, anyFilterMatches, assertTopicFilter, assertTopicName, topicMatches } from '../core/topic-filter.js';
import { AuditLimiter } from '../core/audit-limiter.js';
import { brokerRefusal } from './broker-trust.js';
import { AuthProxyError } from './errors.js';
import { ExpectedDuplicate, InboundChecks, type AcceptedMessage, type FreshnessPolicy, type PendingMessage } from './inbound.js';
import { inlineVerifier, type Verifier } from './verifier-pool.js';
import { ROOT_ISSUER, TrustedKeys, type DirectoryPayload } from './key-directory.js';
import { ReplayGuard } from './replay-guard.js';
import { VerifyCache } from './verify-cache.js';

export interface BusClientOptions {
  client: string;
  signingKey: SigningKey;
  token: string;
  rootPublicKey: string;
  brokerUrl: string;
  caFile?: string;
  /** The CA (PEM) the broker's certificate must chain to, pinned by the credentials bundle; beats caFile. */
  ca?: string;
  registry: MessageRegistry;
  clock: Clock;
  logger: Logger;
  policy: FreshnessPolicy & { auditPerSecond: number; requestTimeoutMs: number; heartbeatMs: number };
  /** Version string in the heartbeat. */
  version?: string;
  /** Suffix of the MQTT client id for a second instance of one client; sessions are kept per id. */
  instance?: string;
  /** Keep the broker session across reconnects so QoS 1 messages wait for us. Default true. */
  persistentSession?: boolean;
  /** A directory already verified in this process (embedded mode), so start() need not wait for the retained one. */
  initialDirectory?: { directory: DirectoryPayload; expiresAt: number };
  verifyCache?: VerifyCache;
  /** Where signatures are checked: this thread by default, or a shared pool of worker threads. */
  verifier?: Verifier;
  /** Renew the token over the bus before it expires. Default true. */
  renewToken?: boolean;
  /** Told each renewed token, to keep it for the next start. */
  onTokenRenewed?: (token: string) => void;
}

export type RevocationList = PayloadOf<typeof Revocations>;

export interface MessageContext {
  topic: string;
  raw: Buffer;
}

export type Handler<P> = (payload: P, envelope: Envelope<P>, context: MessageContext) => void | Promise<void>;
/**
 * Sees each accepted message as signed (a sealed payload stays sealed), with `opened` when this client is one of
 * its recipients and could open it.
 */
export type AnyHandler = (accepted: AcceptedMessage & { opened?: Envelope }) => void | Promise<void>;
export type Responder<P, R> = (payload: P, envelope: Envelope<P>) => R | Promise<R>;
export type RejectionListener = (rejection: {
  topic: string;
  code: string;
  message: string;
  envelope?: Partial<Envelope>;
  /** The bytes as received, when the message got as far as being read; never trusted. */
  raw?: Buffer;
}) => void;

interface PendingRequest {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
  spec: MessageSpec;
  responder: string;
}

const DIRECTORY_WAIT_MS = 10_000;
/** Asking the Vault again when it did not answer; also the shortest wait between two refreshes. */
const DIRECTORY_RETRY_MS = 5_000;
const RENEW_RETRY_MS = 5_000;
const STOP_GRACE_MS = 2_000;

export class BusClient {
  readonly client: string;
  readonly #options: BusClientOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #nextId: IdFactory;
  readonly #keys: TrustedKeys;
  readonly #sealingKey: SealingKey;
  readonly #checks: InboundChecks;
  readonly #replay = new ReplayGuard();
  readonly #audit: AuditLimiter;
  readonly #handlers = new Map<string, Handler<unknown>[]>();
  readonly #anyHandlers: AnyHandler[] = [];
  readonly #rejectionListeners: RejectionListener[] = [];
  readonly #pending = new Map<string, PendingRequest>();
  readonly #subscriptions = new Set<string>();
  readonly #replyTopic: string;
  readonly #privateReplyTopic: string;
  readonly #directoryWaiters: (() => void)[] = [];
  readonly #revocationListeners: ((list: RevocationList) => void)[] = [];
  #revocations: RevocationList | undefined;
  #directoryTimer: NodeJS.Timeout | undefined;
  #token: string;
  #claims: TokenClaims;
  #mqtt: MqttClient | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  #pruneTimer: NodeJS.Timeout | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #startedAt = 0;
  #stopped = false;
  #verifying = 0;
  #inboundTail: Promise<void> = Promise.resolve();

  constructor(options: BusClientOptions) {
    this.client = options.client;
    this.#options = options;
    this.#clock = options.clock;
    this.#log = options.logger.child({ bus: options.client });
    this.#nextId = createIdFactory(options.clock);
    this.#keys = new TrustedKeys(options.rootPublicKey);
    this.#sealingKey = deriveSealingKey(options.signingKey);
    if (options.initialDirectory) this.#keys.apply(options.initialDirectory.directory, options.initialDirectory.expiresAt);
    this.#checks = new InboundChecks(
      options.registry,
      this.#keys,
      this.#replay,
      options.verifyCache ?? new VerifyCache(),
      options.policy,
      options.clock,
      options.verifier ?? inlineVerifier,
    );
    this.#audit = new AuditLimiter(options.policy.auditPerSecond, options.clock);
    this.#token = options.token;
    this.#claims = readTokenUnverified(options.token);
    const instance = options.instance ?? randomBytes(6).toString('hex');
    this.#replyTopic = `${Topics.replyBase(options.client)}/${instance}`;
    this.#privateReplyTopic = `${Topics.privateReplyBase(options.client)}/${instance}`;
    this.on(KeyDirectory, (directory, envelope) => this.#applyDirectory(directory, envelope.expiresAt!));
    this.on(Revocations, (list) => this.#applyRevocations(list));
    this.on(RpcReply, (reply, envelope) => this.#settleRequest(reply, envelope));
    this.on(RpcPrivateReply, (reply, envelope) => this.#settleRequest(reply, envelope));
  }

  get connected(): boolean {
    return this.#mqtt?.connected ?? false;
  }

  get tokenClaims(): TokenClaims {
    return this.#claims;
  }

  get directoryVersion(): number {
    return this.#keys.version;
  }

  /** The newest revocation list heard (retained or from the Vault), if any. */
  get revocations(): RevocationList | undefined {
    return this.#revocations;
  }

  /**
   * Told each revocation list newer than (or as new as) the one held; never an older one, which a broker could
   * replay to un-revoke a token. Subscribe to Topics.revocations for the retained copies as well.
   */
  onRevocations(listener: (list: RevocationList) => void): void {
    this.#revocationListeners.push(listener);
    if (this.#revocations) listener(this.#revocations);
  }

  /** Connects, subscribes to the key directory and its reply topic, and waits until it knows who may sign what. */
  async start(): Promise<void> {
    const { brokerUrl, ca, caFile, client, instance, persistentSession } = this.#options;
    const connection = mqtt.connect(brokerUrl, {
      clientId: instance ? `${client}:${instance}` : client,
      username: client,
      password: this.#token,
      protocolVersion: 4,
      clean: !(persistentSession ?? true),
      reconnectPeriod: 1_000,
      connectTimeout: 10_000,
      resubscribe: true,
      queueQoSZero: false,
      ...(ca ? { ca } : caFile ? { ca: readFileSync(caFile) } : {}),
      rejectUnauthorized: true,
    });
    this.#mqtt = connection;
    connection.on('message', (topic, payload, packet) => {
      try {
        this.#receive(topic, payload, packet.dup);
      } catch (error) {
        // Whatever a message holds, it must not take the process down.
        this.#rejectError(topic, error, payload);
      }
    });
    connection.on('error', (error) => this.#log.warn({ err: error.message }, 'bus connection error'));
    connection.on('reconnect', () => this.#log.debug('reconnecting to broker'));
    connection.on('connect', (connack) => {
      // Each reconnect makes a new socket; without this a request waits ~40 ms per hop for Nagle and delayed ACKs.
      (connection.stream as { setNoDelay?: (noDelay: boolean) => void } | undefined)?.setNoDelay?.(true);
      this.#log.debug({ sessionPresent: connack.sessionPresent }, 'connected to broker');
    });
    try {
      await waitForConnect(connection, this.#options.brokerUrl);
      await this.subscribe(Topics.directory);
      await this.subscribe(this.#replyTopic);
      await this.subscribe(this.#privateReplyTopic);
      await this.#waitForDirectory();
    } catch (error) {
      await this.stop();
      throw error;
    }
    this.#pruneTimer = setInterval(() => this.#replay.prune(this.#clock.now()), 1_000).unref();
    this.#startedAt = this.#clock.now();
    this.#scheduleDirectoryRefresh();
    await this.#heartbeat('up');
    this.#heartbeatTimer = setInterval(() => void this.#heartbeat('up'), this.#options.policy.heartbeatMs).unref();
    if (this.#options.renewToken ?? true) this.#scheduleRenewal();
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    clearInterval(this.#heartbeatTimer);
    if (this.#mqtt?.connected && this.#startedAt > 0)
      await withTimeout(this.#heartbeat('stopping'), STOP_GRACE_MS).catch(() => undefined);
    this.#stopped = true;
    clearTimeout(this.#renewTimer);
    clearTimeout(this.#directoryTimer);
    clearInterval(this.#pruneTimer);
    for (const [correlationId, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new AuthProxyError('AUTH_PROXY_STOPPED', `request ${correlationId} abandoned: bus client stopped`));
    }
    this.#pending.clear();
    const connection = this.#mqtt;
    if (!connection) return;
    // Wait for in-flight QoS 1 acks while connected, but never forever: a cut session cannot ack.
    const graceful = connection.connected ? connection.endAsync(false) : Promise.reject(new Error('offline'));
    await withTimeout(graceful, STOP_GRACE_MS).catch(() => connection.endAsync(true));
  }

  /** Registers a handler for one message type; subscribe separately to the topics that carry it. */
  on<S extends MessageSpec>(spec: S, handler: Handler<PayloadOf<S>>): void {
    const list = this.#handlers.get(spec.type) ?? [];
    list.push(handler as Handler<unknown>);
    this.#handlers.set(spec.type, list);
  }

  /** Sees every accepted message, whatever its type (the EventLogger). */
  onAny(handler: AnyHandler): void {
    this.#anyHandlers.push(handler);
  }

  /** Told of every message dropped by the checks, with its code: for tests and metrics. */
  onRejected(listener: RejectionListener): void {
    this.#rejectionListeners.push(listener);
  }

  /** @throws AuthProxyError AUTH_PROXY_NOT_GRANTED when the token does not allow the filter. */
  async subscribe(filter: string): Promise<void> {
    assertTopicFilter(filter);
    if (!anyFilterContains(this.#claims.grants.sub, filter)) {
      throw new AuthProxyError('AUTH_PROXY_NOT_GRANTED', `token of "${this.client}" does not grant subscribing to ${filter}`);
    }
    if (this.#subscriptions.has(filter)) return;
    try {
      const granted = await this.#connection().subscribeAsync(filter, { qos: 1 });
      // [MQTT-3.9.3] 0x80 in SUBACK is the broker's refusal; mqtt.js may resolve or reject with it.
      if (granted.some((grant) => grant.qos === 128)) throw new Error('SUBACK 0x80');
    } catch (cause) {
      throw new AuthProxyError('AUTH_PROXY_NOT_GRANTED', `broker refused the subscription to ${filter}`, { cause });
    }
    this.#subscriptions.add(filter);
  }

  /** Registers a handler and subscribes to every topic the type travels on (from any issuer it allows). */
  async listen<S extends MessageSpec>(spec: S, handler: Handler<PayloadOf<S>>, topic?: string): Promise<void> {
    this.on(spec, handler);
    await this.subscribe(topic ?? spec.topic.replaceAll('{issuer}', '+'));
  }

  /**
   * Signs and publishes one message (QoS 1). Queued by the MQTT client while the broker is away.
   * @throws AuthProxyError AUTH_PROXY_PAYLOAD_INVALID or AUTH_PROXY_NOT_GRANTED before anything is sent.
   */
  async publish<S extends MessageSpec>(
    spec: S,
    payload: PayloadOf<S>,
    options: { topic?: string; expiresInMs?: number; replyTo?: string; correlationId?: string; sealTo?: readonly string[] } = {},
  ): Promise<Envelope<PayloadOf<S>>> {
    const envelope = this.seal(spec, payload, options);
    await this.sendSealed(spec, envelope, options.topic);
    return envelope;
  }

  /**
   * Builds and signs an envelope without sending it: for commands handed to another path, and the benchmark. When the
   * type travels sealed (or `sealTo` names recipients) the payload is sealed inside the signature; the envelope
   * returned shows the plaintext but encodes and verifies as sealed.
   * @throws AuthProxyError AUTH_PROXY_PAYLOAD_INVALID; CoreError CORE_SEAL_NO_KEY when no recipient has a key.
   */
  seal<S extends MessageSpec>(
    spec: S,
    payload: PayloadOf<S>,
    options: { expiresInMs?: number; replyTo?: string; correlationId?: string; topic?: string; sealTo?: readonly string[] } = {},
  ): Envelope<PayloadOf<S>> {
    const checked = spec.payload.safeParse(payload);
    if (!checked.success) {
      throw new AuthProxyError('AUTH_PROXY_PAYLOAD_INVALID', `${spec.type}: ${describeIssues(checked.error)}`);
    }
    const issuedAt = this.#clock.now();
    const expiresInMs = options.expiresInMs ?? defaultLifetime(spec, this.#options.policy.maxCommandTtlMs);
    const unsigned = {
      v: 1 as const,
      id: this.#nextId(),
      type: spec.type,
      issuer: this.client,
      issuedAt,
      ...(expiresInMs !== undefined ? { expiresAt: issuedAt + expiresInMs } : {}),
      ...(options.replyTo !== undefined ? { replyTo: options.replyTo } : {}),
      ...(options.correlationId !== undefined ? { correlationId: options.correlationId } : {}),
      payload: checked.data as PayloadOf<S>,
    };
    const recipients = options.sealTo ?? recipientsOf(spec, unsigned.payload, options.topic);
    if (recipients === undefined) return signEnvelope(unsigned, this.#options.signingKey);
    const sealed = sealPayload(unsigned.payload, this.#sealKeysOf(spec.type, recipients), unsigned);
    return openedEnvelope(signEnvelope({ ...unsigned, payload: sealed }, this.#options.signingKey), unsigned.payload);
  }

  /**
   * Opens an envelope sealed to this client (a stored allow-list at start); the envelope itself when it is not
   * sealed, undefined when this client is not a recipient.
   * @throws CoreError CORE_SEAL_OPEN_FAILED, CORE_SEAL_MALFORMED, CORE_ENVELOPE_PAYLOAD_INVALID.
   */
  open<P>(envelope: Envelope, spec: MessageSpec<P>): Envelope<P> | undefined {
    return openEnvelope(envelope, spec.payload, this.client, this.#sealingKey);
  }

  /** Recipients without a key in the directory are not running anywhere and are left out; none at all is an error. */
  #sealKeysOf(type: string, names: readonly string[]): SealRecipient[] {
    const now = this.#clock.now();
    const recipients: SealRecipient[] = [];
    for (const client of new Set(names)) {
      const key = this.#keys.sealKeyFor(client, now);
      if (key) recipients.push({ client, key });
    }
    if (recipients.length === 0) {
      throw new CoreError(
        'CORE_SEAL_NO_KEY',
        `${type} is sealed to ${names.join(', ') || 'nobody'}, but the key directory lists no encryption key for ${names.length === 1 ? 'it' : 'any of them'}`,
      );
    }
    return recipients;
  }

  async sendSealed(spec: MessageSpec, envelope: Envelope, topic?: string): Promise<void> {
    const target = topic ?? spec.topic.replaceAll('{issuer}', this.client);
    assertTopicName(target);
    if (!topicMatches(spec.topic.replaceAll('{issuer}', this.client), target)) {
      throw new AuthProxyError('AUTH_PROXY_NOT_GRANTED', `${spec.type} may not travel on ${target}`);
    }
    this.#assertMayPublish(target);
    await this.#connection().publishAsync(target, encodeEnvelope(envelope), { qos: 1, retain: spec.retained ?? false });
  }

  /**
   * Sends a request and waits for the reply from the service that owns the request topic.
   * @throws RemoteError with the responder's code; AuthProxyError AUTH_PROXY_REQUEST_TIMEOUT or AUTH_PROXY_REPLY_INVALID.
   */
  request<S extends MessageSpec>(
    spec: S,
    payload: PayloadOf<S>,
    options: { timeoutMs?: number; topic?: string } = {},
  ): Promise<unknown> {
    const timeoutMs = Math.min(options.timeoutMs ?? this.#options.policy.requestTimeoutMs, this.#options.policy.maxCommandTtlMs);
    const correlationId = this.#nextId();
    const responder = ownerOfTopic(options.topic ?? spec.topic);
    let fail: (error: Error) => void = () => undefined;
    const reply = new Promise<unknown>((resolve, reject) => {
      fail = (error) => {
        const pending = this.#pending.get(correlationId);
        clearTimeout(pending?.timer);
        this.#pending.delete(correlationId);
        reject(error);
      };
      const timer = setTimeout(
        () =>
          fail(
            new AuthProxyError('AUTH_PROXY_REQUEST_TIMEOUT', `${spec.type} to ${responder} got no reply within ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      this.#pending.set(correlationId, { resolve, reject, timer, spec, responder });
    });
    // The reply, the timeout or a failure to send settles the request; a send still queued while the broker
    // is away does not hold it past its timeout.
    const replyTo = spec.privateReply ? this.#privateReplyTopic : this.#replyTopic;
    const target = options.topic !== undefined ? { topic: options.topic } : {};
    this.publish(spec, payload, { expiresInMs: timeoutMs, replyTo, correlationId, ...target }).catch((error: unknown) =>
      fail(error instanceof Error ? error : new Error(String(error))),
    );
    return reply;
  }

  /**
   * Answers requests of one type (on `topic` when the type's topic has a wildcard for the responder, such as a
   * device's own); a thrown DctrlError goes back to the caller as its code and message.
   */
  async respond<S extends MessageSpec, R>(spec: S, responder: Responder<PayloadOf<S>, R>, topic?: string): Promise<void> {
    const handler: Handler<PayloadOf<S>> = async (payload, envelope, context) => {
      if (topic !== undefined && context.topic !== topic) return;
      const replyTo = envelope.replyTo!;
      const replyBase = spec.privateReply ? Topics.privateReplyBase(envelope.issuer) : Topics.replyBase(envelope.issuer);
      if (!topicMatches(`${replyBase}/+`, replyTo)) {
        this.#reject(
          replyTo,
          'AUTH_PROXY_REPLY_TO_FORBIDDEN',
          `reply topic ${replyTo} is not one of "${envelope.issuer}"`,
          envelope,
        );
        return;
      }
      let reply: PayloadOf<typeof RpcReply>;
      try {
        this.#assertMayAsk(spec, envelope, context.topic);
        reply = { ok: true, result: await responder(payload, envelope) };
      } catch (error) {
        if (!(error instanceof DctrlError)) this.#log.error({ err: error, type: spec.type }, 'request handler failed');
        reply = { ok: false, error: errorToWire(error) };
      }
      await this.publish(spec.privateReply ? RpcPrivateReply : RpcReply, reply, {
        topic: replyTo,
        correlationId: envelope.correlationId!,
        ...(spec.sealed?.reply ? { sealTo: [envelope.issuer] } : {}),
      });
    };
    await this.listen(spec, handler, topic);
  }

  /**
   * The contract's askers, checked here so that no handler runs for a client the broker should have stopped;
   * a refusal is audited and answered with its code.
   */
  #assertMayAsk(spec: MessageSpec, envelope: Envelope, topic: string): void {
    if (MessageRegistry.mayAsk(spec, envelope.issuer)) return;
    const allowed = spec.askers === undefined || spec.askers === 'any' ? 'nobody' : spec.askers.join(', ');
    const message = `"${envelope.issuer}" may not ask ${spec.type}; the contract lets ${allowed} ask it`;
    this.#reject(topic, 'AUTH_PROXY_ASKER_NOT_ALLOWED', message, envelope);
    throw new AuthProxyError('AUTH_PROXY_ASKER_NOT_ALLOWED', message);
  }

  /** Hands the broker a renewed token for this session and for every later reconnect. */
  async useToken(token: string): Promise<void> {
    this.#claims = readTokenUnverified(token);
    this.#token = token;
    try {
      this.#options.onTokenRenewed?.(token);
    } catch (error) {
      this.#log.error({ err: (error as Error).message }, 'could not save the renewed token; the next start uses the old one');
    }
    const connection = this.#connection();
    connection.options.password = token;
    const sealed = this.#sealedRenewal(token);
    if (connection.connected && sealed) await connection.publishAsync(Topics.sessionRenew, sealed, { qos: 1 });
    this.#scheduleRenewal();
  }

  /**
   * The renewed token sealed to the embedded broker's own client, which alone reads Topics.sessionRenew: on a
   * foreign broker (Mosquitto) anyone may subscribe there. With no subscription-mgr in the directory nothing is
   * sent, and the token is used from the next reconnect on.
   */
  #sealedRenewal(token: string): Buffer | undefined {
    const key = this.#keys.sealKeyFor(SESSION_RENEWAL.reader, this.#clock.now());
    if (!key) return undefined;
    const binding = { id: this.#nextId(), type: SESSION_RENEWAL.type, issuer: this.client };
    const sealed = sealPayload({ token }, [{ client: SESSION_RENEWAL.reader, key }], binding);
    return Buffer.from(JSON.stringify({ id: binding.id, issuer: binding.issuer, ...sealed }));
  }

  /** The retained status that says this client is alive (or leaving), for dashboards and operators. */
  async #heartbeat(state: 'up' | 'stopping'): Promise<void> {
    try {
      await this.publish(
        ServiceStatus,
        { state, startedAt: this.#startedAt, version: this.#options.version ?? 'unknown' },
        { expiresInMs: state === 'up' ? this.#options.policy.heartbeatMs * 3 : this.#options.policy.heartbeatMs },
      );
    } catch (error) {
      this.#log.debug({ err: (error as Error).message }, 'heartbeat not sent');
    }
  }

  #connection(): MqttClient {
    if (!this.#mqtt || this.#stopped)
      throw new AuthProxyError('AUTH_PROXY_STOPPED', `bus client "${this.client}" is not running`);
    return this.#mqtt;
  }

  #assertMayPublish(topic: string): void {
    if (!anyFilterMatches(this.#claims.grants.pub, topic)) {
      throw new AuthProxyError('AUTH_PROXY_NOT_GRANTED', `token of "${this.client}" does not grant publishing to ${topic}`);
    }
  }

  #receive(topic: string, raw: Buffer, redelivery: boolean): void {
    let pending: PendingMessage;
    let verdict: boolean | Promise<boolean>;
    try {
      pending = this.#checks.precheck(topic, raw);
      verdict = this.#checks.signature(pending);
    } catch (error) {
      this.#rejectError(topic, error, raw);
      return;
    }
    if (typeof verdict === 'boolean' && this.#verifying === 0) {
      this.#complete(pending, verdict, redelivery);
      return;
    }
    // Verdicts from worker threads may come back in any order; handlers still see arrival order.
    this.#verifying++;
    const previous = this.#inboundTail;
    this.#inboundTail = Promise.all([previous, verdict])
      .then(
        ([, ok]) => ok,
        () => false, // a verifier that failed vouches for nothing
      )
      .then((ok) => {
        this.#verifying--;
        this.#complete(pending, ok, redelivery);
      })
      .catch((error: unknown) => this.#log.error({ err: error }, 'inbound message could not be completed'));
  }

  #complete(pending: PendingMessage, signatureOk: boolean, redelivery: boolean): void {
    let accepted: AcceptedMessage;
    try {
      accepted = this.#checks.finish(pending, signatureOk, redelivery);
    } catch (error) {
      this.#rejectError(pending.topic, error, pending.raw);
      return;
    }
    this.#dispatch(accepted);
  }

  #rejectError(topic: string, error: unknown, raw: Buffer): void {
    if (error instanceof ExpectedDuplicate) return;
    const code = error instanceof DctrlError ? error.code : 'CORE_INTERNAL';
    this.#reject(topic, code, (error as Error).message, peek(raw), raw);
  }

  #dispatch(accepted: AcceptedMessage): void {
    const { envelope, topic, raw } = accepted;
    const handlers = this.#handlers.get(envelope.type) ?? [];
    if (handlers.length === 0 && this.#anyHandlers.length === 0) {
      this.#log.warn({ type: envelope.type, topic }, 'accepted a message no handler takes');
    }
    let opened: Envelope | undefined;
    try {
      opened = this.open(envelope, accepted.spec);
    } catch (error) {
      this.#rejectError(topic, error, raw);
      return;
    }
    const seen = opened && opened !== envelope ? { ...accepted, opened } : accepted;
    for (const handler of this.#anyHandlers) this.#runHandler(() => handler(seen), envelope);
    if (!opened) {
      // Sealed to others. Replies to others pass many clients by; any other type this client handles was misrouted.
      if (handlers.length > 0 && accepted.spec.kind !== 'reply') {
        this.#reject(
          topic,
          'CORE_SEAL_NOT_RECIPIENT',
          `${envelope.type} ${envelope.id} is sealed to others, not "${this.client}"`,
          envelope,
          raw,
        );
      }
      return;
    }
    for (const handler of handlers) this.#runHandler(() => handler(opened.payload, opened, { topic, raw }), envelope);
  }

  #runHandler(run: () => void | Promise<void>, envelope: Envelope): void {
    const fail = (error: unknown) =>
      this.#log.error({ err: error, type: envelope.type, id: envelope.id }, 'message handler failed');
    try {
      const result = run();
      if (result instanceof Promise) result.catch(fail);
    } catch (error) {
      fail(error);
    }
  }

  #reject(topic: string, code: string, message: string, envelope?: Partial<Envelope>, raw?: Buffer): void {
    this.#log.warn({ topic, code, claimedIssuer: envelope?.issuer, claimedId: envelope?.id }, message);
    for (const listener of this.#rejectionListeners)
      listener({ topic, code, message, ...(envelope ? { envelope } : {}), ...(raw ? { raw } : {}) });
    const suppressed = this.#audit.take();
    if (suppressed === undefined || this.#stopped || !this.connected) return;
    const auditPayload = {
      reason: code,
      message: message.slice(0, 2000),
      topic: topic.slice(0, 1024),
      suppressed,
      ...claimed('claimedIssuer', envelope?.issuer),
      ...claimed('claimedId', envelope?.id),
      ...claimed('claimedType', envelope?.type),
    };
    this.publish(AuditRejected, auditPayload).catch((error: unknown) =>
      this.#log.warn({ err: (error as Error).message }, 'could not publish audit event'),
    );
  }

  #applyDirectory(directory: DirectoryPayload, expiresAt: number): void {
    const heldUntil = this.#keys.expiresAt;
    if (this.#keys.apply(directory, expiresAt)) {
      this.#log.debug({ version: directory.version, keys: directory.keys.length }, 'key directory updated');
      for (const waiter of this.#directoryWaiters.splice(0)) waiter();
    }
    // Only a newer or longer-lived directory moves the refresh: old copies replayed in a loop must not postpone it.
    if (this.#startedAt > 0 && this.#keys.expiresAt !== heldUntil) this.#scheduleDirectoryRefresh();
  }

  #applyRevocations(list: RevocationList): void {
    if (this.#revocations && list.version < this.#revocations.version) return;
    this.#revocations = list;
    for (const listener of this.#revocationListeners) listener(list);
  }

  /**
   * The retained directory is only a fast path: a broker may hold garbage there, or replay an old signed one that
   * still names a retired key. So a client that was not handed a directory by its process asks the Vault, whose
   * answer (signed by the pinned root key, bound to this request) wins whenever it is newer. Without an answer it
   * starts with a valid retained copy, which expires within vault.directoryTtlSeconds of its signing.
   */
  async #waitForDirectory(): Promise<void> {
    // The retained copy may have arrived while subscribing; only a directory handed in by the process is trusted as is.
    if (this.#options.initialDirectory || this.client === ROOT_ISSUER) return;
    const started = Date.now();
    try {
      await this.#askVaultForDirectory(Math.min(this.#options.policy.requestTimeoutMs, DIRECTORY_WAIT_MS));
      return;
    } catch (error) {
      this.#log.warn({ err: (error as Error).message }, 'the Vault did not hand over its key directory');
    }
    if (this.#keys.ready) {
      this.#log.warn({ version: this.#keys.version }, 'starting with the retained key directory, unconfirmed by the Vault');
      return;
    }
    const waitMs = Math.max(0, DIRECTORY_WAIT_MS - (Date.now() - started));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new AuthProxyError(
              'AUTH_PROXY_NO_DIRECTORY',
              `no valid key directory on ${Topics.directory} and no answer to ${DirectoryGet.type} within ${DIRECTORY_WAIT_MS} ms`,
            ),
          ),
        waitMs,
      );
      this.#directoryWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** @throws what request() throws; the reply was checked against the root key and the reply schema. */
  async #askVaultForDirectory(timeoutMs?: number): Promise<void> {
    const reply = (await this.request(DirectoryGet, {}, timeoutMs === undefined ? {} : { timeoutMs })) as {
      directory: DirectoryPayload;
      revocations: RevocationList;
      expiresAt: number;
    };
    this.#applyRevocations(reply.revocations);
    this.#applyDirectory(reply.directory, reply.expiresAt);
    if (this.#startedAt > 0) this.#scheduleDirectoryRefresh();
  }

  /**
   * Asks the Vault again when half the held directory's life is gone and no newer one came: a broker that
   * withholds the Vault's re-signed copies cannot run this client into an expired directory while the Vault answers.
   */
  #scheduleDirectoryRefresh(): void {
    clearTimeout(this.#directoryTimer);
    if (this.#stopped || this.client === ROOT_ISSUER || !this.#keys.ready) return;
    this.#refreshDirectoryIn(Math.max(DIRECTORY_RETRY_MS, (this.#keys.expiresAt - this.#clock.now()) / 2));
  }

  #refreshDirectoryIn(delayMs: number): void {
    clearTimeout(this.#directoryTimer);
    this.#directoryTimer = setTimeout(
      () => {
        this.#askVaultForDirectory().catch((error: unknown) => {
          if (this.#stopped) return;
          this.#log.warn({ err: (error as Error).message }, 'key directory refresh failed; retrying');
          this.#refreshDirectoryIn(DIRECTORY_RETRY_MS);
        });
      },
      Math.min(delayMs, 2 ** 31 - 1),
    ).unref();
  }

  #settleRequest(reply: PayloadOf<typeof RpcReply>, envelope: Envelope): void {
    const pending = this.#pending.get(envelope.correlationId ?? '');
    if (!pending) {
      this.#log.debug({ correlationId: envelope.correlationId }, 'reply to no pending request (timed out?)');
      return;
    }
    if (envelope.issuer !== pending.responder) {
      // Someone else answering must not cancel the request: the real answer may still come.
      this.#reject(
        envelope.replyTo ?? this.#replyTopic,
        'AUTH_PROXY_REPLY_INVALID',
        `reply to ${pending.spec.type} came from "${envelope.issuer}", not "${pending.responder}"`,
        envelope,
      );
      return;
    }
    if (pending.spec.sealed?.reply && !isOpenedEnvelope(envelope)) {
      this.#reject(
        envelope.replyTo ?? this.#replyTopic,
        'CORE_SEAL_REQUIRED',
        `reply to ${pending.spec.type} from "${envelope.issuer}" came in clear; it must be sealed to "${this.client}"`,
        envelope,
      );
      return;
    }
    this.#pending.delete(envelope.correlationId!);
    clearTimeout(pending.timer);
    if (!reply.ok) {
      pending.reject(errorFromWire(reply.error, envelope.issuer));
      return;
    }
    const result = pending.spec.reply?.safeParse(reply.result);
    if (result && !result.success) {
      pending.reject(
        new AuthProxyError('AUTH_PROXY_REPLY_INVALID', `reply to ${pending.spec.type}: ${describeIssues(result.error)}`),
      );
      return;
    }
    pending.resolve(result ? result.data : reply.result);
  }

  #scheduleRenewal(): void {
    clearTimeout(this.#renewTimer);
    if (this.#stopped) return;
    const { issuedAt, expiresAt } = this.#claims;
    const renewAt = issuedAt + ((expiresAt - issuedAt) * 2) / 3;
    const delay = Math.max(0, renewAt - this.#clock.now());
    this.#renewTimer = setTimeout(() => void this.renewNow(), Math.min(delay, 2 ** 31 - 1)).unref();
  }

  /** Asks the Vault for a fresh token now; on failure retries until the old one expires. */
  async renewNow(): Promise<void> {
    try {
      const renewed = (await this.request(TokenRenew, { tokenId: this.#claims.tokenId })) as { token: string; expiresAt: number };
      await this.useToken(renewed.token);
      this.#log.info({ expiresAt: new Date(renewed.expiresAt).toISOString() }, 'token renewed');
    } catch (error) {
      if (this.#stopped) return;
      this.#log.warn({ err: (error as Error).message }, 'token renewal failed; retrying');
      clearTimeout(this.#renewTimer);
      this.#renewTimer = setTimeout(() => void this.renewNow(), RENEW_RETRY_MS).unref();
    }
  }
}

/** Whom a message of this type is sealed to, or undefined when it travels in clear. */
function recipientsOf(spec: MessageSpec, payload: unknown, topic: string | undefined): readonly string[] | undefined {
  const to = spec.sealed?.to;
  if (to === undefined) return undefined;
  if (to === 'responder') return [ownerOfTopic(topic ?? spec.topic)];
  return typeof to === 'function' ? to(payload) : to;
}

function defaultLifetime(spec: MessageSpec, maxCommandTtlMs: number): number | undefined {
  if (spec.kind === 'command' || spec.kind === 'request') return Math.min(10_000, maxCommandTtlMs);
  return undefined;
}

/** `dctrl/v1/vault/rpc/token-renew` is answered by `vault`. */
function ownerOfTopic(topic: string): string {
  return topic.split('/')[2] ?? '';
}

function claimed<K extends string>(key: K, value: unknown): Partial<Record<K, string>> {
  return typeof value === 'string' ? ({ [key]: value.slice(0, 128) } as Record<K, string>) : {};
}

/** What a rejected message claims to be, for the audit event; never trusted, never the payload. */
function peek(raw: Buffer): Partial<Envelope> | undefined {
  try {
    const value = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    if (typeof value !== 'object' || value === null) return undefined;
    const { issuer, id, type } = value;
    return {
      ...(typeof issuer === 'string' ? { issuer } : {}),
      ...(typeof id === 'string' ? { id } : {}),
      ...(typeof type === 'string' ? { type } : {}),
    };
  } catch {
    return undefined;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

function waitForConnect(connection: MqttClient, url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onConnect = () => {
      connection.off('error', onError);
      resolve();
    };
    const onError = (error: Error) => {
      connection.off('connect', onConnect);
      connection.end(true);
      reject(
        brokerRefusal(error, url) ??
          new AuthProxyError('AUTH_PROXY_STOPPED', `cannot connect to ${url}: ${error.message}`, { cause: error }),
      );
    };
    connection.once('connect', onConnect);
    connection.once('error', onError);
  });
}
