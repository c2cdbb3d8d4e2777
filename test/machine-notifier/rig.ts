// A MachineNotifier test rig: a real bus (or a broker that is not there), the device's credentials, a fob key,
// a log kept in memory to search for fob numbers, and the taps its DeviceLink hears.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { shareDirectory } from '../../src/auth-proxy/index.js';
import type { Clock } from '../../src/core/clock.js';
import type { ConfigInput } from '../../src/core/config.js';
import { deviceLinkOf, type LocalTap } from '../../src/core/device-link.js';
import { createLogger } from '../../src/core/logger.js';
import type { ServiceContext } from '../../src/core/service.js';
import { saveFobKey } from '../../src/machine-notifier/fob-key.js';
import {
  createMachineNotifier,
  fobKeyPath,
  type MachineNotifier,
  type MachineNotifierOptions,
} from '../../src/machine-notifier/index.js';
import { startHarness, type Harness } from '../helpers/harness.js';

/** No broker listens on port 1 of the loopback: connecting is refused at once. */
export const NO_BROKER = 'mqtt://127.0.0.1:1';

export interface Rig {
  h: Harness;
  notifier: MachineNotifier;
  /** Every tap the device's DeviceLink heard. */
  taps: LocalTap[];
  /** Everything the notifier logged, as pino JSON lines. */
  logText(): string;
  /** Log records with a code. */
  logCodes(): string[];
  /** The key the notifier hashes with (written to its cache before start). */
  key: Buffer;
  stop(): Promise<void>;
}

export function memoryLogger(): { logger: ReturnType<typeof createLogger>; text: () => string } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: createLogger('debug', sink), text: () => chunks.join('') };
}

/** The context of a device whose key is in the directory every client (and the Vault) holds. */
export async function deviceContext(h: Harness, device: string): Promise<ServiceContext> {
  h.keeper.ensureClient(device);
  shareDirectory({ shared: h.shared }, h.keeper.directory(), h.clock.now() + h.config.vault.directoryTtlSeconds * 1000);
  await h.vault.publishChanges();
  return h.context(device);
}

export interface RigOptions {
  device?: string;
  clock?: Clock;
  /** The device's settings in machines.devices. */
  deviceConfig?: Record<string, unknown>;
  config?: ConfigInput;
  /** Join the harness broker (default) or find no broker at all. */
  online?: boolean;
  /** Write a fob key to the device's cache before start (default: true when offline). */
  cacheKey?: boolean;
  notifier?: MachineNotifierOptions;
  start?: boolean;
  harness?: Harness;
}

export async function startRig(options: RigOptions = {}): Promise<Rig> {
  const device = options.device ?? 'door-1';
  const online = options.online ?? true;
  const h =
    options.harness ??
    (await startHarness({
      ...(options.clock ? { clock: options.clock } : {}),
      config: {
        ...options.config,
        machines: { devices: { [device]: { kind: 'door', reader: { kind: 'stdin' }, ...options.deviceConfig } } },
      },
    }));
  const memory = memoryLogger();
  const base = await deviceContext(h, device);
  const context: ServiceContext = {
    ...base,
    logger: memory.logger,
    config: online ? base.config : { ...base.config, broker: { ...base.config.broker, url: NO_BROKER } },
  };
  let key: Buffer = randomBytes(32);
  if (options.cacheKey ?? !online) saveFobKey(fobKeyPath(h.dataDir, device), key);
  if (online && !(options.cacheKey ?? false)) key = h.keeper.secret('fob-hash-key');
  const taps: LocalTap[] = [];
  deviceLinkOf(h.shared).onTap(device, (tap) => void taps.push(tap));
  const notifier = createMachineNotifier(context, device, { busRetryMs: 200, ...options.notifier });
  if (options.start ?? true) await notifier.start();
  return {
    h,
    notifier,
    taps,
    key,
    logText: memory.text,
    logCodes: () =>
      memory
        .text()
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { code?: string }).code)
        .filter((code): code is string => code !== undefined),
    async stop() {
      await notifier.stop();
      if (!options.harness) await h.stop();
    },
  };
}

/** A fob number for tests: 10 digits from a seed. */
export function fobNumber(seed: number): string {
  return String(1_000_000_000 + ((seed * 7_919) % 8_999_999_999)).padStart(10, '0');
}
