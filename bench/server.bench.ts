// Benchmark: requests/s and latency of the REST API with 10,000 members (the member list, first page and a page deep
// in it, and one member's statement) beside static files and a logged-in request that asks nobody, all served by the
// same process in the same run. The whole hub runs in this process, as in embedded mode: broker, Vault, BusinessData,
// MemberData, the Reporter and the Server; autocannon fires from a worker thread. Members are seeded straight into
// MemberData's and the Reporter's tables (as `dctrl up --demo` does), then read through the bus like any request.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { closeShared, createBusClient } from '../src/auth-proxy/index.js';
import { BusinessBook } from '../src/business-data/book.js';
import { benchVault, UNMETERED_BROKER_LIMITS } from './bench-vault.js';
import { createBusinessData } from '../src/business-data/index.js';
import { systemClock } from '../src/core/clock.js';
import { loadConfig, type Config } from '../src/core/config.js';
import { ReporterRun } from '../src/core/messages.js';
import type { Service } from '../src/core/service.js';
import { openDatabase, type DatabaseHandle } from '../src/core/storage/index.js';
import { createMemberData } from '../src/member-data/index.js';
import { MemberRegister } from '../src/member-data/register.js';
import { createReporter } from '../src/reporter/index.js';
import { Reporter } from '../src/reporter/reporter.js';
import { createServer, ServerStore } from '../src/server/index.js';
import { createSubscriptionMgr } from '../src/subscription-mgr/index.js';
import { createVaultService } from '../src/vault/index.js';

const MEMBERS = Number(process.env.BENCH_SERVER_MEMBERS ?? 10_000);
const STATEMENT_ENTRIES = 48;
const SECONDS = Number(process.env.BENCH_SERVER_SECONDS ?? 10);
const WARM_UP_SECONDS = 2;
const CONNECTIONS = Number(process.env.BENCH_SERVER_CONNECTIONS ?? 10);
const SEEDER = 'bench';
const SPACE = { timezone: 'America/Vancouver', currency: 'CAD' };
const ADMIN = { name: 'bench-admin', password: 'bench-admin-password' };

interface Seeded {
  memberIds: string[];
  statementMember: string;
  ms: number;
}

/** Members straight into MemberData's register, mirrored into the Reporter, and a statement's worth of payments. */
async function seed(database: DatabaseHandle): Promise<Seeded> {
  const started = performance.now();
  const book = await BusinessBook.open(database, systemClock);
  const today = new Date(systemClock.now()).toISOString().slice(0, 10);
  const register = await MemberRegister.open(database, systemClock, {
    activeTiers: async () => Object.keys((await book.inForce(today)).tiers),
  });
  const reporter = await Reporter.open(database, systemClock);
  const memberIds: string[] = [];
  for (let i = 0; i < MEMBERS; i++) {
    const { member } = await register.join(
      { name: `Bench Member ${i}`, email: `bench.member.${i}@example.org`, tier: 'member' },
      SEEDER,
    );
    memberIds.push(member.memberId);
  }
  for (;;) {
    const page = await register.events({ afterId: await reporter.lastFactId(), limit: 500 });
    await reporter.ingestFacts(page.events);
    if (!page.more) break;
  }
  const statementMember = memberIds[Math.floor(MEMBERS / 2)]!;
  for (let i = 0; i < STATEMENT_ENTRIES; i++) {
    await reporter.record(
      { kind: 'payment', memberId: statementMember, cents: 5_000 + i, method: 'cash' },
      SEEDER,
      `bench-pay-${i}`,
      SPACE,
    );
  }
  return { memberIds: memberIds.sort(), statementMember, ms: performance.now() - started };
}

interface Hub {
  base: string;
  stop(): Promise<void>;
}

async function startHub(dataDir: string, database: DatabaseHandle): Promise<Hub> {
  let config: Config = loadConfig({
    env: process.env,
    overrides: {
      dataDir,
      broker: { port: 0, limits: UNMETERED_BROKER_LIMITS },
      log: { level: 'silent' },
      server: { port: 0, sessionIdleMinutes: 24 * 60 },
      vault: { tokenTtlSeconds: 86_400, directoryTtlSeconds: 7 * 86_400 },
    },
  });
  const clients = ['subscription-mgr', 'vault', 'business-data', 'member-data', 'reporter', 'server', 'cli'];
  const { keeper, shared, context } = benchVault(dataDir, () => config, clients);
  const stoppers: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const stopOne of stoppers.reverse()) await stopOne().catch(() => undefined);
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
    const server = createServer(await context('server'), database);
    const services: Service[] = [
      createBusinessData(await context('business-data'), database),
      createMemberData(await context('member-data'), database),
      createReporter(await context('reporter'), database),
      server,
    ];
    for (const service of services) {
      await service.start();
      stoppers.push(() => service.stop());
    }
    // The Reporter charges this month's dues for every member when it starts: let that finish before measuring.
    const cli = createBusClient(await context('cli'));
    await cli.start();
    stoppers.push(() => cli.stop());
    await cli.request(ReporterRun, { action: 'dues' }, { timeoutMs: 600_000 });
    return { base: server.url!.replace(/\/$/, ''), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

interface Measured {
  name: string;
  path: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  bytesPerResponse: number;
  requests: number;
}

async function measure(base: string, name: string, path: string, cookie: string | null): Promise<Measured> {
  const options = {
    url: `${base}${path}`,
    connections: CONNECTIONS,
    workers: 1,
    headers: cookie ? { cookie } : {},
  };
  await autocannon({ ...options, duration: WARM_UP_SECONDS });
  const result = await autocannon({ ...options, duration: SECONDS });
  if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0) {
    throw new Error(`${name}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx replies`);
  }
  return {
    name,
    path,
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    bytesPerResponse: result.throughput.total / Math.max(1, result.requests.total),
    requests: result.requests.total,
  };
}

