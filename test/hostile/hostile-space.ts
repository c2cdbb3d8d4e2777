// A whole hub on a foreign Mosquitto that runs none of our ACLs (`allow_anonymous true`), as the README's
// "Run one service alone" describes: the hub's services in one node, and a door and a vending machine each started
// from a credentials bundle the hub exported, as clients of their own. An anonymous eavesdropper records the broker
// from before the first service starts.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { closeShared, createBusClient, type BusClient } from '../../src/auth-proxy/index.js';
import { startNode, type RunningNode } from '../../src/cli/runtime.js';
import { writeCredentialsBundle } from '../../src/cli/credentials.js';
import { credentialsFor, deviceCredentialsFor } from '../../src/cli/vault-access.js';
import { systemClock } from '../../src/core/clock.js';
import { loadConfig, SERVICE_NAMES, type Config, type ConfigInput } from '../../src/core/config.js';
import { hashFob, type HashedFob } from '../../src/core/fob-hash.js';
import { silentLogger } from '../../src/core/logger.js';
import { createRegistry, LedgerRecord, MemberCommand, SettingSet } from '../../src/core/messages.js';
import { DecisionsQuery, type Decision } from '../../src/core/messages-machine.js';
import type { MachineMgr } from '../../src/machine-mgr/index.js';
import type { MachineNotifier } from '../../src/machine-notifier/index.js';
import type { VaultService } from '../../src/vault/index.js';
import { dctrlBackground } from '../helpers/cli.js';
import { tempDir } from '../helpers/harness.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { startRecorder, type Recorder } from './recorder.js';

export const DOOR = 'front-door';
export const VENDING = 'vending';
/** The machine that calls the REST API with a Vault token, as a treasurer's bookkeeping script would. */
export const API_CLIENT = 'books-bot';
/** Short enough that the devices renew their tokens several times while a suite runs (renewal at two thirds). */
export const DEVICE_TOKEN_TTL_SECONDS = 6;

type DevicesInput = NonNullable<NonNullable<ConfigInput['machines']>['devices']>;

/** Short pulses and spacing so the suite runs in real time; the behaviour is the same at 12 s. */
const DEVICES: DevicesInput = {
  [DOOR]: {
    kind: 'door',
    outputs: { door: { driver: 'simulated', pulseMs: 30 } },
    tapDebounceMs: 0,
    maxTapsPerSecond: 1_000,
    answerTimeoutMs: 2_000,
  },
  [VENDING]: {
    kind: 'vending',
    outputs: { 'club-mate': { driver: 'simulated', pulseMs: 20 } },
    tapDebounceMs: 0,
    maxTapsPerSecond: 1_000,
    vendSpacingMs: 50,
  },
};

export interface Device {
  node: RunningNode;
  mgr: MachineMgr;
  notifier: MachineNotifier;
  bundleFile: string;
}

