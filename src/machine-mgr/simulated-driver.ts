// The simulated output: records each pulse in memory and waits its length, for the demo and as the tests' double.
import { systemClock, type Clock } from '../core/clock.js';
import { MachineMgrError } from './errors.js';
import type { OutputDriver, PulseRequest } from './driver.js';

export interface PulseRecord {
  output: string;
  action: 'open' | 'vend';
  ms: number;
  /** By the injected clock. */
  startedAt: number;
  /** Set when the pulse ended (or was aborted). */
  finishedAt?: number;
  aborted?: boolean;
}

export interface SimulatedDriverOptions {
  clock?: Clock;
  /** Real waiting per pulse millisecond: 1 waits the pulse out, 0 returns at once (tests). Default 1. */
  timeScale?: number;
  /** Called with each pulse as it starts (the demo logs it). */
  onPulse?: (record: PulseRecord) => void;
}

export class SimulatedDriver implements OutputDriver {
  readonly kind = 'simulated' as const;
  readonly #records: PulseRecord[] = [];
  readonly #running = new Set<() => void>();
  readonly #clock: Clock;
  readonly #timeScale: number;
  readonly #onPulse: ((record: PulseRecord) => void) | undefined;

  constructor(options: SimulatedDriverOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#timeScale = options.timeScale ?? 1;
    this.#onPulse = options.onPulse;
  }

  /** Every pulse so far, oldest first (copies). */
  pulses(): PulseRecord[] {
    return this.#records.map((record) => ({ ...record }));
  }

  async pulse(request: PulseRequest): Promise<void> {
    const record: PulseRecord = { output: request.output, action: request.action, ms: request.ms, startedAt: this.#clock.now() };
    this.#records.push(record);
    this.#onPulse?.({ ...record });
    const waitMs = Math.round(request.ms * this.#timeScale);
    const completed = await new Promise<boolean>((resolve) => {
      if (waitMs <= 0) {
        resolve(true);
        return;
      }
      const abort = () => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        this.#running.delete(abort);
        resolve(true);
      }, waitMs);
      this.#running.add(abort);
    });
    record.finishedAt = this.#clock.now();
    if (!completed) {
      record.aborted = true;
      throw new MachineMgrError('MACHINE_MGR_PULSE_ABORTED', `simulated pulse of ${request.output} aborted: MachineMgr stopped`);
    }
  }

  close(): Promise<void> {
    for (const abort of [...this.#running]) abort();
    this.#running.clear();
    return Promise.resolve();
  }
}
