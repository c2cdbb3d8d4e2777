// Prometheus metrics of the space, counted from the bus messages the Server hears, on a registry of its own.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { BusClient } from '../auth-proxy/index.js';
import type { Clock } from '../core/clock.js';
import type { Envelope } from '../core/envelope.js';
import { isSealed } from '../core/seal.js';
import { ChainPayment } from '../core/messages-chain.js';
import { BusinessDecision, MachineStatus } from '../core/messages-machine.js';
import { MailChanged } from '../core/messages-mail.js';
import { AuditDenied, AuditRejected, LogAlarm, LogDropped, ServiceStatus, Topics } from '../core/messages.js';
import type { MessageSpec, PayloadOf } from '../core/contract.js';

export interface ServerMetricsOptions {
  bus: BusClient;
  clock: Clock;
  /** Also the process_* and nodejs_* metrics of prom-client (CPU, memory, event loop lag, GC). Default true. */
  defaultMetrics?: boolean;
}

export interface ServerMetrics {
  readonly registry: Registry;
  /** The Content-Type of `metrics()` (text exposition format 0.0.4). */
  readonly contentType: string;
  /** Registers on the bus client and subscribes to dctrl/v1/#; the client must be started. */
  start(): Promise<void>;
  /** Stops counting; what was counted stays readable. */
  stop(): void;
  /** Counts one accepted message; `start()` calls it for every message the client accepts. */
  record(message: { envelope: Envelope; topic: string }): void;
  /** The text exposition, with device and service liveness as of the clock now. */
  metrics(): Promise<string>;
}

/** A label value a client could make up (an audit reason) is kept to this many distinct values, then "OTHER". */
const MAX_FREE_LABEL_VALUES = 100;
const CODE_LIKE = /^[A-Z][A-Z0-9_]{0,63}$/;

interface Heartbeat {
  issuedAt: number;
  expiresAt: number;
  up: boolean;
}