async function login(base: string): Promise<string> {
  const response = await fetch(`${base}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(ADMIN),
  });
  if (response.status !== 200) throw new Error(`login: ${response.status} ${await response.text()}`);
  return (response.headers.get('set-cookie') ?? '').split(';')[0]!;
}

async function rows(base: string, path: string, cookie: string, field: string): Promise<number> {
  const body = (await (await fetch(`${base}${path}`, { headers: { cookie } })).json()) as Record<string, unknown[]>;
  return body[field]?.length ?? 0;
}

function row(m: Measured, baseline: Measured): string {
  const ratio = (value: number, of: number) => (of === 0 ? '–' : `${(value / of).toFixed(2)}x`);
  return `| ${m.name} | \`${m.path.length > 48 ? `${m.path.slice(0, 45)}…` : m.path}\` | ${Math.round(m.requestsPerSecond).toLocaleString('en')} | ${m.p50Ms.toFixed(0)} | ${m.p99Ms.toFixed(0)} | ${Math.round(m.bytesPerResponse).toLocaleString('en')} | ${ratio(m.requestsPerSecond, baseline.requestsPerSecond)} | ${ratio(m.p99Ms, baseline.p99Ms)} |`;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'dctrl-bench-server-'));
  const database = await openDatabase({ sqliteFile: join(dataDir, 'dctrl.db') });
  let hub: Hub | undefined;
  try {
    const seeded = await seed(database);
    const store = await ServerStore.open(database);
    await store.setUser({ name: ADMIN.name, role: 'admin', memberId: null, password: ADMIN.password }, systemClock.now());
    hub = await startHub(dataDir, database);
    const cookie = await login(hub.base);
    const deepIndex = Math.max(0, MEMBERS - 1_000);
    const deep = seeded.memberIds[deepIndex]!;
    const statement = `/api/v1/members/${seeded.statementMember}/statement`;
    const firstPageRows = await rows(hub.base, '/api/v1/members', cookie, 'members');
    const deepPageRows = await rows(hub.base, `/api/v1/members?after=${deep}`, cookie, 'members');
    const statementRows = await rows(hub.base, statement, cookie, 'entries');
    const staticFile = await fetch(`${hub.base}/`);
    if (staticFile.status !== 200 || !(staticFile.headers.get('content-type') ?? '').startsWith('text/html')) {
      throw new Error(`the dashboard's index.html is not served at / (${staticFile.status}); run npm run build first`);
    }

    const runs: Measured[] = [];
    runs.push(await measure(hub.base, 'static index.html', '/', null));
    runs.push(await measure(hub.base, 'static app.js', '/app.js', null));
    runs.push(await measure(hub.base, 'session (login checked, no bus)', '/api/v1/session', cookie));
    runs.push(await measure(hub.base, `members, first page (${firstPageRows} rows)`, '/api/v1/members', cookie));
    runs.push(
      await measure(
        hub.base,
        `members, page after #${deepIndex.toLocaleString('en')} (${deepPageRows} rows)`,
        `/api/v1/members?after=${deep}`,
        cookie,
      ),
    );
    runs.push(await measure(hub.base, `statement (${statementRows} entries)`, statement, cookie));

    const cpu = cpus();
    const baseline = runs[0]!;
    console.log(
      `# Server benchmark: ${MEMBERS.toLocaleString('en')} members (seeded in ${(seeded.ms / 1000).toFixed(1)} s), ${CONNECTIONS} connections for ${SECONDS} s per route after ${WARM_UP_SECONDS} s warm-up; hub and load generator in one process`,
    );
    console.log(
      `${cpu[0]?.model.trim() ?? 'unknown CPU'} (${cpu.length} threads), Node ${process.version}, ${process.platform}/${process.arch}`,
    );
    console.log('');
    console.log('| request | path | req/s | p50 ms | p99 ms | bytes | req/s vs static | p99 vs static |');
    console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const run of runs) console.log(row(run, baseline));
    console.log('');
    const [, , session, first, deepPage, statementRun] = runs as [Measured, Measured, Measured, Measured, Measured, Measured];
    console.log(
      `ratios to static index.html: members first page ${(first.requestsPerSecond / baseline.requestsPerSecond).toFixed(3)}x req/s, ${(first.p99Ms / Math.max(1, baseline.p99Ms)).toFixed(1)}x p99; deep page ${(deepPage.requestsPerSecond / baseline.requestsPerSecond).toFixed(3)}x req/s; statement ${(statementRun.requestsPerSecond / baseline.requestsPerSecond).toFixed(3)}x req/s, ${(statementRun.p99Ms / Math.max(1, baseline.p99Ms)).toFixed(1)}x p99`,
    );
    console.log(
      `deep page / first page: ${(deepPage.requestsPerSecond / first.requestsPerSecond).toFixed(2)}x req/s; members first page / session check: ${(first.requestsPerSecond / session.requestsPerSecond).toFixed(3)}x req/s (the rest is the bus round trip and the Reporter's query)`,
    );
  } finally {
    await hub?.stop();
    await database.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
