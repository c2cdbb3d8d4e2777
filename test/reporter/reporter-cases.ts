// The Reporter's ledger, dues job, grace deadlines, reports and rebuild, run against SQLite and a real PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { DateTime } from 'luxon';
import { ManualClock } from '../../src/core/clock.js';
import { createIdFactoryAfter } from '../../src/core/ids.js';
import type { DatabaseHandle } from '../../src/core/storage/index.js';
import { Reporter, type Change, type LedgerEntry, type LedgerInput, type MonthSettings } from '../../src/reporter/reporter.js';
import {
  balancesCsv,
  balancesReport,
  incomeCsv,
  incomeReport,
  ledgerCsv,
  ledgerReport,
  membersCsv,
  membersReport,
  statementCsv,
  statementReport,
} from '../../src/reporter/reports.js';
import type { DatabaseFactory } from '../helpers/databases.js';

const ZONE = 'America/Vancouver';
const space = { timezone: ZONE, currency: 'CAD' };
const local = (iso: string) => DateTime.fromISO(iso, { zone: ZONE }).toMillis();
const code = (expected: string) => (error: Error & { code?: string }) => error.code === expected && error.message.length > 10;
const page = { limit: 200 };

/** What BusinessData has in force on each 1st: 75.00 a month, 20.00 for students, 40.00 from 2027 on; 10 days' grace. */
const settingsFor = (month: string): Promise<MonthSettings> =>
  Promise.resolve({
    tiers: {
      member: { name: 'Member', monthlyDuesCents: month >= '2027-01' ? 8_000 : 7_500 },
      student: { name: 'Student', monthlyDuesCents: 2_000 },
      free: { name: 'Free', monthlyDuesCents: 0 },
    },
    graceDays: 10,
  });

