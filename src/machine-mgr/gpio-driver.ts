// The GPIO output: pulses one line through libgpiod's gpioset (Debian package gpiod), v1.6 or v2.x command lines.
import type { ActuatorConfig } from '../core/config.js';
import { MachineMgrError } from './errors.js';
import { runChild } from './child-process.js';
import type { OutputDriver, PulseRequest } from './driver.js';

export type GpioActuator = Extract<ActuatorConfig, { driver: 'gpio' }>;
export type GpiosetMajor = 1 | 2;

export interface GpioDriverOptions {
  /** The gpioset program; found on PATH by default. */
  gpioset?: string;
  killGraceMs?: number;
}

/** Time gpioset may take beyond the pulse itself (opening the chip) before it counts as hung. */
const GPIOSET_SLACK_MS = 5_000;

/** `gpioset (libgpiod) v1.6.3` → 1, `gpioset (libgpiod) v2.1` → 2; anything else is unknown. */
export function gpiosetMajor(versionText: string): GpiosetMajor | undefined {
  const match = /\bv?(\d+)\.\d+/.exec(versionText);
  if (!match) return undefined;
  const major = Number(match[1]);
  return major === 1 || major === 2 ? major : undefined;
}

/**
 * The command lines for one pulse: hold the line active for `ms`, then leave it inactive.
 * v1.6: `gpioset --mode=time --sec=S --usec=U chip line=1` exits after the time but does not promise the value after
 * release, so a second `gpioset chip line=0` sets it inactive. v2.x: `--toggle Nms,0` holds active for N ms, then
 * toggles to inactive and exits (a last period of 0 ends the sequence); `--hold-period` alone would never exit.
 */
export function gpiosetPulseArgs(major: GpiosetMajor, actuator: GpioActuator, ms: number): string[][] {
  const low = actuator.activeLow ? ['--active-low'] : [];
  if (major === 1) {
    const sec = Math.floor(ms / 1_000);
    const usec = (ms % 1_000) * 1_000;
    return [
      [...low, '--mode=time', `--sec=${sec}`, `--usec=${usec}`, actuator.chip, `${actuator.line}=1`],
      gpiosetInactiveArgs(1, actuator),
    ];
  }
  return [[...low, '--chip', actuator.chip, '--toggle', `${ms}ms,0`, `${actuator.line}=1`]];
}

/** Sets the line inactive and exits at once (v2: a single toggle period of 0 toggles nothing and exits). */
export function gpiosetInactiveArgs(major: GpiosetMajor, actuator: GpioActuator): string[] {
  const low = actuator.activeLow ? ['--active-low'] : [];
  if (major === 1) return [...low, actuator.chip, `${actuator.line}=0`];
  return [...low, '--chip', actuator.chip, '--toggle', '0', `${actuator.line}=0`];
}

export class GpioDriver implements OutputDriver {
  readonly kind = 'gpio' as const;
  readonly #gpioset: string;
  readonly #killGraceMs: number;
  readonly #running = new Set<AbortController>();
  #major: Promise<GpiosetMajor> | undefined;

  constructor(
    private readonly actuator: GpioActuator,
    options: GpioDriverOptions = {},
  ) {
    this.#gpioset = options.gpioset ?? 'gpioset';
    this.#killGraceMs = options.killGraceMs ?? 2_000;
  }

  /** Which gpioset is installed, asked once (`gpioset --version`). @throws MachineMgrError MACHINE_MGR_GPIO_UNAVAILABLE. */
  version(): Promise<GpiosetMajor> {
    this.#major ??= this.#detect().catch((error: unknown) => {
      this.#major = undefined; // installed later: ask again next time
      throw error;
    });
    return this.#major;
  }

  async #detect(): Promise<GpiosetMajor> {
    const outcome = await runChild(this.#gpioset, ['--version'], { timeoutMs: 5_000, killGraceMs: this.#killGraceMs });
    const text = `${outcome.stdout}\n${outcome.stderr}`;
    const major = outcome.code === 0 ? gpiosetMajor(text) : undefined;
    if (major === undefined) {
      const why = outcome.spawnError ? outcome.spawnError.message : `answered "${text.trim().slice(0, 200)}"`;
      throw new MachineMgrError(
        'MACHINE_MGR_GPIO_UNAVAILABLE',
        `expected libgpiod's gpioset v1.6 or v2.x at "${this.#gpioset}"; ${why}. Install the Debian package gpiod`,
      );
    }
    return major;
  }

  /** @throws MachineMgrError MACHINE_MGR_GPIO_UNAVAILABLE, MACHINE_MGR_GPIO_FAILED or MACHINE_MGR_PULSE_ABORTED. */
  async pulse(request: PulseRequest): Promise<void> {
    const major = await this.version();
    const abort = new AbortController();
    this.#running.add(abort);
    try {
      for (const args of gpiosetPulseArgs(major, this.actuator, request.ms)) {
        const outcome = await runChild(this.#gpioset, args, {
          timeoutMs: request.ms + GPIOSET_SLACK_MS,
          killGraceMs: this.#killGraceMs,
          signal: abort.signal,
        });
        if (outcome.aborted) {
          await this.#setInactive(major);
          throw new MachineMgrError('MACHINE_MGR_PULSE_ABORTED', `${this.#line()} pulse cut short: MachineMgr stopped`);
        }
        if (outcome.spawnError || outcome.timedOut || outcome.code !== 0) {
          if (outcome.timedOut) await this.#setInactive(major);
          const why =
            outcome.spawnError?.message ??
            (outcome.timedOut ? 'hung and was killed' : `exited with ${outcome.code ?? outcome.signal}`);
          throw new MachineMgrError(
            'MACHINE_MGR_GPIO_FAILED',
            `gpioset on ${this.#line()} ${why}${outcome.stderr ? `: ${outcome.stderr}` : ''}`,
          );
        }
      }
    } finally {
      this.#running.delete(abort);
    }
  }

  close(): Promise<void> {
    for (const abort of this.#running) abort.abort();
    return Promise.resolve();
  }

  async #setInactive(major: GpiosetMajor): Promise<void> {
    await runChild(this.#gpioset, gpiosetInactiveArgs(major, this.actuator), {
      timeoutMs: 5_000,
      killGraceMs: this.#killGraceMs,
    });
  }

  #line(): string {
    return `${this.actuator.chip} line ${this.actuator.line}`;
  }
}
