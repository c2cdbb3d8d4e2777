// The Reporter on the bus with the real MemberData and BusinessData: members join, the month turns, dues are
// charged, a payment is recorded, reports come back as JSON and CSV, and a rebuild changes nothing.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { DateTime } from 'luxon';
import { createBusinessData } from '../../src/business-data/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { RemoteError } from '../../src/core/errors.js';
import {
  BalanceChanged,
  LedgerRecord,
  MemberCommand,
  MemberStatusChanged,
  ReporterRun,
  ReportRequest,
  SettingSet,
} from '../../src/core/messages.js';
import type { Service } from '../../src/core/service.js';
import { openDatabase, type DatabaseHandle } from '../../src/core/storage/index.js';
import { createMemberData } from '../../src/member-data/index.js';
import { createReporter } from '../../src/reporter/index.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';
import type { BusClient } from '../../src/auth-proxy/index.js';

const clock = new ManualClock(DateTime.fromISO('2026-11-30T23:40', { zone: 'America/Vancouver' }).toMillis());
let h: Harness;
let database: DatabaseHandle;
let services: Service[];
let cli: BusClient;
const heard: string[] = [];
const memberIds: Record<string, string> = {};

async function refusal(promise: Promise<unknown>): Promise<RemoteError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  assert.ok(error instanceof RemoteError, `expected a coded refusal, got ${String(error)}`);
  return error;
}

const members = async () =>
  (
    (await cli.request(ReportRequest, { report: 'members' })) as {
      json: { members: { memberId: string; status: string; balanceCents: number }[] };
    }
  ).json.members;

before(async () => {
  h = await startHarness({
    clock,
    config: { bus: { requestTimeoutMs: 2_000, maxMessageBytes: 16_384 }, reporter: { checkIntervalMs: 3_600_000 } },
  });
  database = await openDatabase({ sqliteFile: join(h.dataDir, 'dctrl.db') });
  for (const name of ['business-data', 'member-data', 'reporter']) h.keeper.ensureClient(name);
  await h.vault.publishChanges();
  services = [
    createBusinessData(await h.context('business-data'), database),
    createMemberData(await h.context('member-data'), database),
    createReporter(await h.context('reporter'), database),
  ];
  for (const service of services) await service.start();
  cli = await h.client('cli');
  // Balances and status changes travel sealed to their readers; the Server is one.
  const watcher = await h.client('server', { extra: { sub: ['dctrl/v1/reporter/#'] } });
  await watcher.listen(BalanceChanged, (change) => void heard.push(`balance:${change.memberId}:${change.balanceCents}`));
  await watcher.listen(
    MemberStatusChanged,
    (change) => void heard.push(`status:${change.memberId}:${change.active ? 'active' : 'inactive'}:${change.reason}`),
  );
  // No grace at all, so the deadline falls as the month turns and the test need not wait ten days of tokens.
  await cli.request(SettingSet, { kind: 'policy', key: 'graceDays', value: 0, effectiveFrom: '2026-11-01' });
  for (const [name, tier] of [
    ['Ada', 'member'],
    ['Bob', 'member'],
  ] as const) {
    const { member } = (await cli.request(MemberCommand, {
      action: 'join',
      name,
      email: `${name.toLowerCase()}@example.org`,
      tier,
    })) as { member: { memberId: string } };
    memberIds[name] = member.memberId;
  }
});
after(async () => {
  for (const service of services.reverse()) await service.stop();
  await database.close();
  await h.stop();
});

test('the Reporter hears of new members at once and reports them active with nothing owed', async () => {
  await eventually(
    () => heard.filter((line) => line.startsWith('status:')).length === 2,
    () => heard.join(', '),
  );
  assert.deepEqual(
    (await members()).map((line) => [line.status, line.balanceCents]),
    [
      ['active', 0],
      ['active', 0],
    ],
  );
});

