// Benchmark: tap-to-actuation latency through the whole door path (reader text → MachineNotifier → broker →
// BusinessMgr decision → signed command → MachineMgr → driver), one tap after another, beside a raw MQTT QoS 1 round
// trip on a plain Aedes broker measured in the same run. Everything runs in one process, as in embedded mode.
// The raw baseline sets TCP_NODELAY on its sockets (what the broker itself can do); a short second raw run with
// Node's default sockets shows the Nagle / delayed-ACK floor a sequential exchange hits without it.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import { sql } from 'kysely';
import mqtt, { type MqttClient } from 'mqtt';
import { closeShared, createBusClient, type BusClient } from '../src/auth-proxy/index.js';
import { benchVault, UNMETERED_BROKER_LIMITS } from './bench-vault.js';
import { createBusinessData } from '../src/business-data/index.js';
import { createBusinessMgr, type BusinessMgr } from '../src/business-mgr/index.js';
import { loadConfig, type Config } from '../src/core/config.js';
import { hashFob } from '../src/core/fob-hash.js';
import { MemberCommand, SettingSet } from '../src/core/messages.js';
import type { Service } from '../src/core/service.js';
import { openDatabase, type DatabaseHandle } from '../src/core/storage/index.js';
import { createMachineMgr, type MachineMgr, type OutputDriver, type PulseRequest } from '../src/machine-mgr/index.js';
import { createMachineNotifier, type MachineNotifier } from '../src/machine-notifier/index.js';
import { createMemberData } from '../src/member-data/index.js';
import { createReporter } from '../src/reporter/index.js';
import { createSubscriptionMgr } from '../src/subscription-mgr/index.js';
import { createVaultService } from '../src/vault/index.js';

const TAPS = Number(process.env.BENCH_TAPS ?? 10_000);
const WARM_UP = 500;
const MEMBERS = 200;
const DOOR = 'bench-door';
/** A tap that has not reached the driver after this long fails the benchmark. */
const TAP_TIMEOUT_MS = 5_000;
const AIM_P99_MS = 5;
/** About the size of a sealed tap, so the baseline carries a comparable payload. */
const PAD = 'x'.repeat(300);
/** Round trips of the diagnostic raw run on default sockets (each costs tens of ms where Nagle bites). */
const DEFAULT_SOCKET_ROUND_TRIPS = Number(process.env.BENCH_RAW_DEFAULT_ROUND_TRIPS ?? 200);

