// Benchmark: rebuild every Reporter account from 1,000,000 events (10,000 members over 8 years) on SQLite, beside
// the cost of one new event applied incrementally, at that size and at a small size, in the same run.
// The rebuild runs in a fresh child process, so its peak memory is its own and not the data generator's.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { DateTime } from 'luxon';
import { ManualClock } from '../src/core/clock.js';
import { createIdFactoryAfter } from '../src/core/ids.js';
import { openDatabase } from '../src/core/storage/index.js';
import { Reporter } from '../src/reporter/reporter.js';

const ZONE = 'America/Vancouver';
const TARGET_EVENTS = Number(process.env.BENCH_REPORTER_EVENTS ?? 1_000_000);
const MEMBERS = Number(process.env.BENCH_REPORTER_MEMBERS ?? 10_000);
const YEARS = 8;
const SMALL_EVENTS = 10_000;
const INCREMENTAL_EVENTS = 2_000;
const space = { timezone: ZONE, currency: 'CAD' };

/** A small seeded generator, so every run builds the same history. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Writes a history straight into the Reporter's tables (after its migrations ran): members join through the
 * years, most pay their dues each month, some fall behind, some leave. Returns the number of events written.
 */
async function generate(file: string, targetEvents: number, members: number): Promise<{ facts: number; entries: number }> {
  const start = DateTime.fromISO(`${2026 - YEARS + 1}-01-01`, { zone: ZONE });
  const clock = new ManualClock(start.toMillis());
  const handle = await openDatabase({ sqliteFile: file });
  await Reporter.open(handle, clock);
  await handle.close();
  const sqlite = new Database(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = OFF');
  const insertFact = sqlite.prepare('INSERT INTO reporter_member_facts (id, member_id, fact, recorded_at) VALUES (?, ?, ?, ?)');
  const insertEntry = sqlite.prepare(
    `INSERT INTO reporter_ledger (id, at, month, kind, member_id, cents, currency, method, sats, rate_cents_per_btc,
       rate_source, rate_at, caused_by, due_at, detail, recorded_by) VALUES (?, ?, ?, ?, ?, ?, 'CAD', ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const nextFactId = createIdFactoryAfter(clock, undefined);
  const nextEntryId = createIdFactoryAfter(clock, undefined);
  const roll = random(42);
  const months = YEARS * 12;
  const joinersPerMonth = Math.ceil(members / months);
  const current: { id: string; owed: number }[] = [];
  let joined = 0;
  let facts = 0;
  let entries = 0;
  const write = sqlite.transaction(() => {
    for (let index = 0; index < months && facts + entries < targetEvents; index++) {
      const month = start.plus({ months: index });
      const label = month.toFormat('yyyy-MM');
      clock.set(month.toMillis() + 3_600_000);
      for (let n = 0; n < joinersPerMonth && joined < members; n++, joined++) {
        const id = `m${String(joined).padStart(5, '0')}`;
        const fact = { type: 'joined', name: `Member ${joined}`, email: `m${joined}@example.org`, tier: 'member' };
        insertFact.run(nextFactId(), id, JSON.stringify(fact), clock.now());
        facts += 1;
        current.push({ id, owed: 0 });
      }
      const dueAt = month.plus({ days: 10 }).toMillis();
      for (let i = current.length - 1; i >= 0; i--) {
        const member = current[i]!;
        if (facts + entries >= targetEvents) break;
        if (roll() < 0.004) {
          insertFact.run(nextFactId(), member.id, JSON.stringify({ type: 'left' }), clock.now());
          facts += 1;
          current.splice(i, 1);
          continue;
        }
        insertEntry.run(
          nextEntryId(),
          clock.now(),
          label,
          'dues',
          member.id,
          -7_500,
          null,
          null,
          null,
          null,
          null,
          `dues:${member.id}:${label}`,
          dueAt,
          '{"tier":"member"}',
          'reporter',
        );
        member.owed += 7_500;
        entries += 1;
        if (roll() < 0.45) {
          insertEntry.run(
            nextEntryId(),
            clock.now() + 3_600_000,
            label,
            'purchase',
            member.id,
            -350,
            'balance',
            null,
            null,
            null,
            null,
            `vend:${nextEntryId()}`,
            null,
            '{"product":"club-mate"}',
            'business-mgr',
          );
          member.owed += 350;
          entries += 1;
        }
        const paying = roll();
        if (paying < 0.9) {
          const cents = paying < 0.05 ? member.owed + 7_500 : member.owed;
          const bitcoin = paying < 0.3;
          insertEntry.run(
            nextEntryId(),
            clock.now() + 86_400_000,
            label,
            'payment',
            member.id,
            cents,
            bitcoin ? 'bitcoin' : 'cash',
            bitcoin ? cents * 10 : null,
            bitcoin ? 10_000_000 : null,
            bitcoin ? 'fixed' : null,
            bitcoin ? clock.now() : null,
            `payment:${member.id}:${label}`,
            null,
            '{}',
            'cli',
          );
          member.owed -= cents;
          entries += 1;
        }
      }
    }
    const end = start.plus({ months }).toMillis() - 1;
    sqlite.prepare("INSERT INTO reporter_meta (key, value) VALUES ('watermark', ?)").run(String(end));
  });
  write();
  sqlite.close();
  return { facts, entries };
}

interface ChildResult {
  events: number;
  rebuildMs: number;
  eventsPerSecond: number;
  peakRssMb: number;
  incrementalUs: number;
  digest: string;
}

/** In a fresh process: one full rebuild, then a run of new payments through the incremental path. */
async function measure(file: string): Promise<ChildResult> {
  const handle = await openDatabase({ sqliteFile: file });
  const watermark = Number(
    (
      new Database(file, { readonly: true }).prepare("SELECT value FROM reporter_meta WHERE key = 'watermark'").get() as {
        value: string;
      }
    ).value,
  );
  const clock = new ManualClock(watermark);
  const reporter = await Reporter.open(handle, clock);
  const started = performance.now();
  const rebuilt = await reporter.rebuild();
  const rebuildMs = performance.now() - started;
  const events = rebuilt.facts + rebuilt.entries;
  const members = (await handle.db
    .selectFrom('reporter_accounts' as never)
    .select('member_id' as never)
    .limit(500)
    .execute()) as {
    member_id: string;
  }[];
  const incrementalStarted = performance.now();
  for (let n = 0; n < INCREMENTAL_EVENTS; n++) {
    clock.advance(1_000);
    await reporter.record(
      { kind: 'payment', memberId: members[n % members.length]!.member_id, cents: 500, method: 'cash' },
      'bench',
      `bench:${n}`,
      space,
    );
  }
  const incrementalUs = ((performance.now() - incrementalStarted) * 1000) / INCREMENTAL_EVENTS;
  await handle.close();
  return {
    events,
    rebuildMs,
    eventsPerSecond: events / (rebuildMs / 1000),
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    incrementalUs,
    digest: rebuilt.digest,
  };
}

function runChild(file: string): ChildResult {
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--measure', file], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (child.status !== 0) throw new Error(`measuring child failed: ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1)!) as ChildResult;
}