test('the month turns with BusinessData away: nothing is charged from stale settings, and the job says why', async () => {
  await services[0]!.stop();
  clock.advance(25 * 60_000);
  const refused = await refusal(cli.request(ReporterRun, { action: 'dues' }, { timeoutMs: 5_000 }));
  assert.equal(refused.code, 'REPORTER_UPSTREAM_UNAVAILABLE');
  assert.match(refused.message, /BusinessData/);
  assert.deepEqual(
    (await members()).map((line) => line.balanceCents),
    [0, 0],
  );
  await services[0]!.start();
});

test('with BusinessData back the job charges each member once; unpaid past grace, both become inactive', async () => {
  const first = (await cli.request(ReporterRun, { action: 'dues' })) as { charged: number; months: string[] };
  assert.deepEqual([first.charged, first.months.at(-1)], [2, '2026-12']);
  const second = (await cli.request(ReporterRun, { action: 'dues' })) as { charged: number };
  assert.equal(second.charged, 0);
  await eventually(
    () => heard.filter((line) => line.endsWith(':-7500')).length === 2,
    () => heard.join(', '),
  );
  await eventually(
    () => heard.filter((line) => line.endsWith(':inactive:dues-overdue')).length === 2,
    () => heard.join(', '),
  );
  assert.deepEqual(
    (await members()).map((line) => line.status),
    ['inactive', 'inactive'],
  );
});

test('a cash payment is recorded once per cause; the balance follows and paying up reactivates at once', async () => {
  const payment = {
    kind: 'payment',
    memberId: memberIds.Ada!,
    cents: 7_500,
    method: 'cash',
    causedBy: 'receipt-0042',
  } as const;
  const first = (await cli.request(LedgerRecord, payment)) as { balanceCents: number; duplicate: boolean };
  const retry = (await cli.request(LedgerRecord, payment)) as { balanceCents: number; duplicate: boolean };
  assert.deepEqual([first.balanceCents, first.duplicate, retry.duplicate], [0, false, true]);
  await eventually(() => heard.includes(`balance:${memberIds.Ada}:0`), 'the new balance');
  await eventually(() => heard.includes(`status:${memberIds.Ada}:active:member`), 'Ada active again');
  assert.deepEqual(
    (await members()).map((line) => line.status),
    ['active', 'inactive'],
  );
});

test('income comes back as CSV for the accountant, and a statement as JSON', async () => {
  const income = (await cli.request(ReportRequest, { report: 'income', month: '2026-12', format: 'csv' })) as { csv: string };
  assert.equal(
    income.csv,
    [
      'month,section,source,method,currency,entries,cents,amount,sats',
      '2026-12,earned,dues,charged,CAD,2,15000,150.00,0',
      '2026-12,received,member-payments,cash,CAD,1,7500,75.00,0',
      '',
    ].join('\n'),
  );
  const statement = (await cli.request(ReportRequest, { report: 'statement', memberId: memberIds.Ada! })) as {
    json: { entries: { kind: string; balanceCents: number }[]; closingCents: number };
  };
  assert.deepEqual(
    statement.json.entries.map((entry) => `${entry.kind}:${entry.balanceCents}`),
    ['dues:-7500', 'payment:0'],
  );
});

test('a client that may not write the ledger is refused; a payment for an unknown member names the problem', async () => {
  const stranger = await h.client('stranger', { extra: { pub: ['dctrl/v1/reporter/rpc/#'] } });
  const refused = await refusal(
    stranger.request(LedgerRecord, { kind: 'payment', memberId: memberIds.Bob!, cents: 100, method: 'cash' }),
  );
  assert.equal(refused.code, 'AUTH_PROXY_ASKER_NOT_ALLOWED');
  const notItsKind = await refusal(
    cli.request(LedgerRecord, {
      kind: 'purchase',
      memberId: memberIds.Bob!,
      cents: 350,
      method: 'balance',
      product: 'club-mate',
    }),
  );
  assert.equal(notItsKind.code, 'REPORTER_NOT_ALLOWED');
  assert.match(
    notItsKind.message,
    /"cli" may not record a purchase; reporter.ledgerWriters gives it payment, donation, adjustment/,
  );
  const unknown = await refusal(
    cli.request(LedgerRecord, { kind: 'payment', memberId: 'no-such-member', cents: 100, method: 'cash' }),
  );
  assert.equal(unknown.code, 'REPORTER_MEMBER_UNKNOWN');
  const badMonth = await refusal(cli.request(ReportRequest, { report: 'income', month: '2026-12-01' }));
  assert.equal(badMonth.code, 'REPORTER_MONTH_INVALID');
});

