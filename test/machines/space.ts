// A whole space on one bus for the end-to-end suites: BusinessData, MemberData, the Reporter and BusinessMgr on the
// hub, a door and a vending machine each with its MachineNotifier and MachineMgr, and the command line as `cli`.
// The broker is the embedded one or a real Mosquitto; outputs are simulated drivers that record each pulse.
import { join } from 'node:path';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { createBusinessData } from '../../src/business-data/index.js';
import { createBusinessMgr } from '../../src/business-mgr/index.js';
import { DateTime } from 'luxon';
import type { Clock } from '../../src/core/clock.js';
import type { ConfigInput } from '../../src/core/config.js';
import { hashFob, type HashedFob } from '../../src/core/fob-hash.js';
import { LedgerRecord, MemberCommand, SettingSet } from '../../src/core/messages.js';
import { DecisionsQuery, type Decision } from '../../src/core/messages-machine.js';
import type { Service } from '../../src/core/service.js';
import { openDatabase, type DatabaseHandle } from '../../src/core/storage/index.js';
import { createMachineMgr, SimulatedDriver, type MachineMgr } from '../../src/machine-mgr/index.js';
import { createMachineNotifier, type MachineNotifier } from '../../src/machine-notifier/index.js';
import { createMemberData } from '../../src/member-data/index.js';
import { createReporter } from '../../src/reporter/index.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';

export const DOOR = 'front-door';
export const VENDING = 'vending';

type DevicesInput = NonNullable<NonNullable<ConfigInput['machines']>['devices']>;

/** Short pulses and spacing so the suites run in real time; the behaviour is the same at 12 s. */
export const SPACE_DEVICES: DevicesInput = {
  [DOOR]: {
    kind: 'door',
    outputs: { door: { driver: 'simulated', pulseMs: 30 } },
    tapDebounceMs: 0,
    maxTapsPerSecond: 1_000,
    answerTimeoutMs: 1_000,
    offlineAfterMs: 300,
  },
  [VENDING]: {
    kind: 'vending',
    outputs: { 'club-mate': { driver: 'simulated', pulseMs: 20 } },
    tapDebounceMs: 0,
    maxTapsPerSecond: 1_000,
    vendSpacingMs: 50,
  },
};

/** Real time that can jump forward: devices keep their timers running while a month turns for the dues job. */
export class SteppingClock implements Clock {
  #offset: number;

  constructor(startMs: number) {
    this.#offset = startMs - Date.now();
  }

  now(): number {
    return Date.now() + this.#offset;
  }

  advance(ms: number): void {
    this.#offset += ms;
  }
}

/** Half an hour before a month turns in the space's time zone, so a suite can let it turn. */
export const BEFORE_MONTH_TURNS = DateTime.fromISO('2026-11-30T23:30', { zone: 'America/Vancouver' }).toMillis();

export interface Device {
  notifier: MachineNotifier;
  mgr: MachineMgr;
  driver: SimulatedDriver;
}

export interface Space {
  h: Harness;
  clock: SteppingClock;
  database: DatabaseHandle;
  cli: BusClient;
  hub: Service[];
  devices: Record<string, Device>;
  fob(number: string): HashedFob;
  /** A member with a fob (and groups); returns the member id. */
  addMember(name: string, fobNumber: string, groups?: string[]): Promise<string>;
  pay(memberId: string, cents: number, receipt: string): Promise<void>;
  decisionFor(tapId: string, outcome?: boolean): Promise<Decision>;
  decisions(filter?: { device?: string; memberId?: string }): Promise<Decision[]>;
  /** Stops a device's services (and starts them again with restartDevice). */
  stopDevice(id: string): Promise<void>;
  restartDevice(id: string): Promise<Device>;
  stop(): Promise<void>;
}

export interface SpaceOptions {
  brokerUrl?: string;
  brokerPort?: number;
  clock?: SteppingClock;
  config?: ConfigInput;
  /** More hub services on the same bus and database (the ChainNotifier), started after BusinessMgr. */
  moreHub?: (h: Harness, database: DatabaseHandle) => Promise<Service[]>;
}

