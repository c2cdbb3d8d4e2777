// Moves a device's outputs: a door output is held (a second open extends the hold instead of queueing another), vends
// wait in one queue with at least vendSpacingMs between starts, and every pulse is reported when it ends.
import { setTimeout as wait } from 'node:timers/promises';
import type { Clock } from '../core/clock.js';
import type { DeviceConfig } from '../core/config.js';
import { DctrlError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { DriverKind, OutputDriver } from './drivers.js';
import { MachineMgrError } from './errors.js';

export const DEFAULT_DOOR_PULSE_MS = 12_000;
export const DEFAULT_VEND_PULSE_MS = 500;

/** What asked for the pulse: a command (its id, decision and issue time) or an offline decision (no command). */
export interface PulseOrigin {
  commandId: string | null;
  decisionId: string | null;
  /** When the decision was made (command issuedAt, or the tap), for latency; null when unknown. */
  since: number | null;
  /** The offline log entry this open belongs to, to mark it not actuated when the pulse fails. */
  offlineLocalId?: string;
}

export interface ActuationReport {
  commandId: string | null;
  decisionId: string | null;
  action: 'open' | 'vend';
  output: string;
  sequence: number;
  outcome: 'actuated' | 'failed';
  driver: DriverKind;
  latencyMs: number | null;
  startedAt: number;
  finishedAt: number;
  error?: { code: string; message: string };
}

interface Hold {
  /** Until when (device clock) the output is meant to be active, covering every open that joined. */
  plannedEnd: number;
  /** Time added by opens that came during the running pulse, pulsed right after it. */
  extraMs: number;
  joined: { origin: PulseOrigin; startedAt: number }[];
}

interface QueuedVend {
  output: string;
  sequence: number;
  origin: PulseOrigin;
}

export class Actuator {
  readonly #holds = new Map<string, Hold>();
  readonly #vends: QueuedVend[] = [];
  readonly #running = new Set<Promise<void>>();
  readonly #stopping = new AbortController();
  #vending = false;
  #lastVendStart: number | undefined;
  #lastActuationAt: number | null = null;

  constructor(
    private readonly device: DeviceConfig,
    private readonly drivers: ReadonlyMap<string, OutputDriver>,
    private readonly clock: Clock,
    private readonly report: (report: ActuationReport, origin: PulseOrigin) => void,
    private readonly log: Logger,
  ) {}

  has(output: string): boolean {
    return this.drivers.has(output);
  }

  get queuedVends(): number {
    return this.#vends.length;
  }

  get lastActuationAt(): number | null {
    return this.#lastActuationAt;
  }

  pulseMs(output: string, action: 'open' | 'vend'): number {
    const configured = this.device.outputs[output]?.pulseMs;
    return configured ?? (action === 'open' ? DEFAULT_DOOR_PULSE_MS : DEFAULT_VEND_PULSE_MS);
  }

  /** Holds the output active for its pulse length from now; while it is already held, the hold is extended. */
  open(output: string, origin: PulseOrigin): void {
    if (this.#stopping.signal.aborted) return;
    const now = this.clock.now();
    const end = now + this.pulseMs(output, 'open');
    const hold = this.#holds.get(output);
    if (hold) {
      if (end > hold.plannedEnd) {
        hold.extraMs += end - hold.plannedEnd;
        hold.plannedEnd = end;
      }
      hold.joined.push({ origin, startedAt: now });
      return;
    }
    const fresh: Hold = { plannedEnd: end, extraMs: 0, joined: [{ origin, startedAt: now }] };
    this.#holds.set(output, fresh);
    this.#track(this.#runHold(output, fresh, end - now));
  }

  /** Queues count vends of the output behind those already waiting. */
  vend(output: string, count: number, origin: PulseOrigin): void {
    if (this.#stopping.signal.aborted) return;
    for (let sequence = 1; sequence <= count; sequence++) this.#vends.push({ output, sequence, origin });
    if (!this.#vending) {
      this.#vending = true;
      this.#track(this.#runVends().finally(() => (this.#vending = false)));
    }
  }

  /** Drops queued vends, aborts running pulses (the drivers set their lines inactive) and waits for them to end. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    if (this.#vends.length > 0) this.log.warn({ dropped: this.#vends.length }, 'queued vends dropped: MachineMgr stopped');
    // Each dropped vend is reported failed, so a member charged for it is refunded and nothing is owed in silence.
    const now = this.clock.now();
    for (const vend of this.#vends.splice(0)) {
      const failure = new MachineMgrError(
        'MACHINE_MGR_PULSE_ABORTED',
        'the vend was queued when MachineMgr stopped; nothing dropped',
      );
      const driver = this.drivers.get(vend.output)!;
      this.#emit({ ...vend, action: 'vend', driver: driver.kind, startedAt: now, finishedAt: now, failure });
    }
    const closing: Promise<void>[] = [];
    for (const driver of new Set(this.drivers.values())) if (driver.close) closing.push(driver.close().catch(() => undefined));
    await Promise.all(closing);
    await Promise.allSettled([...this.#running]);
  }

  async #runHold(output: string, hold: Hold, firstMs: number): Promise<void> {
    const driver = this.drivers.get(output)!;
    let failure: unknown;
    let ms = firstMs;
    while (ms > 0) {
      try {
        await driver.pulse({ ms, action: 'open', output });
      } catch (error) {
        failure = error;
        break;
      }
      if (this.#stopping.signal.aborted) break;
      ms = hold.extraMs;
      hold.extraMs = 0;
    }
    this.#holds.delete(output);
    const finishedAt = this.clock.now();
    for (const { origin, startedAt } of hold.joined) {
      this.#emit({ origin, action: 'open', output, sequence: 1, driver: driver.kind, startedAt, finishedAt, failure });
    }
  }

  async #runVends(): Promise<void> {
    const spacing = this.device.vendSpacingMs;
    for (let next = this.#vends.shift(); next; next = this.#vends.shift()) {
      const wait = this.#lastVendStart === undefined ? 0 : this.#lastVendStart + spacing - this.clock.now();
      if (wait > 0) await sleep(wait, this.#stopping.signal);
      const driver = this.drivers.get(next.output)!;
      if (this.#stopping.signal.aborted) {
        const now = this.clock.now();
        this.#emit({ ...next, action: 'vend', driver: driver.kind, startedAt: now, finishedAt: now, failure: dropped() });
        return;
      }
      const startedAt = this.clock.now();
      this.#lastVendStart = startedAt;
      let failure: unknown;
      try {
        await driver.pulse({ ms: this.pulseMs(next.output, 'vend'), action: 'vend', output: next.output });
      } catch (error) {
        failure = error;
      }
      const finishedAt = this.clock.now();
      this.#emit({ ...next, action: 'vend', driver: driver.kind, startedAt, finishedAt, failure });
    }
  }

  #emit(pulse: {
    origin: PulseOrigin;
    action: 'open' | 'vend';
    output: string;
    sequence: number;
    driver: DriverKind;
    startedAt: number;
    finishedAt: number;
    failure: unknown;
  }): void {
    const { origin, failure } = pulse;
    if (failure === undefined) this.#lastActuationAt = Math.max(this.#lastActuationAt ?? 0, pulse.startedAt);
    this.report(
      {
        commandId: origin.commandId,
        decisionId: origin.decisionId,
        action: pulse.action,
        output: pulse.output,
        sequence: pulse.sequence,
        outcome: failure === undefined ? 'actuated' : 'failed',
        driver: pulse.driver,
        latencyMs: origin.since === null ? null : Math.max(0, pulse.startedAt - origin.since),
        startedAt: pulse.startedAt,
        finishedAt: pulse.finishedAt,
        ...(failure !== undefined ? { error: wireErrorOf(failure) } : {}),
      },
      origin,
    );
  }

  #track(work: Promise<void>): void {
    const tracked = work.catch((error: unknown) => this.log.error({ err: error }, 'actuation failed unexpectedly'));
    this.#running.add(tracked);
    void tracked.finally(() => this.#running.delete(tracked));
  }
}

function dropped(): MachineMgrError {
  return new MachineMgrError(
    'MACHINE_MGR_PULSE_ABORTED',
    'the vend was still queued when MachineMgr stopped; nothing was vended',
  );
}

function wireErrorOf(error: unknown): { code: string; message: string } {
  if (error instanceof DctrlError) return { code: error.code, message: error.message.slice(0, 1000) };
  return { code: 'MACHINE_MGR_DRIVER_FAILED', message: String((error as Error)?.message ?? error).slice(0, 1000) };
}

/** Waits `ms`, or less when the signal aborts; never rejects. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return wait(ms, undefined, { signal }).catch(() => undefined);
}
