// Runs the real `dctrl` command line (TypeScript through tsx) as a child process.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tempDir } from './harness.js';
import { freePort } from './mosquitto.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/**
 * The environment without the developer's DCTRL_* settings; the dashboard on a free port, since test files run in
 * parallel and each hub would want 8080.
 */
const cleanEnv = () => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('DCTRL_'))),
  DCTRL_SERVER__PORT: '0',
});

export function dctrl(
  args: string[],
  env: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    encoding: 'utf8',
    env: { ...cleanEnv(), ...env },
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export interface RunningCli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout contains the text. */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function dctrlBackground(args: string[], env: Record<string, string> = {}): RunningCli {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    env: { ...cleanEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    async waitFor(text, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (!out.includes(text)) {
        if (child.exitCode !== null) throw new Error(`dctrl exited (${child.exitCode}) before printing "${text}": ${err}`);
        if (Date.now() > deadline) throw new Error(`dctrl did not print "${text}": ${out}\n${err}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop(signal = 'SIGINT') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** A hub (`dctrl up`) in a fresh data folder on a free port, and the options that point a CLI run at it. */
export async function startHub(extra: string[] = []): Promise<{ hub: RunningCli; common: string[]; dataDir: string }> {
  const dataDir = tempDir();
  const port = await freePort();
  const common = ['--data-dir', dataDir, '--set', `broker.port=${port}`, '--set', `broker.url=mqtt://127.0.0.1:${port}`];
  const hub = dctrlBackground(['up', ...extra, ...common]);
  await hub.waitFor('Press Ctrl-C to stop.');
  return { hub, common, dataDir };
}