export async function startSpace(options: SpaceOptions = {}): Promise<Space> {
  const clock = options.clock ?? new SteppingClock(BEFORE_MONTH_TURNS);
  const h = await startHarness({
    clock,
    ...(options.brokerUrl ? { brokerUrl: options.brokerUrl } : {}),
    config: {
      ...options.config,
      machines: { devices: SPACE_DEVICES },
      businessMgr: { allowListRefreshMinutes: 60, ...options.config?.businessMgr },
      // Tokens and the key directory outlive the jumps of the clock.
      vault: { tokenTtlSeconds: 86_400, directoryTtlSeconds: 7 * 86_400 },
      ...(options.brokerPort !== undefined ? { broker: { port: options.brokerPort } } : {}),
    },
  });
  const hubNames = ['business-data', 'member-data', 'reporter', 'business-mgr', DOOR, VENDING, 'cli'];
  for (const name of hubNames) h.keeper.ensureClient(name);
  await h.vault.publishChanges();
  const database = await openDatabase({ sqliteFile: join(h.dataDir, 'dctrl.db') });
  const hub: Service[] = [
    createBusinessData(await h.context('business-data'), database),
    createMemberData(await h.context('member-data'), database),
    createReporter(await h.context('reporter'), database),
    createBusinessMgr(await h.context('business-mgr'), database),
  ];
  for (const service of hub) await service.start();
  for (const service of (await options.moreHub?.(h, database)) ?? []) {
    await service.start();
    hub.push(service);
  }
  const cli = await h.client('cli');
  // Open at all hours unless a suite says otherwise, so no test depends on when it runs.
  await cli.request(SettingSet, {
    kind: 'policy',
    key: 'doorHours',
    value: { members: [{ days: [0, 1, 2, 3, 4, 5, 6], from: '00:00', to: '00:00' }] },
  });
  await cli.request(SettingSet, {
    kind: 'product',
    key: 'club-mate',
    value: { name: 'Club-Mate', priceCents: 350, machine: VENDING, output: 'club-mate' },
  });
  const key = h.keeper.secret('fob-hash-key');
  const pin = h.keeper.signingKey('business-mgr').publicKeyB64;

  const startDevice = async (id: string): Promise<Device> => {
    const context = await h.context(id);
    const driver = new SimulatedDriver({ clock: h.clock });
    const mgr = createMachineMgr(
      { ...context, credentials: { ...context.credentials, pinnedKeys: { 'business-mgr': pin } } },
      id,
      {
        createDriver: () => driver,
      },
    );
    await mgr.start();
    const notifier = createMachineNotifier(await h.context(id), id);
    await notifier.start();
    await eventually(() => mgr.connected() && notifier.stats().busConnected, `${id} on the bus`, 10_000);
    return { notifier, mgr, driver };
  };
  const devices: Record<string, Device> = {};
  for (const id of [DOOR, VENDING]) devices[id] = await startDevice(id);

  const decisions = async (filter: { device?: string; memberId?: string; tapId?: string } = {}) =>
    ((await cli.request(DecisionsQuery, { ...filter, limit: 200 })) as { decisions: Decision[] }).decisions;

  const space: Space = {
    h,
    clock,
    database,
    cli,
    hub,
    devices,
    fob: (number) => hashFob(number, key),
    async addMember(name, fobNumber, groups = []) {
      const { member } = (await cli.request(MemberCommand, {
        action: 'join',
        name,
        email: `${name.toLowerCase().replaceAll(' ', '.')}@example.org`,
        tier: 'member',
      })) as { member: { memberId: string } };
      await cli.request(MemberCommand, { action: 'issue-fob', memberId: member.memberId, fob: hashFob(fobNumber, key) });
      for (const group of groups) await cli.request(MemberCommand, { action: 'add-group', memberId: member.memberId, group });
      return member.memberId;
    },
    async pay(memberId, cents, receipt) {
      await cli.request(LedgerRecord, { kind: 'payment', memberId, cents, method: 'cash', causedBy: receipt });
    },
    async decisionFor(tapId, outcome = false) {
      let found: Decision | undefined;
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        found = (await decisions({ tapId }))[0];
        if (found && (!outcome || found.outcome !== null)) return found;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error(`no decision${outcome ? ' with an outcome' : ''} for tap ${tapId}: ${JSON.stringify(found)}`);
    },
    decisions,
    async stopDevice(id) {
      const device = devices[id]!;
      await device.notifier.stop();
      await device.mgr.stop();
    },
    async restartDevice(id) {
      devices[id] = await startDevice(id);
      return devices[id];
    },
    async stop() {
      for (const device of Object.values(devices)) {
        await device.notifier.stop().catch(() => undefined);
        await device.mgr.stop().catch(() => undefined);
      }
      for (const service of [...hub].reverse()) await service.stop().catch(() => undefined);
      await database.close();
      await h.stop();
    },
  };
  return space;
}
