// A device on a real bus for the MachineMgr tests: the harness, a BusinessMgr client that signs commands and hears
// what devices report, and MachineMgrs pinned to it whose outputs are recorded instead of moved.
import type { BusClient } from '../../src/auth-proxy/index.js';
import type { ActuatorConfig, ConfigInput } from '../../src/core/config.js';
import type { AllowListPayload } from '../../src/core/door-access.js';
import type { Envelope } from '../../src/core/envelope.js';
import { createIdFactory } from '../../src/core/ids.js';
import type { PayloadOf } from '../../src/core/contract.js';
import {
  AllowList,
  MachineActuation,
  MachineCommand,
  MachineRefused,
  MachineStatus,
  MachineTopics,
} from '../../src/core/messages-machine.js';
import { createMachineMgr, SimulatedDriver, type MachineMgr, type OutputDriver } from '../../src/machine-mgr/index.js';
import { startHarness, type Harness } from '../helpers/harness.js';

export type Actuation = PayloadOf<typeof MachineActuation>;
export type Refusal = PayloadOf<typeof MachineRefused>;
export type Status = PayloadOf<typeof MachineStatus>;
export type CommandInput = Omit<PayloadOf<typeof MachineCommand>, 'count' | 'decisionId' | 'reason'> &
  Partial<Pick<PayloadOf<typeof MachineCommand>, 'count' | 'decisionId' | 'reason'>>;

export interface Fixture {
  h: Harness;
  /** Signs as BusinessMgr: commands and allow-lists. */
  bm: BusClient;
  actuations: Actuation[];
  refusals: Refusal[];
  statuses: Status[];
  nextId: () => string;
  /** A started MachineMgr of `device`, pinned to BusinessMgr's key unless another pin is given. */
  machine(
    device: string,
    options?: { pin?: string; createDriver?: (output: string, actuator: ActuatorConfig) => OutputDriver },
  ): Promise<MachineMgr>;
  command(device: string, input: CommandInput, expiresInMs?: number): Promise<Envelope<PayloadOf<typeof MachineCommand>>>;
  sealCommand(device: string, input: CommandInput, expiresInMs?: number): Envelope<PayloadOf<typeof MachineCommand>>;
  allowList(payload: AllowListPayload, expiresInMs?: number, topicDevice?: string): Promise<Envelope<AllowListPayload>>;
  stop(): Promise<void>;
}

/** Simulated outputs that record and return at once, so a 12 s door pulse takes no real time. */
export const instantDriver = (): OutputDriver => new SimulatedDriver({ timeScale: 0 });

export async function startFixture(config: ConfigInput, options: { brokerPort?: number } = {}): Promise<Fixture> {
  const h = await startHarness({
    config: { ...config, ...(options.brokerPort !== undefined ? { broker: { port: options.brokerPort } } : {}) },
  });
  // The devices' keys must be in the directory BusinessMgr's client reads, so they are made before it starts.
  for (const device of Object.keys(h.config.machines.devices)) h.keeper.ensureClient(device);
  const bm = await h.client('business-mgr');
  const actuations: Actuation[] = [];
  const refusals: Refusal[] = [];
  const statuses: Status[] = [];
  await bm.listen(MachineActuation, (payload) => void actuations.push(payload));
  await bm.listen(MachineRefused, (payload) => void refusals.push(payload));
  await bm.listen(MachineStatus, (payload) => void statuses.push(payload));
  const nextId = createIdFactory(h.clock);
  const machines: MachineMgr[] = [];

  const commandPayload = (device: string, input: CommandInput) => ({
    count: 1,
    decisionId: nextId(),
    reason: 'test',
    ...input,
    device: input.device ?? device,
  });

  return {
    h,
    bm,
    actuations,
    refusals,
    statuses,
    nextId,
    async machine(device, machineOptions = {}) {
      const context = await h.context(device);
      const pin = machineOptions.pin ?? h.keeper.signingKey('business-mgr').publicKeyB64;
      const mgr = createMachineMgr(
        { ...context, credentials: { ...context.credentials, pinnedKeys: { 'business-mgr': pin } } },
        device,
        {
          createDriver: machineOptions.createDriver ?? (() => instantDriver()),
        },
      );
      await mgr.start();
      machines.push(mgr);
      return mgr;
    },
    command: (device, input, expiresInMs = 10_000) =>
      bm.publish(MachineCommand, commandPayload(device, input), {
        topic: MachineTopics.command(device),
        // Sealed to the door whose topic it travels on, so a command naming another door reaches the device's checks.
        sealTo: [device],
        expiresInMs,
      }),
    sealCommand: (device, input, expiresInMs = 10_000) => bm.seal(MachineCommand, commandPayload(device, input), { expiresInMs }),
    allowList: (payload, expiresInMs, topicDevice) =>
      bm.publish(AllowList, payload, {
        topic: MachineTopics.allowList(topicDevice ?? payload.device),
        // Sealed to the door whose topic it travels on, so a list naming another door reaches the device's own checks.
        sealTo: [topicDevice ?? payload.device],
        expiresInMs: expiresInMs ?? payload.expiresAt - h.clock.now(),
      }),
    async stop() {
      for (const mgr of machines) await mgr.stop().catch(() => undefined);
      await h.stop();
    },
  };
}

/** An allow-list for one door: valid an hour, UTC, with the given entries and schedules. */
export function allowListFor(
  device: string,
  version: number,
  now: number,
  entries: [string, number][],
  schedules: AllowListPayload['schedules'] = [],
  validMs = 3_600_000,
): AllowListPayload {
  return { device, version, issuedAt: now, expiresAt: now + validMs, timezone: 'UTC', schedules, entries };
}

/** A keyed fob hash (64 hex) and the last digits shown for it. */
export function fob(n: number): { hash: string; lastDigits: string } {
  return { hash: n.toString(16).padStart(2, '0').repeat(32), lastDigits: String(n % 1000).padStart(3, '0') };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Like eventually, for a predicate that reads storage. */
export async function until(predicate: () => Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
