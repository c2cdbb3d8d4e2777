// Watching GPIO input lines (buttons, door contacts) through the libgpiod command-line tools: gpioget for the level at
// start, gpiomon for every edge after. libgpiod 1.6 (Debian 12) and 2.x differ in flags and output; both are handled.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import type { Logger } from '../core/logger.js';
import { MachineNotifierError } from './errors.js';

/** A line on a GPIO chip, as the config names it (gpiochipN or /dev/gpiochipN). */
export interface InputLine {
  chip: string;
  line: number;
}

/** The physical level of a line: before any active-low inversion, which the notifier applies. */
export type Level = 0 | 1;

export interface InputWatcher {
  /** Each line's level when watching starts (where the backend can tell), then at every edge. */
  level(line: InputLine, level: Level): void;
  /** Something went wrong; the backend goes on (or retries) by itself. */
  problem(error: MachineNotifierError): void;
}

/** Where input levels come from: the libgpiod tools on a device, a test double in tests. */
export interface InputBackend {
  readonly name: string;
  /** @throws MachineNotifierError MACHINE_NOTIFIER_GPIO_UNAVAILABLE when it cannot watch at all. */
  start(lines: readonly InputLine[], watcher: InputWatcher): Promise<void>;
  /** Stops watching and ends any child process. */
  stop(): Promise<void>;
}

export interface GpiodVersion {
  major: number;
  minor: number;
}

/** Reads `gpiomon (libgpiod) v1.6.3` or `gpiomon (libgpiod) v2.1` from `gpiomon --version`. */
export function parseGpiodVersion(text: string): GpiodVersion | undefined {
  const match = /libgpiod\)?\s+v?(\d+)\.(\d+)/.exec(text) ?? /\bv(\d+)\.(\d+)/.exec(text);
  return match ? { major: Number(match[1]), minor: Number(match[2]) } : undefined;
}

/** One line per event: `<offset> <edge>`. */
export const GPIOMON_FORMAT = '%o %e';

/**
 * v1: `gpiomon [OPTIONS] <chip> <offset>…`, line-buffered only with -b.
 * v2: `gpiomon -c <chip> <offset>…`; it flushes after each batch of events by itself.
 */
export function gpiomonArgs(version: GpiodVersion, chip: string, offsets: readonly number[]): string[] {
  const lines = offsets.map(String);
  return version.major >= 2
    ? ['--chip', chip, '--format', GPIOMON_FORMAT, ...lines]
    : ['--line-buffered', `--format=${GPIOMON_FORMAT}`, chip, ...lines];
}

/** v1: `gpioget <chip> <offset>…` prints `0 1`; v2 prints `"3"=active` unless told --numeric. */
export function gpiogetArgs(version: GpiodVersion, chip: string, offsets: readonly number[]): string[] {
  const lines = offsets.map(String);
  return version.major >= 2 ? ['--chip', chip, '--numeric', ...lines] : [chip, ...lines];
}

/**
 * One gpiomon output line under GPIOMON_FORMAT. %e is 1 for a rising edge in both versions; a falling edge is 0 in
 * v1 and 2 in v2. The level after a rising edge is 1.
 */
export function parseGpiomonLine(text: string): { offset: number; level: Level } | undefined {
  const match = /^\s*(\d+)\s+([012])\s*$/.exec(text);
  if (!match) return undefined;
  return { offset: Number(match[1]), level: match[2] === '1' ? 1 : 0 };
}

/** gpioget's values, one per offset asked, in order. */
export function parseGpiogetOutput(text: string, count: number): Level[] | undefined {
  const values = text.trim().split(/\s+/);
  if (values.length !== count || values.some((value) => value !== '0' && value !== '1')) return undefined;
  return values.map((value) => (value === '1' ? 1 : 0));
}

export interface GpiomonOptions {
  logger: Logger;
  /** Paths of the tools, when they are not on PATH. */
  gpiomon?: string;
  gpioget?: string;
  /** How long to wait before starting a gpiomon that exited again. */
  restartMs?: number;
}

const TOOL_TIMEOUT_MS = 5_000;
const STOP_GRACE_MS = 2_000;

const execFileAsync = promisify(execFile);

/** A libgpiod tool's output; a failure carries the tool's stderr. */
async function run(command: string, args: string[]): Promise<string> {
  return (await execFileAsync(command, args, { timeout: TOOL_TIMEOUT_MS })).stdout;
}

