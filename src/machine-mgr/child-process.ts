// Runs one child process without a shell, in its own process group, with a timeout (SIGTERM, then SIGKILL) and an abort.
import { spawn } from 'node:child_process';
import { StderrTail } from './driver.js';

export interface ChildOutcome {
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** It ran past its timeout and was killed. */
  timedOut: boolean;
  /** It was killed because the caller aborted. */
  aborted: boolean;
  /** It could not be started at all (ENOENT, EACCES). */
  spawnError?: Error;
}

export interface ChildOptions {
  timeoutMs?: number;
  /** How long after SIGTERM a child still running gets SIGKILL. */
  killGraceMs: number;
  signal?: AbortSignal;
}

/** How long to wait for stderr to drain after the child exited (a grandchild may hold the pipe open). */
const DRAIN_MS = 100;

/** Never rejects: every way the child can end is in the outcome. */
export function runChild(command: string, args: readonly string[], options: ChildOptions): Promise<ChildOutcome> {
  return new Promise((resolve) => {
    const stderr = new StderrTail();
    let stdout = '';
    let timedOut = false;
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    let timeoutTimer: NodeJS.Timeout | undefined;
    let settled = false;
    // detached: a process group of its own, so a script's own children are killed with it.
    const child = spawn(command, [...args], { shell: false, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk: Buffer) => {
      if (stdout.length < 4_096) stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));

    const killGroup = (signal: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        try {
          child.kill(signal);
        } catch {
          // already gone
        }
      }
    };
    const terminate = () => {
      killGroup('SIGTERM');
      killTimer ??= setTimeout(() => killGroup('SIGKILL'), options.killGraceMs);
    };
    const onAbort = () => {
      aborted = true;
      terminate();
    };
    const finish = (outcome: Omit<ChildOutcome, 'stdout' | 'stderr' | 'timedOut' | 'aborted'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timeoutTimer);
      clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({ ...outcome, stdout, stderr: stderr.toString(), timedOut, aborted });
    };

    if (options.timeoutMs !== undefined) {
      timeoutTimer = setTimeout(() => {
        timedOut = true;
        terminate();
      }, options.timeoutMs);
    }
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });

    child.once('error', (error) => finish({ code: null, signal: null, spawnError: error }));
    let stderrClosed = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    child.stderr.once('close', () => {
      stderrClosed = true;
      if (exit) finish(exit);
    });
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      // A killed script's children go with it, even those that ignored SIGTERM.
      if (timedOut || aborted) killGroup('SIGKILL');
      // A script's background child may hold stderr open: give it a moment to drain, no more.
      if (stderrClosed) finish(exit);
      else setTimeout(() => finish(exit!), DRAIN_MS);
    });
  });
}