export interface HostileSpace {
  mosquitto: Mosquitto;
  recorder: Recorder;
  hub: RunningNode;
  hubConfig: Config;
  /** The command line's client (`cli`), as `dctrl member …` and `dctrl payment …` use it. */
  cli: BusClient;
  devices: Record<typeof DOOR | typeof VENDING, Device>;
  /** Every token string handed to a client outside the Vault during the run (bundles, the CLI, the API client). */
  handedOut: Set<string>;
  restUrl: string;
  apiToken: string;
  fob(number: string): HashedFob;
  /** A member with a fob and groups; returns the member id. */
  addMember(name: string, email: string, fobNumber: string, groups?: string[]): Promise<string>;
  pay(memberId: string, cents: number, receipt: string): Promise<void>;
  decisions(filter?: { device?: string; memberId?: string; tapId?: string }): Promise<Decision[]>;
  /** The decision for a tap, once it has one (and an outcome, when asked); bounded. */
  decisionFor(tapId: string, outcome?: boolean): Promise<Decision>;
  rest<T>(path: string): Promise<T>;
  /** The real `dctrl` command line against this hub (its data folder, the foreign broker); resolves with its output. */
  dctrl(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

export async function startHostileSpace(): Promise<HostileSpace> {
  const mosquitto = await startMosquitto();
  const stoppers: (() => Promise<unknown>)[] = [() => mosquitto.cleanup()];
  const stopAll = async () => {
    for (const stop of stoppers.splice(0).reverse()) await stop().catch(() => undefined);
  };
  try {
    const recorder = await startRecorder(mosquitto.port);
    stoppers.push(() => recorder.stop());
    const hubDir = tempDir('dctrl-hostile-hub-');
    const hubConfig = loadConfig({
      overrides: {
        dataDir: hubDir,
        services: SERVICE_NAMES.filter((name) => !['subscription-mgr', 'machine-mgr', 'machine-notifier'].includes(name)),
        broker: { url: mosquitto.url },
        machines: { devices: DEVICES, local: [] },
        server: { port: 0, apiClients: { [API_CLIENT]: 'treasurer' } },
        log: { level: 'silent' },
      },
    });
    const hub = await startNode(hubConfig, { clock: systemClock, logger: silentLogger, secretEnv: {} });
    stoppers.push(() => hub.stop());
    const keeper = hub.keeper!;
    const vault = hub.services.find((service) => service.name === 'vault') as unknown as VaultService;
    const restUrl = /dashboard and REST API: (http:\/\/\S+?)\/? /.exec(`${hub.describe().join(' ')} `)?.[1];
    if (!restUrl) throw new Error(`the hub did not say where its REST API listens: ${hub.describe().join('; ')}`);

    const handedOut = new Set<string>();
    for (const client of ['cli', API_CLIENT, DOOR, VENDING]) keeper.ensureClient(client);
    await vault.publishChanges();
    const cliCredentials = await credentialsFor(keeper, 'cli');
    handedOut.add(cliCredentials.token);
    const cliShared: Record<string, unknown> = {};
    stoppers.push(() => closeShared(cliShared));
    const cli = createBusClient(
      {
        config: hub.config,
        clock: systemClock,
        logger: silentLogger,
        registry: createRegistry(),
        credentials: cliCredentials,
        shared: cliShared,
      },
      { instance: 'hostile-suite' },
    );
    await cli.start();
    stoppers.push(() => cli.stop());
    const apiToken = (
      await keeper.issueToken(API_CLIENT, { pub: [], sub: [] }, hubConfig.vault.apiTokenTtlSeconds, { audience: 'api' })
    ).token;
    handedOut.add(apiToken);

    // Open at all hours, so no test depends on when it runs; one drink on the vending machine.
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

    // `dctrl vault export <device> --ttl 6`, then `dctrl up --only machine-notifier,machine-mgr --credentials …`.
    const startDevice = async (id: typeof DOOR | typeof VENDING): Promise<Device> => {
      const dir = tempDir(`dctrl-hostile-${id}-`);
      const bundleFile = join(dir, `${id}.creds.json`);
      const credentials = await deviceCredentialsFor(keeper, id, {}, DEVICE_TOKEN_TTL_SECONDS);
      handedOut.add(credentials.token);
      writeCredentialsBundle(bundleFile, keeper.root.publicKeyB64, [credentials]);
      const config = loadConfig({
        overrides: {
          dataDir: dir,
          services: ['machine-mgr', 'machine-notifier'],
          credentialsFile: bundleFile,
          broker: { url: mosquitto.url },
          machines: { devices: DEVICES },
          log: { level: 'silent' },
        },
      });
      const node = await startNode(config, { clock: systemClock, logger: silentLogger, secretEnv: {} });
      stoppers.push(() => node.stop());
      const mgr = node.services.find((service) => 'pulses' in service) as MachineMgr | undefined;
      const notifier = node.services.find((service) => 'handleReaderText' in service) as MachineNotifier | undefined;
      if (!mgr || !notifier)
        throw new Error(`${id} did not start its MachineMgr and MachineNotifier: ${node.describe().join('; ')}`);
      await until(
        () => mgr.connected() && notifier.stats().busConnected && notifier.stats().fobKey === 'vault',
        `${id} on the bus with the fob hash key from the Vault`,
      );
      return { node, mgr, notifier, bundleFile };
    };
    const devices = { [DOOR]: await startDevice(DOOR), [VENDING]: await startDevice(VENDING) };

    const fobKey = keeper.secret('fob-hash-key');
    const decisions = async (filter: { device?: string; memberId?: string; tapId?: string } = {}) =>
      ((await cli.request(DecisionsQuery, { ...filter, limit: 200 })) as { decisions: Decision[] }).decisions;
    return {
      mosquitto,
      recorder,
      hub,
      hubConfig,
      cli,
      devices,
      handedOut,
      restUrl,
      apiToken,
      fob: (number) => hashFob(number, fobKey),
      async addMember(name, email, fobNumber, groups = []) {
        const { member } = (await cli.request(MemberCommand, { action: 'join', name, email, tier: 'member' })) as {
          member: { memberId: string };
        };
        await cli.request(MemberCommand, { action: 'issue-fob', memberId: member.memberId, fob: hashFob(fobNumber, fobKey) });
        for (const group of groups) await cli.request(MemberCommand, { action: 'add-group', memberId: member.memberId, group });
        return member.memberId;
      },
      async pay(memberId, cents, receipt) {
        await cli.request(LedgerRecord, { kind: 'payment', memberId, cents, method: 'cash', causedBy: receipt });
      },
      decisions,
      async decisionFor(tapId, outcome = false) {
        let found: Decision | undefined;
        await until(
          async () => {
            found = (await decisions({ tapId }))[0];
            return found !== undefined && (!outcome || found.outcome !== null);
          },
          `a decision${outcome ? ' with an outcome' : ''} for tap ${tapId}`,
        );
        return found!;
      },
      async rest<T>(path: string): Promise<T> {
        const response = await fetch(`${restUrl}${path}`, { headers: { authorization: `Bearer ${apiToken}` } });
        if (!response.ok) throw new Error(`GET ${path} answered ${response.status}: ${await response.text()}`);
        return (await response.json()) as T;
      },
      async dctrl(args) {
        // In the background: a blocking run would stop this process, and with it the hub that must answer.
        const run = dctrlBackground([...args, '--data-dir', hubDir, '--set', `broker.url=${mosquitto.url}`]);
        const code = await new Promise<number | null>((resolve) => {
          if (run.child.exitCode !== null) resolve(run.child.exitCode);
          else run.child.once('exit', (exitCode) => resolve(exitCode));
        });
        return { code, stdout: run.stdout(), stderr: run.stderr() };
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Resolves when `predicate` holds, polling every 20 ms; rejects naming `what` after the timeout. */
export async function until(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** For debugging a failure: every recorded message as one JSON line. */
export function dumpRecording(recorder: Recorder, file: string): void {
  writeFileSync(
    file,
    recorder
      .messages()
      .map((message) =>
        JSON.stringify({ topic: message.topic, retained: message.retained, payload: message.payload.toString('utf8') }),
      )
      .join('\n'),
  );
}