/** Detects the installed libgpiod tools. @throws MachineNotifierError MACHINE_NOTIFIER_GPIO_UNAVAILABLE */
export async function detectGpiod(gpiomon = 'gpiomon'): Promise<GpiodVersion> {
  let said: string;
  try {
    said = await run(gpiomon, ['--version']);
  } catch (cause) {
    throw new MachineNotifierError(
      'MACHINE_NOTIFIER_GPIO_UNAVAILABLE',
      `cannot run ${gpiomon} --version (${(cause as Error).message.slice(0, 200)}); install the libgpiod tools (Debian: apt-get install gpiod)`,
      { cause },
    );
  }
  const version = parseGpiodVersion(said);
  if (!version || version.major < 1 || version.major > 2) {
    throw new MachineNotifierError(
      'MACHINE_NOTIFIER_GPIO_UNAVAILABLE',
      `${gpiomon} --version said "${said.split('\n')[0]?.slice(0, 100)}"; libgpiod 1.x or 2.x is expected`,
    );
  }
  return version;
}

/** The libgpiod tools: one gpiomon per chip, restarted when it exits while watching. */
export function createGpiomonBackend(options: GpiomonOptions): InputBackend {
  const gpiomon = options.gpiomon ?? 'gpiomon';
  const gpioget = options.gpioget ?? 'gpioget';
  const restartMs = options.restartMs ?? 5_000;
  const log = options.logger;
  const children = new Set<ChildProcess>();
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;

  const readLevels = async (version: GpiodVersion, chip: string, lines: InputLine[], watcher: InputWatcher) => {
    const offsets = lines.map((line) => line.line);
    try {
      const levels = parseGpiogetOutput(await run(gpioget, gpiogetArgs(version, chip, offsets)), offsets.length);
      if (!levels) throw new Error('gpioget printed something other than one 0 or 1 per line');
      lines.forEach((line, index) => watcher.level(line, levels[index]!));
    } catch (cause) {
      const stderr = (cause as { stderr?: string }).stderr?.trim();
      watcher.problem(
        new MachineNotifierError(
          'MACHINE_NOTIFIER_GPIO_FAILED',
          `${gpioget} ${chip} ${offsets.join(' ')}: ${(stderr || (cause as Error).message).slice(0, 300)}`,
          { cause },
        ),
      );
    }
  };

  const watchChip = (version: GpiodVersion, chip: string, lines: InputLine[], watcher: InputWatcher): void => {
    if (stopped) return;
    const args = gpiomonArgs(
      version,
      chip,
      lines.map((line) => line.line),
    );
    const child = spawn(gpiomon, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      stderr = (stderr + text).slice(-500);
    });
    createInterface({ input: child.stdout }).on('line', (text) => {
      const event = parseGpiomonLine(text);
      const line = event && lines.find((candidate) => candidate.line === event.offset);
      if (event && line) watcher.level(line, event.level);
      else log.debug({ chip }, `gpiomon printed an unexpected line: ${text.slice(0, 100)}`);
    });
    child.on('error', (error) =>
      watcher.problem(new MachineNotifierError('MACHINE_NOTIFIER_GPIO_FAILED', `${gpiomon} ${args.join(' ')}: ${error.message}`)),
    );
    child.on('exit', (code, signal) => {
      children.delete(child);
      if (stopped) return;
      watcher.problem(
        new MachineNotifierError(
          'MACHINE_NOTIFIER_GPIO_FAILED',
          `${gpiomon} ${args.join(' ')} exited (${signal ?? `code ${code}`}): ${stderr.trim() || 'no error output'}; restarting in ${restartMs} ms`,
        ),
      );
      const timer = setTimeout(() => {
        timers.delete(timer);
        // Edges may have been missed while it was down: read the levels again first.
        void readLevels(version, chip, lines, watcher).then(() => watchChip(version, chip, lines, watcher));
      }, restartMs);
      timers.add(timer);
    });
  };

  return {
    name: 'gpiomon',
    async start(lines, watcher) {
      stopped = false;
      const version = await detectGpiod(gpiomon);
      const byChip = new Map<string, InputLine[]>();
      for (const line of lines) byChip.set(line.chip, [...(byChip.get(line.chip) ?? []), line]);
      for (const [chip, chipLines] of byChip) {
        // gpioget before gpiomon: v2 holds the lines it watches, so a later gpioget would find them busy.
        await readLevels(version, chip, chipLines, watcher);
        watchChip(version, chip, chipLines, watcher);
      }
      log.debug({ version: `${version.major}.${version.minor}`, chips: [...byChip.keys()] }, 'watching GPIO inputs with gpiomon');
    },
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.all([...children].map((child) => endChild(child)));
    },
  };
}

function endChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