test('a statement longer than one bus message comes in pages, and the pages add up to all of it', async () => {
  for (let n = 0; n < 60; n++) {
    await cli.request(LedgerRecord, {
      kind: 'adjustment',
      memberId: memberIds.Bob!,
      cents: 10,
      note: `rounding ${n}`,
      causedBy: `round-${n}`,
    });
  }
  const entries: { balanceCents: number }[] = [];
  let after: string | undefined;
  let pages = 0;
  do {
    const page = (await cli.request(ReportRequest, {
      report: 'statement',
      memberId: memberIds.Bob!,
      ...(after !== undefined ? { after } : {}),
    })) as { json: { entries: { balanceCents: number }[] }; next: string | null };
    entries.push(...page.json.entries);
    after = page.next ?? undefined;
    pages += 1;
  } while (after !== undefined);
  assert.ok(pages > 1, 'one page would not fit in 16 KiB');
  assert.equal(entries.length, 61);
  assert.equal(entries.at(-1)!.balanceCents, -7_500 + 600);
});

test('the ledger over the bus comes in pages that fit, each entry once in the order recorded, without waiting on MemberData', async () => {
  // With MemberData away, a report that first caught up on member facts would wait out the 2 s request timeout.
  await services[1]!.stop();
  try {
    const readFrom = async (from: string | undefined) => {
      const ids: string[] = [];
      let after = from;
      let pages = 0;
      do {
        const page = (await cli.request(
          ReportRequest,
          { report: 'ledger', ...(after !== undefined ? { after } : {}) },
          { timeoutMs: 1_500 },
        )) as { json: { entries: { id: string }[] }; next: string | null };
        ids.push(...page.json.entries.map((entry) => entry.id));
        after = page.next ?? undefined;
        pages += 1;
      } while (after !== undefined);
      return { ids, pages };
    };
    const stored = async () =>
      (await sql<{ id: string }>`SELECT id FROM reporter_ledger ORDER BY id`.execute(database.db)).rows.map((row) => row.id);
    const whole = await readFrom(undefined);
    assert.ok(whole.pages > 1, 'one page would not fit in 16 KiB');
    assert.deepEqual(whole.ids, await stored());
    const { entry } = (await cli.request(LedgerRecord, {
      kind: 'adjustment',
      memberId: memberIds.Bob!,
      cents: 10,
      note: 'after the reader',
      causedBy: 'round-after',
    })) as { entry: { id: string } };
    assert.deepEqual((await readFrom(whole.ids.at(-1))).ids, [entry.id]);
  } finally {
    await services[1]!.start();
  }
});

test('a rebuild from the events alone over the bus reports the same state', async () => {
  const before = await members();
  const rebuilt = (await cli.request(ReporterRun, { action: 'rebuild' })) as { identical: boolean; accounts: number };
  assert.deepEqual([rebuilt.identical, rebuilt.accounts], [true, 2]);
  assert.deepEqual(await members(), before);
});

test('with BusinessData away a payment is still recorded, in the time zone and currency it last gave', async () => {
  await services[0]!.stop();
  try {
    const paid = (await cli.request(
      LedgerRecord,
      { kind: 'payment', memberId: memberIds.Bob!, cents: 1_000, method: 'cash', causedBy: 'receipt-0043' },
      { timeoutMs: 5_000 },
    )) as { entry: { currency: string; month: string }; duplicate: boolean };
    assert.deepEqual([paid.entry.currency, paid.entry.month, paid.duplicate], ['CAD', '2026-12', false]);
  } finally {
    await services[0]!.start();
  }
});
