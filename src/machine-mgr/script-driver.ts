// The script output: runs a configured command with arguments (no shell) for each pulse; a hang is killed.
import type { ActuatorConfig } from '../core/config.js';
import { MachineMgrError } from './errors.js';
import { runChild, type ChildOutcome } from './child-process.js';
import type { OutputDriver, PulseRequest } from './driver.js';

export type ScriptActuator = Extract<ActuatorConfig, { driver: 'script' }>;

export interface ScriptDriverOptions {
  /** After SIGTERM, how long a script still running gets before SIGKILL. Default 2 s. */
  killGraceMs?: number;
}

export const DEFAULT_KILL_GRACE_MS = 2_000;

/** `{device}`, `{output}`, `{action}` and `{ms}` in each argument, replaced as whole text, never through a shell. */
export function scriptArgs(
  args: readonly string[],
  values: { device: string; output: string; action: string; ms: number },
): string[] {
  return args.map((arg) =>
    arg
      .replaceAll('{device}', values.device)
      .replaceAll('{output}', values.output)
      .replaceAll('{action}', values.action)
      .replaceAll('{ms}', String(values.ms)),
  );
}

export class ScriptDriver implements OutputDriver {
  readonly kind = 'script' as const;
  readonly #running = new Set<AbortController>();
  readonly #killGraceMs: number;

  constructor(
    private readonly device: string,
    private readonly actuator: ScriptActuator,
    options: ScriptDriverOptions = {},
  ) {
    this.#killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  }

  /** @throws MachineMgrError MACHINE_MGR_SCRIPT_FAILED, MACHINE_MGR_SCRIPT_TIMEOUT or MACHINE_MGR_PULSE_ABORTED. */
  async pulse(request: PulseRequest): Promise<void> {
    const args = scriptArgs(this.actuator.args, { device: this.device, ...request });
    const abort = new AbortController();
    this.#running.add(abort);
    let outcome: ChildOutcome;
    try {
      outcome = await runChild(this.actuator.command, args, {
        timeoutMs: this.actuator.timeoutMs,
        killGraceMs: this.#killGraceMs,
        signal: abort.signal,
      });
    } finally {
      this.#running.delete(abort);
    }
    const what = `script ${this.actuator.command} for ${request.output}`;
    if (outcome.spawnError) {
      throw new MachineMgrError('MACHINE_MGR_SCRIPT_FAILED', `${what} could not start: ${outcome.spawnError.message}`, {
        cause: outcome.spawnError,
      });
    }
    if (outcome.aborted) throw new MachineMgrError('MACHINE_MGR_PULSE_ABORTED', `${what} killed: MachineMgr stopped`);
    if (outcome.timedOut) {
      throw new MachineMgrError(
        'MACHINE_MGR_SCRIPT_TIMEOUT',
        `${what} ran past its ${this.actuator.timeoutMs} ms timeout and was killed (${outcome.signal ?? 'exited'})${tail(outcome)}`,
      );
    }
    if (outcome.signal !== null) {
      throw new MachineMgrError('MACHINE_MGR_SCRIPT_FAILED', `${what} was killed by ${outcome.signal}${tail(outcome)}`);
    }
    if (outcome.code !== 0) {
      throw new MachineMgrError('MACHINE_MGR_SCRIPT_FAILED', `${what} exited with code ${outcome.code}${tail(outcome)}`);
    }
  }

  close(): Promise<void> {
    for (const abort of this.#running) abort.abort();
    return Promise.resolve();
  }
}

function tail(outcome: ChildOutcome): string {
  return outcome.stderr ? `: ${outcome.stderr}` : ' (no stderr)';
}