export function runReporterCases(name: string, factory: DatabaseFactory): void {
  describe(`reporter: ${name}`, () => {
    const clock = new ManualClock(local('2026-10-15T12:00'));
    const nextFactId = createIdFactoryAfter(clock, undefined);
    let handle: DatabaseHandle;
    let reporter: Reporter;
    const heard: Change[] = [];

    /** A member fact as MemberData would hand it over, recorded now. */
    const fact = async (memberId: string, event: Record<string, unknown>) => {
      heard.push(...(await reporter.ingestFacts([{ id: nextFactId(), memberId, event, recordedAt: clock.now() }])));
    };
    const record = async (input: LedgerInput, cause?: string) => {
      const result = await reporter.record(input, 'cli', cause ?? `request:${nextFactId()}`, space);
      heard.push(...result.changes);
      return result;
    };
    const runDues = async () => {
      const run = await reporter.chargeDues(space, settingsFor);
      heard.push(...run.changes, ...(await reporter.advance()).changes);
      return run;
    };
    const member = async (memberId: string) => {
      const report = await membersReport(handle.db as never, true, page);
      return report.members.find((line) => line.memberId === memberId)!;
    };
    const allReports = async () => {
      const db = handle.db as never;
      const parts = [
        incomeCsv(await incomeReport(db, '2026-11')),
        JSON.stringify(await incomeReport(db, '2026-12')),
        membersCsv(await membersReport(db, true, page)),
        JSON.stringify(await membersReport(db, true, page)),
        balancesCsv(await balancesReport(db, page)),
        statementCsv(await statementReport(db, 'ada', undefined, page)),
        JSON.stringify(await statementReport(db, 'bob', '2026-12', page)),
        ledgerCsv(await ledgerReport(db, undefined, page)),
      ];
      return parts.join('\n--\n');
    };

    before(async () => {
      handle = await factory.create();
      reporter = await Reporter.open(handle, clock);
      await fact('ada', { type: 'joined', name: 'Ada', email: 'ada@example.org', tier: 'member' });
      await fact('bob', { type: 'joined', name: 'Bob', email: 'bob@example.org', tier: 'student' });
      await fact('cy', { type: 'joined', name: 'Cy', email: 'cy@example.org', tier: 'member' });
      await fact('cy', { type: 'exempt-set', reason: 'board' });
      await fact('dee', { type: 'joined', name: 'Dee', email: 'dee@example.org', tier: 'member' });
      await fact('dee', { type: 'left' });
      await fact('ada', { type: 'group-added', group: 'keyholders' });
      await fact('ada', { type: 'badge-awarded', badge: 'laser' });
    });
    after(async () => {
      await handle.close();
      await factory.cleanup();
    });

    test('nothing is charged for the month members joined in; on the 1st each current, non-exempt member owes their tier', async () => {
      assert.equal((await runDues()).charged, 0);
      clock.set(local('2026-10-31T23:59:59'));
      assert.equal((await runDues()).charged, 0, 'not before midnight in Vancouver');
      clock.set(local('2026-11-01T00:00:30'));
      heard.length = 0;
      const run = await runDues();
      assert.deepEqual(run.months, ['2026-11']);
      assert.equal(run.charged, 2);
      assert.equal((await member('ada')).balanceCents, -7_500);
      assert.equal((await member('bob')).balanceCents, -2_000);
      assert.equal((await member('cy')).balanceCents, 0, 'exempt');
      assert.equal((await member('dee')).balanceCents, 0, 'left');
      assert.deepEqual(
        heard.filter((change) => change.kind === 'balance').map((change) => `${change.memberId}:${change.balanceCents}`),
        ['ada:-7500', 'bob:-2000'],
      );
      assert.equal((await member('ada')).status, 'active', 'within grace');
      assert.deepEqual((await member('ada')).groups, ['members', 'tier:member', 'keyholders', 'badge:laser']);
      assert.deepEqual((await member('cy')).groups, ['members', 'tier:member', 'exempt']);
    });

    test('every member line carries the end of grace of the oldest unpaid dues, or null', async () => {
      const novemberGraceEnds = local('2026-11-11T00:00');
      assert.deepEqual(
        (await membersReport(handle.db as never, true, page)).members.map((line) => [line.memberId, line.graceEndsAt]),
        [
          ['ada', novemberGraceEnds],
          ['bob', novemberGraceEnds],
          ['cy', null],
          ['dee', null],
        ],
      );
      const balances = await balancesReport(handle.db as never, page);
      assert.deepEqual(
        balances.balances.map((line) => [line.memberId, line.graceEndsAt]),
        [
          ['ada', novemberGraceEnds],
          ['bob', novemberGraceEnds],
        ],
      );
      assert.equal((await statementReport(handle.db as never, 'ada', undefined, page)).member.graceEndsAt, novemberGraceEnds);
    });

    test('the dues job run twice in a month charges nothing more', async () => {
      const second = await runDues();
      assert.equal(second.charged, 0);
      const count = await sql<{ n: number }>`SELECT count(*) AS n FROM reporter_ledger WHERE kind = 'dues'`.execute(handle.db);
      assert.equal(Number(count.rows[0]!.n), 2);
    });

    test('a member still owing when grace ends becomes inactive, and the bus hears it; paying in full reactivates', async () => {
      clock.set(local('2026-11-05T10:00'));
      await record({ kind: 'payment', memberId: 'bob', cents: 2_000, method: 'cash' });
      await record({ kind: 'payment', memberId: 'ada', cents: 5_000, method: 'cash', note: 'part' });
      clock.set(local('2026-11-10T23:59'));
      heard.length = 0;
      await runDues();
      assert.equal((await member('ada')).status, 'active', 'the 10th is still within grace');
      clock.set(local('2026-11-11T00:00:01'));
      await runDues();
      assert.deepEqual(
        heard.filter((change) => change.kind === 'status'),
        [
          {
            kind: 'status',
            memberId: 'ada',
            active: false,
            reason: 'dues-overdue',
            balanceCents: -2_500,
            groups: ['members', 'tier:member', 'keyholders', 'badge:laser'],
          },
        ],
      );
      assert.equal((await member('bob')).status, 'active', 'paid in full');
      assert.equal((await member('bob')).graceEndsAt, null, 'nothing unpaid');
      assert.equal((await member('ada')).graceEndsAt, local('2026-11-11T00:00'), 'the deadline she missed');
      heard.length = 0;
      clock.set(local('2026-11-12T09:00'));
      await record({ kind: 'payment', memberId: 'ada', cents: 1_000, method: 'cash' });
      assert.equal((await member('ada')).status, 'inactive', 'a part payment is not enough');
      const paid = await record({
        kind: 'payment',
        memberId: 'ada',
        cents: 7_500,
        method: 'bitcoin',
        sats: 75_000,
        rate: { centsPerBtc: 10_000_000, source: 'fixed', at: clock.now() },
      });
      assert.equal(paid.balanceCents, 6_000);
      assert.equal((await member('ada')).status, 'active');
      assert.equal((await member('ada')).graceEndsAt, null);
      assert.ok(heard.some((change) => change.kind === 'status' && change.memberId === 'ada' && change.active));
    });

    test('credit is spent on the next dues first; what it did not cover lapses when grace ends, and an adjustment restores', async () => {
      clock.set(local('2026-12-01T08:00'));
      await runDues();
      assert.equal((await member('ada')).balanceCents, -1_500, '6000 credit against 7500');
      assert.equal((await member('ada')).graceEndsAt, local('2026-12-11T00:00'), 'what the credit did not cover is due');
      clock.set(local('2026-12-20T08:00'));
      await runDues();
      assert.equal((await member('ada')).status, 'inactive', 'the credit did not cover the whole month');
      assert.equal((await member('bob')).status, 'inactive');
      await record({ kind: 'adjustment', memberId: 'ada', cents: 1_500, note: 'volunteered at the open house' });
      assert.equal((await member('ada')).status, 'active');
    });

    test('after downtime, every month missed is charged at the dues then in force, and grace already over applies at once', async () => {
      clock.set(local('2027-03-04T12:00'));
      const run = await runDues();
      assert.deepEqual(run.months, ['2027-01', '2027-02', '2027-03']);
      const ada = await statementReport(handle.db as never, 'ada', undefined, page);
      assert.deepEqual(
        ada.entries.filter((entry) => entry.kind === 'dues').map((entry) => `${entry.month}:${entry.cents}`),
        ['2026-11:-7500', '2026-12:-7500', '2027-01:-8000', '2027-02:-8000', '2027-03:-8000'],
      );
      assert.equal((await member('ada')).status, 'inactive', 'January and February were past grace when charged');
    });

    test('the clock jumping backwards charges nothing twice and undoes nothing', async () => {
      const before = await reporter.digest();
      const watermark = await reporter.watermark();
      clock.set(local('2026-11-20T12:00'));
      const run = await runDues();
      assert.equal(run.charged, 0);
      const advanced = await reporter.advance();
      assert.ok(advanced.clockBehindMs > 90 * 86_400_000);
      assert.equal(await reporter.watermark(), watermark);
      assert.equal(await reporter.digest(), before);
      const late = await record({ kind: 'payment', memberId: 'bob', cents: 100, method: 'cash' });
      assert.equal(late.entry.at, watermark, 'a movement recorded while the clock is behind is stamped at the last time seen');
      assert.equal(late.entry.month, '2027-03');
      clock.set(local('2027-03-05T12:00'));
    });

    test('the same cause is recorded once; a retry returns the first entry', async () => {
      const first = await record({ kind: 'payment', memberId: 'cy', cents: 500, method: 'cash' }, 'receipt-17');
      const again = await record({ kind: 'payment', memberId: 'cy', cents: 500, method: 'cash' }, 'receipt-17');
      assert.equal(again.duplicate, true);
      assert.equal(again.entry.id, first.entry.id);
      assert.equal((await member('cy')).balanceCents, 500);
    });

    test('a second movement that reuses a recorded cause with other details is refused, not swallowed', async () => {
      const before = await reporter.digest();
      await assert.rejects(
        record({ kind: 'payment', memberId: 'cy', cents: 999_900, method: 'cash' }, 'receipt-17'),
        code('REPORTER_CAUSE_CONFLICT'),
      );
      await assert.rejects(
        record({ kind: 'payment', memberId: 'ada', cents: 500, method: 'cash' }, 'receipt-17'),
        code('REPORTER_CAUSE_CONFLICT'),
      );
      assert.equal(await reporter.digest(), before);
    });

    test('bad money input is refused, naming what is wrong, and records nothing', async () => {
      const before = await reporter.digest();
      await assert.rejects(
        record({ kind: 'payment', memberId: 'nobody', cents: 100, method: 'cash' }),
        code('REPORTER_MEMBER_UNKNOWN'),
      );
      await assert.rejects(
        record({ kind: 'payment', memberId: 'ada', cents: 100, method: 'bitcoin' }),
        code('REPORTER_VALUE_INVALID'),
      );
      await assert.rejects(
        record({
          kind: 'payment',
          memberId: 'ada',
          cents: 100,
          method: 'cash',
          sats: 5,
          rate: { centsPerBtc: 1, source: 'x', at: 1 },
        }),
        code('REPORTER_VALUE_INVALID'),
      );
      await assert.rejects(
        record({
          kind: 'purchase',
          memberId: 'ada',
          cents: 300,
          method: 'bitcoin',
          product: 'mate',
          sats: 3,
          rate: { centsPerBtc: 1, source: 'x', at: 1 },
        }),
        code('REPORTER_VALUE_INVALID'),
      );
      await assert.rejects(
        record({ kind: 'purchase', cents: 300, method: 'balance', product: 'mate' }),
        code('REPORTER_VALUE_INVALID'),
      );
      const rate = { centsPerBtc: 10_000_000, source: 'fixed', at: 1 };
      await assert.rejects(
        record({ kind: 'payment', memberId: 'ada', cents: 7_500, method: 'bitcoin', sats: 7_500_000, rate }),
        (error: Error & { code?: string }) =>
          error.code === 'REPORTER_VALUE_INVALID' && /expected about 75000 sats/.test(error.message),
      );
      await assert.rejects(statementReport(handle.db as never, 'ada', '2026-13', page), code('REPORTER_MONTH_INVALID'));
      await assert.rejects(incomeReport(handle.db as never, '26-11'), code('REPORTER_MONTH_INVALID'));
      assert.equal(await reporter.digest(), before);
    });

    test('income for a month by source and method, in integer cents and sats', async () => {
      clock.set(local('2027-03-06T12:00'));
      await record({ kind: 'purchase', memberId: 'bob', cents: 350, method: 'balance', product: 'club-mate' });
      await record({
        kind: 'purchase',
        cents: 350,
        method: 'bitcoin',
        product: 'club-mate',
        sats: 3_500,
        rate: { centsPerBtc: 10_000_000, source: 'fixed', at: clock.now() },
      });
      await record({ kind: 'donation', cents: 2_000, method: 'cash', note: 'open house jar' });
      const march = await incomeReport(handle.db as never, '2027-03');
      const line = (section: string, source: string, method: string) =>
        march.lines.find((one) => one.section === section && one.source === source && one.method === method)?.cents;
      assert.equal(line('earned', 'dues', 'charged'), 8_000 + 2_000);
      assert.equal(line('earned', 'vending', 'balance'), 350);
      assert.equal(line('earned', 'vending', 'bitcoin'), 350);
      assert.equal(line('received', 'vending', 'bitcoin'), 350);
      assert.equal(line('earned', 'donations', 'cash'), 2_000);
      assert.equal(march.totals.receivedSats, 3_500);
      assert.equal(march.totals.receivedCashCents, 2_000 + 100 + 500);
      const november = await incomeReport(handle.db as never, '2026-11');
      assert.equal(november.totals.earnedCents, 9_500);
      assert.equal(november.totals.receivedCashCents, 2_000 + 5_000 + 1_000);
      assert.equal(november.totals.receivedBitcoinCents, 7_500);
      assert.match(incomeCsv(november), /^month,section,source,method,currency,entries,cents,amount,sats\n/);
      assert.match(incomeCsv(november), /2026-11,received,member-payments,bitcoin,CAD,1,7500,75\.00,75000/);
    });

    test('a movement at 9 pm on the last day in Vancouver counts in that month, though it is the 1st in UTC', async () => {
      clock.set(local('2027-03-31T21:00'));
      const { entry } = await record({ kind: 'donation', cents: 100, method: 'cash' });
      assert.equal(new Date(entry.at).toISOString().slice(0, 10), '2027-04-01');
      assert.equal(entry.month, '2027-03');
    });

    test('each balance is the sum of that member’s entries, always', async () => {
      const sums = await sql<{ member_id: string; total: number }>`
        SELECT member_id, cast(sum(cents) as bigint) AS total FROM reporter_ledger WHERE member_id IS NOT NULL GROUP BY member_id`.execute(
        handle.db,
      );
      const report = await membersReport(handle.db as never, true, page);
      for (const line of report.members) {
        const row = sums.rows.find((one) => one.member_id === line.memberId);
        assert.equal(line.balanceCents, Number(row?.total ?? 0), line.memberId);
      }
    });

    test('a statement is paged and its running balance carries across pages', async () => {
      const whole = await statementReport(handle.db as never, 'ada', undefined, page);
      const first = await statementReport(handle.db as never, 'ada', undefined, { limit: 3 });
      assert.ok(first.next);
      const second = await statementReport(handle.db as never, 'ada', undefined, { limit: 200, after: first.next });
      assert.deepEqual([...first.entries, ...second.entries], whole.entries);
      assert.equal(whole.closingCents, (await member('ada')).balanceCents);
    });

    /** Reads the ledger report from `after` to its end, a page of `limit` at a time; `between` runs after each page. */
    const readLedger = async (after: string | undefined, limit: number, between?: (pages: number) => Promise<void>) => {
      const entries: LedgerEntry[] = [];
      let cursor = after;
      let pages = 0;
      for (;;) {
        const report = await ledgerReport(handle.db as never, undefined, { after: cursor, limit });
        entries.push(...report.entries);
        pages += 1;
        await between?.(pages);
        if (report.next === null) return { entries, pages };
        assert.equal(report.next, report.entries.at(-1)!.id, 'next is the last id on the page');
        cursor = report.next;
      }
    };
    const storedIds = async () =>
      (await sql<{ id: string }>`SELECT id FROM reporter_ledger ORDER BY id`.execute(handle.db)).rows.map((row) => row.id);
    const ascending = (ids: string[]) => ids.every((id, at) => at === 0 || ids[at - 1]! < id);

    test('ids made in one millisecond, after the clock went back, and after a reopen still sort in the order recorded', async () => {
      const recorded: string[] = [];
      for (let n = 0; n < 5; n++) recorded.push((await record({ kind: 'donation', cents: 1 + n, method: 'cash' })).entry.id);
      const now = clock.now();
      clock.set(now - 86_400_000);
      recorded.push((await record({ kind: 'donation', cents: 10, method: 'cash', note: 'clock behind' })).entry.id);
      // A restart while the clock still reads behind: the new Reporter continues after the newest stored id.
      reporter = await Reporter.open(handle, clock);
      recorded.push((await record({ kind: 'donation', cents: 11, method: 'cash', note: 'after reopening' })).entry.id);
      clock.set(now);
      recorded.push((await record({ kind: 'donation', cents: 12, method: 'cash' })).entry.id);
      assert.ok(ascending(recorded), recorded.join(' '));
      const tail = await ledgerReport(handle.db as never, undefined, { after: recorded[0], limit: 200 });
      assert.deepEqual(
        tail.entries.map((entry) => entry.id),
        recorded.slice(1),
      );
      assert.deepEqual(
        tail.entries.map((entry) => entry.cents),
        [2, 3, 4, 5, 10, 11, 12],
      );
    });

    test('the ledger report pages through every entry in id order, none skipped or repeated, with entries recorded between pages', async () => {
      const before = await storedIds();
      assert.ok(ascending(before), 'the database orders ids as JavaScript compares them, whatever its collation');
      const added: string[] = [];
      const { entries, pages } = await readLedger(undefined, 7, async (pageNumber) => {
        // Between pages, more money comes in, some of it in the same millisecond as the page before.
        if (pageNumber <= 3) {
          added.push((await record({ kind: 'donation', cents: 100 + pageNumber, method: 'cash' })).entry.id);
          added.push((await record({ kind: 'payment', memberId: 'cy', cents: 1, method: 'cash' })).entry.id);
        }
      });
      const ids = entries.map((entry) => entry.id);
      assert.ok(pages > 3);
      assert.ok(ascending(ids), 'in id order, each once');
      assert.deepEqual(ids, [...before, ...added].sort());
      assert.deepEqual(ids.slice(-added.length), added, 'what was recorded during the reading comes last, in order');
      assert.deepEqual(await storedIds(), ids);
      const caughtUp = await ledgerReport(handle.db as never, undefined, { after: ids.at(-1), limit: 200 });
      assert.deepEqual([caughtUp.entries, caughtUp.next], [[], null], 'a reader at the end finds nothing new');
      const { entry } = await record({ kind: 'donation', cents: 50, method: 'cash' });
      const later = await ledgerReport(handle.db as never, undefined, { after: ids.at(-1), limit: 200 });
      assert.deepEqual(later.entries, [entry], 'and then exactly the entry recorded since');
    });

    test('the ledger report for one member is that member’s statement without the running balance', async () => {
      const statement = await statementReport(handle.db as never, 'cy', undefined, page);
      const first = await ledgerReport(handle.db as never, 'cy', { limit: 2 });
      assert.ok(first.next);
      const rest = await ledgerReport(handle.db as never, 'cy', { after: first.next, limit: 200 });
      assert.deepEqual(
        [...first.entries, ...rest.entries],
        statement.entries.map(({ balanceCents: _, ...entry }) => entry),
      );
      assert.deepEqual((await ledgerReport(handle.db as never, 'nobody', page)).entries, []);
    });

    test('the ledger as CSV, and a cursor that is not an entry id refused', async () => {
      const { entries } = await ledgerReport(handle.db as never, 'cy', { limit: 1 });
      const csv = ledgerCsv({ entries, next: null });
      assert.match(csv, /^id,date,month,kind,memberId,method,currency,cents,amount,sats,causedBy,recordedBy,note\n/);
      assert.match(
        csv,
        new RegExp(`\\n${entries[0]!.id},\\d{4}-\\d{2}-\\d{2}T[^,]+,2027-03,payment,cy,cash,CAD,500,5\\.00,,receipt-17,cli,\\n$`),
      );
      assert.doesNotMatch(ledgerCsv({ entries, next: null }, false), /^id,/);
      for (const after of ['01j0000000000000000000000z', 'not-an-id', '']) {
        await assert.rejects(ledgerReport(handle.db as never, undefined, { after, limit: 5 }), code('REPORTER_VALUE_INVALID'));
      }
    });

    test('a dues run whose settings cannot be had still applies the deadlines it passes, so a rebuild agrees', async () => {
      await record({ kind: 'payment', memberId: 'ada', cents: 100_000, method: 'cash' });
      await fact('eve', { type: 'joined', name: 'Eve', email: 'eve@example.org', tier: 'retired-tier' });
      clock.set(local('2027-04-01T00:10'));
      heard.length = 0;
      await assert.rejects(
        reporter.chargeDues(space, () => Promise.reject(new Error('BusinessData is away'))),
        /BusinessData is away/,
      );
      const digest = await reporter.digest();
      assert.equal((await reporter.rebuild()).digest, digest);
      assert.equal((await reporter.advance()).changes.length, 0);
    });

    test('a member whose tier BusinessData does not know holds the month open but does not stop the others', async () => {
      const run = await runDues();
      assert.equal(run.charged, 2, 'Ada and Bob are charged for April');
      assert.equal(run.problems.length, 1);
      assert.match(run.problems[0]!, /eve: tier "retired-tier" is not in BusinessData on 2027-04-01/);
      // The treasurer adds the tier from before April; the next run charges Eve, and only Eve.
      const withTier = async (month: string) => {
        const settings = await settingsFor(month);
        return { ...settings, tiers: { ...settings.tiers, 'retired-tier': { name: 'Retired', monthlyDuesCents: 1_000 } } };
      };
      const retried = await reporter.chargeDues(space, withTier);
      assert.deepEqual([retried.months, retried.charged, retried.problems], [['2027-04'], 1, []]);
      assert.equal((await reporter.chargeDues(space, withTier)).months.length, 0, 'April is done once everyone is charged');
      assert.equal((await member('eve')).balanceCents, -1_000);
      await fact('eve', { type: 'left' });
      assert.deepEqual((await member('eve')).groups, [], 'a member who left is in no group');
    });

    test('rebuilding from the events alone gives the same state and byte-identical reports', async () => {
      const reports = await allReports();
      const digest = await reporter.digest();
      await sql`UPDATE reporter_accounts SET balance_cents = 0`.execute(handle.db);
      assert.notEqual(await reporter.digest(), digest);
      const rebuilt = await reporter.rebuild();
      assert.equal(rebuilt.digest, digest);
      assert.equal(rebuilt.accounts, 5);
      assert.equal(rebuilt.changes.length, 0);
      assert.equal(await allReports(), reports);
      clock.advance(86_400_000);
      assert.equal((await reporter.rebuild()).digest, digest, 'a rebuild a day later reads no clock');
      await sql`UPDATE reporter_accounts SET active = 1, reason = 'member' WHERE member_id = 'bob'`.execute(handle.db);
      const corrected = await reporter.rebuild();
      assert.deepEqual(
        corrected.changes.map((change) => change.kind === 'status' && `${change.memberId}:${change.active}:${change.reason}`),
        ['bob:false:dues-overdue'],
        'a status the stored accounts had wrong is announced',
      );
    });
  });
}