async function main(): Promise<void> {
  if (process.argv[2] === '--measure') {
    process.stdout.write(JSON.stringify(await measure(process.argv[3]!)) + '\n');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'dctrl-bench-reporter-'));
  try {
    const smallFile = join(dir, 'small.db');
    const largeFile = join(dir, 'large.db');
    await generate(smallFile, SMALL_EVENTS, Math.ceil(MEMBERS / 100));
    const generatedAt = performance.now();
    const large = await generate(largeFile, TARGET_EVENTS, MEMBERS);
    const generateSeconds = (performance.now() - generatedAt) / 1000;
    const small = runChild(smallFile);
    const full = runChild(largeFile);
    const rebuiltPerEventUs = (full.rebuildMs * 1000) / full.events;
    console.log(
      `Reporter rebuild on SQLite (${large.facts} member facts + ${large.entries} ledger entries, generated in ${generateSeconds.toFixed(1)} s)`,
    );
    console.table({
      [`small (${small.events} events)`]: {
        'rebuild events/s': Math.round(small.eventsPerSecond),
        'rebuild ms': Math.round(small.rebuildMs),
        'peak RSS MB': Math.round(small.peakRssMb),
        'one new event µs': Math.round(small.incrementalUs),
      },
      [`full (${full.events} events)`]: {
        'rebuild events/s': Math.round(full.eventsPerSecond),
        'rebuild ms': Math.round(full.rebuildMs),
        'peak RSS MB': Math.round(full.peakRssMb),
        'one new event µs': Math.round(full.incrementalUs),
      },
    });
    console.log(
      [
        `full rebuild: ${Math.round(full.eventsPerSecond).toLocaleString('en')} events/s (aim ≥ 300,000), peak RSS ${Math.round(full.peakRssMb)} MB (aim < 500 MB)`,
        `one new event at ${full.events.toLocaleString('en')} events costs ${(full.incrementalUs / small.incrementalUs).toFixed(2)}x what it costs at ${small.events.toLocaleString('en')} (1.0 = no rescanning of history)`,
        `one new event costs ${(full.incrementalUs / rebuiltPerEventUs).toFixed(0)}x one event's share of a full rebuild, and ${((full.incrementalUs / 1000 / full.rebuildMs) * 100).toFixed(4)}% of the full rebuild`,
      ].join('\n'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