/** Builds the metrics; nothing is counted until `start()` (or `record()`). */
export function createServerMetrics(options: ServerMetricsOptions): ServerMetrics {
  const { bus, clock } = options;
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const messages = new Counter({
    name: 'dctrl_bus_messages_total',
    help: 'Bus messages the Server accepted (signature, freshness and schema checked), by type.',
    labelNames: ['type'],
    registers,
  });
  const decisions = new Counter({
    name: 'dctrl_decisions_total',
    help: 'Door and vend decisions of BusinessMgr, by kind, whether allowed, and reason.',
    labelNames: ['kind', 'allowed', 'reason'],
    registers,
  });
  const denials = new Counter({
    name: 'dctrl_denials_total',
    help: 'Door and vend decisions that denied, by kind and reason.',
    labelNames: ['kind', 'reason'],
    registers,
  });
  const busDenied = new Counter({
    name: 'dctrl_bus_denied_total',
    help: 'Connects, publishes and subscribes the broker refused, and sessions it cut, by action and reason.',
    labelNames: ['action', 'reason'],
    registers,
  });
  const busRejected = new Counter({
    name: 'dctrl_bus_rejected_total',
    help: 'Inbound messages a client dropped before any handler (bad signature, stale, replayed…), as audited, by reason.',
    labelNames: ['reason'],
    registers,
  });
  const payments = new Counter({
    name: 'dctrl_payments_total',
    help: 'Bitcoin payments confirmed (credited), by owner kind; a payment confirmed again after a reorg counts again.',
    labelNames: ['owner_kind'],
    registers,
  });
  const paymentSats = new Counter({
    name: 'dctrl_payment_sats_total',
    help: 'Sats of the confirmed bitcoin payments, by owner kind.',
    labelNames: ['owner_kind'],
    registers,
  });
  const mails = new Counter({
    name: 'dctrl_mails_total',
    help: 'Member mail changes (made, sent, failed, …), by mail kind and the state it reached.',
    labelNames: ['kind', 'state'],
    registers,
  });

  const logAlarms = new Counter({
    name: 'dctrl_event_log_alarms_total',
    help: 'Disk budget alarms of the EventLogger (event-logger.alarm), by level: warning, over-budget.',
    labelNames: ['level'],
    registers,
  });
  const logUsedBytes = new Gauge({
    name: 'dctrl_event_log_used_bytes',
    help: 'Disk the event log used at its last alarm; compare with dctrl_event_log_budget_bytes.',
    registers,
  });
  const logBudgetBytes = new Gauge({
    name: 'dctrl_event_log_budget_bytes',
    help: 'The event log disk budget (eventLogger.budgetBytes), as its last alarm said.',
    registers,
  });
  const logDropped = new Counter({
    name: 'dctrl_event_log_dropped_total',
    help: 'Messages the EventLogger did not write past an issuer quota (event-logger.dropped), by issuer.',
    labelNames: ['issuer'],
    registers,
  });

  const devices = new Map<string, Heartbeat>();
  const services = new Map<string, Heartbeat>();
  const isUp = (heartbeat: Heartbeat) => (heartbeat.up && clock.now() <= heartbeat.expiresAt ? 1 : 0);
  new Gauge({
    name: 'dctrl_device_last_seen_seconds',
    help: 'When each device last sent its heartbeat (machine.status), Unix seconds.',
    labelNames: ['device'],
    registers,
    collect() {
      // A device clock ahead of ours (within the allowed skew) does not make it seen in the future.
      for (const [device, beat] of devices) this.set({ device }, Math.min(beat.issuedAt, clock.now()) / 1000);
    },
  });
  new Gauge({
    name: 'dctrl_device_up',
    help: 'Whether each device’s last heartbeat is still valid (1) or has expired (0), by the Server’s clock.',
    labelNames: ['device'],
    registers,
    collect() {
      for (const [device, beat] of devices) this.set({ device }, isUp(beat));
    },
  });
  new Gauge({
    name: 'dctrl_service_up',
    help: 'Whether each bus client’s last service.status says up and is still valid (1), or not (0).',
    labelNames: ['service'],
    registers,
    collect() {
      for (const [service, beat] of services) this.set({ service }, isUp(beat));
    },
  });

  const seenReasons = new Set<string>();
  const boundedReason = (reason: string): string => {
    if (!CODE_LIKE.test(reason)) return 'OTHER';
    if (!seenReasons.has(reason) && seenReasons.size >= MAX_FREE_LABEL_VALUES) return 'OTHER';
    seenReasons.add(reason);
    return reason;
  };

  const counters = new Map<string, (payload: unknown, envelope: Envelope) => void>([
    on(BusinessDecision, (decision) => {
      decisions.inc({ kind: decision.kind, allowed: String(decision.allowed), reason: decision.reason });
      if (!decision.allowed) denials.inc({ kind: decision.kind, reason: decision.reason });
    }),
    on(AuditDenied, (denied) => busDenied.inc({ action: denied.action, reason: boundedReason(denied.reason) })),
    on(AuditRejected, (rejected) => busRejected.inc({ reason: boundedReason(rejected.reason) })),
    on(LogAlarm, (alarm) => {
      logAlarms.inc({ level: alarm.level });
      logUsedBytes.set(alarm.usedBytes);
      logBudgetBytes.set(alarm.budgetBytes);
    }),
    // The issuer is a client name the EventLogger verified a signature of: bounded by the key directory.
    on(LogDropped, (dropped) => logDropped.inc({ issuer: dropped.issuer }, dropped.messages)),
    on(ChainPayment, (payment) => {
      if (payment.event !== 'confirmed') return;
      payments.inc({ owner_kind: payment.ownerKind });
      paymentSats.inc({ owner_kind: payment.ownerKind }, payment.sats);
    }),
    on(MailChanged, (mail) => mails.inc({ kind: mail.kind, state: mail.state })),
    on(MachineStatus, (status, envelope) => {
      // A device speaks for itself only: its heartbeat names the client that signed it.
      if (status.device !== envelope.issuer) return;
      devices.set(status.device, heartbeat(envelope, true));
    }),
    on(ServiceStatus, (status, envelope) => services.set(envelope.issuer, heartbeat(envelope, status.state === 'up'))),
  ]);

  let started = false;
  let stopped = false;
  const record = ({ envelope, opened }: { envelope: Envelope; topic: string; opened?: Envelope }): void => {
    if (stopped) return;
    messages.inc({ type: envelope.type });
    const readable = opened ?? envelope;
    // Sealed to others: counted by type only.
    if (isSealed(readable.payload)) return;
    counters.get(envelope.type)?.(readable.payload, readable);
  };

  return {
    registry,
    contentType: registry.contentType,
    async start() {
      if (started) return;
      started = true;
      bus.onAny(record);
      await bus.subscribe(Topics.everything);
    },
    stop() {
      stopped = true;
    },
    record,
    metrics: () => registry.metrics(),
  };
}

function on<S extends MessageSpec>(
  spec: S,
  count: (payload: PayloadOf<S>, envelope: Envelope) => void,
): [string, (payload: unknown, envelope: Envelope) => void] {
  return [spec.type, (payload, envelope) => count(payload as PayloadOf<S>, envelope)];
}

/** State messages always carry expiresAt (the checks refuse them otherwise); their issuedAt is the beat. */
function heartbeat(envelope: Envelope, up: boolean): Heartbeat {
  return { issuedAt: envelope.issuedAt, expiresAt: envelope.expiresAt ?? envelope.issuedAt, up };
}