interface Latencies {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

function summarize(samples: number[]): Latencies {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
  return {
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: sorted.at(-1) ?? 0,
    meanMs: sorted.reduce((sum, value) => sum + value, 0) / Math.max(1, sorted.length),
  };
}

async function until(done: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`benchmark timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Resolves with the value of `pending`, or rejects loudly after `ms`. */
function within<T>(pending: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`benchmark: ${what()}`)), ms);
  });
  return Promise.race([pending, timeout]).finally(() => clearTimeout(timer));
}

// ---- the baseline: a raw QoS 1 round trip on a plain Aedes broker ----------------------------------------------

/** Client A publishes QoS 1, client B echoes each message to another topic (QoS 1), A receives: one at a time. */
async function rawRoundTrips(count: number, warmUp: number, noDelay: boolean): Promise<number[]> {
  const broker = await Aedes.createBroker();
  const server: Server = createServer((socket) => {
    if (noDelay) socket.setNoDelay(true);
    broker.handle(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
  const a: MqttClient = await mqtt.connectAsync(url, { clientId: 'raw-a' });
  const b: MqttClient = await mqtt.connectAsync(url, { clientId: 'raw-b' });
  if (noDelay) for (const client of [a, b]) (client.stream as Partial<Socket>).setNoDelay?.(true);
  try {
    await b.subscribeAsync('bench/ping', { qos: 1 });
    b.on('message', (_topic, payload) => void b.publishAsync('bench/pong', payload, { qos: 1 }));
    await a.subscribeAsync('bench/pong', { qos: 1 });
    let waiting: { seq: number; resolve: (at: bigint) => void } | undefined;
    a.on('message', (_topic, payload) => {
      const at = process.hrtime.bigint();
      const { seq } = JSON.parse(payload.toString()) as { seq: number };
      if (waiting?.seq === seq) waiting.resolve(at);
    });
    const samples: number[] = [];
    for (let seq = 0; seq < warmUp + count; seq++) {
      const echoed = new Promise<bigint>((resolve) => (waiting = { seq, resolve }));
      const started = process.hrtime.bigint();
      void a.publishAsync('bench/ping', Buffer.from(JSON.stringify({ seq, pad: PAD })), { qos: 1 });
      const at = await within(echoed, TAP_TIMEOUT_MS, () => `raw round trip ${seq} not echoed within ${TAP_TIMEOUT_MS} ms`);
      if (seq >= warmUp) samples.push(Number(at - started) / 1e6);
    }
    return samples;
  } finally {
    await Promise.all([a.endAsync(true), b.endAsync(true)]);
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

// ---- the whole space: hub services, a door with its notifier and manager, members with fobs -------------------

/** The door's output: records when each pulse was asked for and returns at once. */
class TimingDriver implements OutputDriver {
  readonly kind = 'simulated' as const;
  pulses = 0;
  #waiting: ((at: bigint) => void) | undefined;

  next(): Promise<bigint> {
    return new Promise((resolve) => (this.#waiting = resolve));
  }

  pulse(_request: PulseRequest): Promise<void> {
    const at = process.hrtime.bigint();
    this.pulses++;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.(at);
    return Promise.resolve();
  }
}

interface Space {
  notifier: MachineNotifier;
  mgr: MachineMgr;
  businessMgr: BusinessMgr;
  driver: TimingDriver;
  database: DatabaseHandle;
  fobs: string[];
  stop(): Promise<void>;
}

async function startSpace(dataDir: string): Promise<Space> {
  let config: Config = loadConfig({
    env: process.env,
    overrides: {
      dataDir,
      broker: { port: 0, limits: UNMETERED_BROKER_LIMITS },
      log: { level: 'silent' },
      machines: {
        devices: {
          [DOOR]: {
            kind: 'door',
            reader: { kind: 'none' },
            outputs: { door: { driver: 'simulated', pulseMs: 1 } },
            tapDebounceMs: 0,
            maxTapsPerSecond: 1_000,
            answerTimeoutMs: 30_000,
            offlineAfterMs: 600_000,
          },
        },
      },
      vault: { tokenTtlSeconds: 86_400, directoryTtlSeconds: 7 * 86_400 },
    },
  });
  const clients = ['subscription-mgr', 'vault', 'business-data', 'member-data', 'reporter', 'business-mgr', DOOR, 'cli'];
  const { keeper, shared, context } = benchVault(dataDir, () => config, clients);

  const stoppers: (() => Promise<void>)[] = [];
  let database: DatabaseHandle | undefined;
  const stop = async () => {
    for (const stopOne of stoppers.reverse()) await stopOne().catch(() => undefined);
    await database?.close().catch(() => undefined);
    await closeShared(shared);
    keeper.close();
  };
  try {
    const broker = createSubscriptionMgr(await context('subscription-mgr'));
    await broker.start();
    stoppers.push(() => broker.stop());
    config = Object.freeze({ ...config, broker: Object.freeze({ ...config.broker, url: broker.urls[0]! }) });
    const vault = createVaultService(await context('vault'), keeper);
    await vault.start();
    stoppers.push(() => vault.stop());

    database = await openDatabase({ sqliteFile: join(dataDir, 'dctrl.db') });
    const businessMgr = createBusinessMgr(await context('business-mgr'), database);
    const hub: Service[] = [
      createBusinessData(await context('business-data'), database),
      createMemberData(await context('member-data'), database),
      createReporter(await context('reporter'), database),
      businessMgr,
    ];
    for (const service of hub) {
      await service.start();
      stoppers.push(() => service.stop());
    }
    const cli: BusClient = createBusClient(await context('cli'));
    await cli.start();
    stoppers.push(() => cli.stop());
    await cli.request(SettingSet, {
      kind: 'policy',
      key: 'doorHours',
      value: { members: [{ days: [0, 1, 2, 3, 4, 5, 6], from: '00:00', to: '00:00' }] },
    });
    const key = keeper.secret('fob-hash-key');
    const fobs: string[] = [];
    for (let i = 0; i < MEMBERS; i++) {
      const fob = String(1_000_000_000 + i * 7_919);
      const { member } = (await cli.request(MemberCommand, {
        action: 'join',
        name: `Bench Member ${i}`,
        email: `bench.member.${i}@example.org`,
        tier: 'member',
      })) as { member: { memberId: string } };
      await cli.request(MemberCommand, { action: 'issue-fob', memberId: member.memberId, fob: hashFob(fob, key) });
      fobs.push(fob);
    }

    const driver = new TimingDriver();
    const deviceContext = await context(DOOR);
    const mgr = createMachineMgr(
      {
        ...deviceContext,
        credentials: {
          ...deviceContext.credentials,
          pinnedKeys: { 'business-mgr': keeper.signingKey('business-mgr').publicKeyB64 },
        },
      },
      DOOR,
      { createDriver: () => driver },
    );
    await mgr.start();
    stoppers.push(() => mgr.stop());
    const notifier = createMachineNotifier(await context(DOOR), DOOR);
    await notifier.start();
    stoppers.push(() => notifier.stop());

    await until(() => mgr.connected() && notifier.stats().busConnected, 'the door on the bus');
    await until(() => notifier.stats().fobKey !== 'none', 'the door’s fob-hash-key from the Vault');
    await until(() => businessMgr.ready, 'BusinessMgr’s cache');
    await until(() => mgr.allowList()?.entries.length === MEMBERS, `the door’s allow-list with ${MEMBERS} fobs`);
    return { notifier, mgr, businessMgr, driver, database, fobs, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function tapLatencies(space: Space, count: number, warmUp: number): Promise<number[]> {
  const { notifier, mgr, driver, fobs } = space;
  const samples: number[] = [];
  for (let i = 0; i < warmUp + count; i++) {
    const fob = fobs[i % fobs.length]!;
    const pulsed = driver.next();
    const started = process.hrtime.bigint();
    notifier.handleReaderText(`${fob}\n`, 'stdin');
    const at = await within(pulsed, TAP_TIMEOUT_MS, () => {
      const stats = notifier.stats();
      return `tap ${i} (fob …${fob.slice(-4)}) did not reach the driver within ${TAP_TIMEOUT_MS} ms; door ${mgr.mode()}, bus ${stats.busConnected ? 'up' : 'down'}, ${stats.taps} taps, ${stats.published} published, ${stats.debounced} debounced, ${stats.rateLimited} rate-limited, ${driver.pulses} pulses`;
    });
    if (i >= warmUp) samples.push(Number(at - started) / 1e6);
  }
  return samples;
}

async function storedDecisions(database: DatabaseHandle): Promise<number> {
  const result = await sql<{ n: number }>`select count(*) as n from business_mgr_decisions`.execute(database.db);
  return Number(result.rows[0]?.n ?? 0);
}

function row(name: string, count: number, r: Latencies): string {
  return `| ${name} | ${count.toLocaleString('en')} | ${r.p50Ms.toFixed(3)} | ${r.p99Ms.toFixed(3)} | ${r.maxMs.toFixed(3)} | ${r.meanMs.toFixed(3)} |`;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'dctrl-bench-machines-'));
  try {
    const raw = summarize(await rawRoundTrips(TAPS, WARM_UP, true));
    const rawDefault = summarize(await rawRoundTrips(DEFAULT_SOCKET_ROUND_TRIPS, 20, false));
    const space = await startSpace(dataDir);
    let tap: Latencies;
    let decisions: number;
    let offline: number;
    let stats: ReturnType<MachineNotifier['stats']>;
    try {
      tap = summarize(await tapLatencies(space, TAPS, WARM_UP));
      // A decision is stored after its command is sent: wait for the last writes.
      const expected = WARM_UP + TAPS;
      const deadline = Date.now() + 10_000;
      decisions = await storedDecisions(space.database);
      while (decisions < expected && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        decisions = await storedDecisions(space.database);
      }
      offline = (await space.mgr.offlineLog()).length;
      stats = space.notifier.stats();
    } finally {
      await space.stop();
    }
    const sent = WARM_UP + TAPS;
    const cpu = cpus();
    console.log(
      `# Door benchmark: ${TAPS.toLocaleString('en')} taps one after another (after ${WARM_UP} warm-up), ${MEMBERS} members rotating; one process, as in embedded mode`,
    );
    console.log(
      `${cpu[0]?.model.trim() ?? 'unknown CPU'} (${cpu.length} threads), Node ${process.version}, ${process.platform}/${process.arch}`,
    );
    console.log('');
    console.log('| path | n | p50 ms | p99 ms | max ms | mean ms |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
    console.log(row('raw Aedes QoS 1 round trip (publish → echo → receive), TCP_NODELAY', TAPS, raw));
    console.log(row('raw Aedes QoS 1 round trip, default sockets (Nagle on)', DEFAULT_SOCKET_ROUND_TRIPS, rawDefault));
    console.log(row('tap → MachineNotifier → broker → BusinessMgr → signed command → MachineMgr → driver', TAPS, tap));
    console.log('');
    console.log(
      `ratio tap/raw (TCP_NODELAY): p50 ${(tap.p50Ms / raw.p50Ms).toFixed(2)}x, p99 ${(tap.p99Ms / raw.p99Ms).toFixed(2)}x; to raw on default sockets: p50 ${(tap.p50Ms / rawDefault.p50Ms).toFixed(2)}x, p99 ${(tap.p99Ms / rawDefault.p99Ms).toFixed(2)}x`,
    );
    console.log(
      `tap p99 ${tap.p99Ms.toFixed(3)} ms ${tap.p99Ms < AIM_P99_MS ? '<' : '>='} ${AIM_P99_MS} ms (aim: under ${AIM_P99_MS} ms): ${tap.p99Ms < AIM_P99_MS ? 'met' : 'NOT met'}`,
    );
    console.log(
      `decisions stored by BusinessMgr: ${decisions.toLocaleString('en')} of ${sent.toLocaleString('en')} taps (${WARM_UP} warm-up + ${TAPS.toLocaleString('en')})${decisions === sent ? '' : ' — MISMATCH'}; taps published ${stats.published.toLocaleString('en')}, offline decisions ${offline}`,
    );
    if (decisions !== sent || offline !== 0 || stats.published !== sent) process.exitCode = 1;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
