// Reports from the ledger and the derived accounts, as JSON and as CSV for the accountant. Nothing here reads
// the clock: a report depends only on what is stored, so a rebuild gives the same bytes.
import { sql, type Kysely } from 'kysely';
import { stringify } from 'csv-stringify/sync';
import { formatCents } from '../core/money.js';
import { integerSum } from '../core/storage/index.js';
import { groupsOf, type Account } from './accounts.js';
import { checkMonth } from './calendar.js';
import { ReporterError } from './errors.js';
import { readWatermark, toEntry, type LedgerEntry } from './reporter.js';
import type { AccountRow, LedgerKind, ReporterTables } from './store.js';

type Db = Kysely<ReporterTables>;

export interface IncomeLine {
  /** earned: what the space earned in the month; received: money that came in; adjusted and paid-out: the rest. */
  section: 'earned' | 'received' | 'adjusted' | 'paid-out';
  source: 'dues' | 'vending' | 'donations' | 'member-payments' | 'adjustments' | 'payouts';
  method: string;
  currency: string;
  entries: number;
  cents: number;
  sats: number;
}

export interface IncomeReport {
  month: string;
  lines: IncomeLine[];
  totals: {
    earnedCents: number;
    receivedCents: number;
    receivedCashCents: number;
    receivedBitcoinCents: number;
    receivedSats: number;
  };
}

export interface MemberLine {
  memberId: string;
  name: string;
  email: string;
  tier: string;
  status: 'active' | 'inactive' | 'left';
  reason: string;
  exempt: boolean;
  balanceCents: number;
  /**
   * The earliest end of grace among the member's unpaid dues (null when nothing unpaid has a deadline): when an
   * active member becomes inactive unless paid, or, for one inactive for dues, when that happened. Shown for
   * exempt members and those who left too, though neither becomes inactive by it.
   */
  graceEndsAt: number | null;
  groups: string[];
}

export interface Page {
  after?: string | undefined;
  limit: number;
}

export interface MembersReport {
  asOf: number;
  counts: { active: number; inactive: number; left: number };
  members: MemberLine[];
  next: string | null;
}

export interface BalancesReport {
  asOf: number;
  totals: { owedToSpaceCents: number; creditHeldCents: number };
  balances: Pick<MemberLine, 'memberId' | 'name' | 'status' | 'balanceCents' | 'graceEndsAt'>[];
  next: string | null;
}

export interface StatementReport {
  member: MemberLine;
  month: string | null;
  openingCents: number;
  closingCents: number;
  entries: (LedgerEntry & { balanceCents: number })[];
  next: string | null;
}

/** Every ledger entry after a cursor, in the order recorded: what a reader catching up on payments follows. */
export interface LedgerReport {
  entries: LedgerEntry[];
  next: string | null;
}

export async function incomeReport(db: Db, month: string): Promise<IncomeReport> {
  checkMonth(month);
  const groups = await db
    .selectFrom('reporter_ledger')
    .select(['kind', 'method', 'currency'])
    .select((eb) => [eb.fn.countAll<number>().as('entries'), integerSum('cents').as('cents'), integerSum('sats').as('sats')])
    .where('month', '=', month)
    .groupBy(['kind', 'method', 'currency'])
    .orderBy('kind')
    .orderBy('method')
    .orderBy('currency')
    .execute();
  const lines: IncomeLine[] = [];
  for (const group of groups) {
    // Dues are charged, not paid by any method; an adjustment is made by hand.
    const method = group.method ?? (group.kind === 'dues' ? 'charged' : 'manual');
    const base = { method, currency: group.currency, entries: Number(group.entries), sats: group.sats };
    const cents = Number(group.cents);
    for (const line of linesFor(group.kind, group.method, cents)) lines.push({ ...base, ...line });
  }
  lines.sort((a, b) =>
    compareText(
      `${a.section}\u0000${a.source}\u0000${a.method}\u0000${a.currency}`,
      `${b.section}\u0000${b.source}\u0000${b.method}\u0000${b.currency}`,
    ),
  );
  const sum = (pick: (line: IncomeLine) => boolean, field: 'cents' | 'sats' = 'cents') =>
    lines.filter(pick).reduce((total, line) => total + line[field], 0);
  return {
    month,
    lines,
    totals: {
      earnedCents: sum((line) => line.section === 'earned'),
      receivedCents: sum((line) => line.section === 'received'),
      receivedCashCents: sum((line) => line.section === 'received' && line.method === 'cash'),
      receivedBitcoinCents: sum((line) => line.section === 'received' && line.method === 'bitcoin'),
      receivedSats: sum((line) => line.section === 'received', 'sats'),
    },
  };
}

/** Where one group of ledger entries shows in the income report; a bitcoin sale is both earned and received. */
function linesFor(kind: LedgerKind, method: string | null, cents: number): Pick<IncomeLine, 'section' | 'source' | 'cents'>[] {
  switch (kind) {
    case 'dues':
      return [{ section: 'earned', source: 'dues', cents: -cents }];
    case 'purchase':
      return method === 'bitcoin'
        ? [
            { section: 'earned', source: 'vending', cents: -cents },
            { section: 'received', source: 'vending', cents: -cents },
          ]
        : [{ section: 'earned', source: 'vending', cents: -cents }];
    case 'donation':
      return [
        { section: 'earned', source: 'donations', cents },
        { section: 'received', source: 'donations', cents },
      ];
    case 'payment':
      return [{ section: 'received', source: 'member-payments', cents }];
    case 'adjustment':
      return [{ section: 'adjusted', source: 'adjustments', cents }];
    case 'payout':
      return [{ section: 'paid-out', source: 'payouts', cents: -cents }];
  }
}

function memberLine(row: Pick<AccountRow, 'account' | 'active' | 'reason' | 'next_due_at' | 'balance_cents'>): MemberLine {
  const account = JSON.parse(row.account) as Account;
  return {
    memberId: account.memberId,
    name: account.name,
    email: account.email,
    tier: account.tier,
    status: statusName(row),
    reason: row.reason,
    exempt: account.exempt,
    balanceCents: row.balance_cents,
    graceEndsAt: row.next_due_at,
    groups: groupsOf(account),
  };
}

function statusName(row: { active: number; reason: string }): MemberLine['status'] {
  return row.reason === 'left' ? 'left' : row.active === 1 ? 'active' : 'inactive';
}

/** Takes one row more than a page holds, to tell whether another page follows. */
function splitPage<T>(rows: T[], page: Page, key: (row: T) => string): { rows: T[]; next: string | null } {
  if (rows.length <= page.limit) return { rows, next: null };
  const kept = rows.slice(0, page.limit);
  return { rows: kept, next: key(kept.at(-1)!) };
}

export async function membersReport(db: Db, includeLeft: boolean, page: Page): Promise<MembersReport> {
  const counted = await db
    .selectFrom('reporter_accounts')
    .select(['active', 'reason'])
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .groupBy(['active', 'reason'])
    .execute();
  const counts = { active: 0, inactive: 0, left: 0 };
  for (const row of counted) {
    const status = statusName(row);
    counts[status] += Number(row.count);
  }
  let query = db
    .selectFrom('reporter_accounts')
    .select(['member_id', 'account', 'active', 'reason', 'next_due_at', 'balance_cents'])
    .where('member_id', '>', page.after ?? '')
    .orderBy('member_id')
    .limit(page.limit + 1);
  if (!includeLeft) query = query.where('reason', '!=', 'left');
  const { rows, next } = splitPage(await query.execute(), page, (row) => row.member_id);
  return { asOf: await readWatermark(db), counts, members: rows.map(memberLine), next };
}

export async function balancesReport(db: Db, page: Page): Promise<BalancesReport> {
  const totals = await db
    .selectFrom('reporter_accounts')
    .select([
      sql<number>`cast(coalesce(sum(case when balance_cents < 0 then -balance_cents else 0 end), 0) as bigint)`.as('owed'),
      sql<number>`cast(coalesce(sum(case when balance_cents > 0 then balance_cents else 0 end), 0) as bigint)`.as('credit'),
    ])
    .executeTakeFirstOrThrow();
  const query = db
    .selectFrom('reporter_accounts')
    .select(['member_id', 'account', 'active', 'reason', 'next_due_at', 'balance_cents'])
    .where('balance_cents', '!=', 0)
    .where('member_id', '>', page.after ?? '')
    .orderBy('member_id')
    .limit(page.limit + 1);
  const { rows, next } = splitPage(await query.execute(), page, (row) => row.member_id);
  return {
    asOf: await readWatermark(db),
    totals: { owedToSpaceCents: Number(totals.owed), creditHeldCents: Number(totals.credit) },
    balances: rows
      .map(memberLine)
      .map(({ memberId, name, status, balanceCents, graceEndsAt }) => ({ memberId, name, status, balanceCents, graceEndsAt })),
    next,
  };
}

/** One member's entries (all, or one month's) with the balance after each, a page at a time. */
export async function statementReport(db: Db, memberId: string, month: string | undefined, page: Page): Promise<StatementReport> {
  if (month !== undefined) checkMonth(month);
  const account = await db
    .selectFrom('reporter_accounts')
    .select(['account', 'active', 'reason', 'next_due_at', 'balance_cents'])
    .where('member_id', '=', memberId)
    .executeTakeFirst();
  if (!account) throw new ReporterError('REPORTER_MEMBER_UNKNOWN', `no member ${memberId.slice(0, 40)}`);
  const sumWhere = async (inPeriod: boolean, throughId?: string) => {
    let query = db.selectFrom('reporter_ledger').select(integerSum('cents').as('cents')).where('member_id', '=', memberId);
    if (month !== undefined) query = query.where('month', inPeriod ? '=' : '<', month);
    else if (!inPeriod) return 0;
    if (throughId !== undefined) query = query.where('id', '<=', throughId);
    return Number((await query.executeTakeFirstOrThrow()).cents);
  };
  const opening = await sumWhere(false);
  const closing = opening + (await sumWhere(true));
  let running = opening + (page.after === undefined ? 0 : await sumWhere(true, page.after));
  let query = db
    .selectFrom('reporter_ledger')
    .selectAll()
    .where('member_id', '=', memberId)
    .where('id', '>', page.after ?? '')
    .orderBy('id')
    .limit(page.limit + 1);
  if (month !== undefined) query = query.where('month', '=', month);
  const { rows, next } = splitPage(await query.execute(), page, (row) => row.id);
  const entries = rows.map((row) => {
    running += row.cents;
    return { ...toEntry(row), balanceCents: running };
  });
  return { member: memberLine(account), month: month ?? null, openingCents: opening, closingCents: closing, entries, next };
}

/** A ledger entry id as the Reporter makes them (a ULID, upper case): the only cursor the ledger report takes. */
const ENTRY_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/**
 * Every ledger entry after the cursor `page.after` (all of them, or one member's), in id order. Entry ids come
 * from one monotonic ULID factory seeded with the newest stored id, and the service records and reports one
 * request at a time, so id order is the order recorded and no entry committed later can sort before one
 * already read: a reader that keeps the last id it has seen misses nothing and reads nothing twice.
 * @throws ReporterError REPORTER_VALUE_INVALID when `after` is not an entry id.
 */
export async function ledgerReport(db: Db, memberId: string | undefined, page: Page): Promise<LedgerReport> {
  if (page.after !== undefined && !ENTRY_ID.test(page.after)) {
    throw new ReporterError(
      'REPORTER_VALUE_INVALID',
      `"after" expected a ledger entry id (26 characters, as in "next" or an entry's id), got "${page.after.slice(0, 40)}"`,
    );
  }
  let query = db
    .selectFrom('reporter_ledger')
    .selectAll()
    .where('id', '>', page.after ?? '')
    .orderBy('id')
    .limit(page.limit + 1);
  if (memberId !== undefined) query = query.where('member_id', '=', memberId);
  const { rows, next } = splitPage(await query.execute(), page, (row) => row.id);
  return { entries: rows.map(toEntry), next };
}

export function incomeCsv(report: IncomeReport, header = true): string {
  return stringify(
    report.lines.map((line) => ({ month: report.month, ...line, amount: formatCents(line.cents) })),
    { header, columns: ['month', 'section', 'source', 'method', 'currency', 'entries', 'cents', 'amount', 'sats'] },
  );
}

export function membersCsv(report: MembersReport, header = true): string {
  return stringify(
    report.members.map((member) => ({
      ...member,
      exempt: member.exempt ? 'yes' : 'no',
      balance: formatCents(member.balanceCents),
      groups: member.groups.join(' '),
    })),
    { header, columns: ['memberId', 'name', 'email', 'tier', 'status', 'reason', 'exempt', 'balanceCents', 'balance', 'groups'] },
  );
}

export function balancesCsv(report: BalancesReport, header = true): string {
  return stringify(
    report.balances.map((line) => ({ ...line, balance: formatCents(line.balanceCents) })),
    { header, columns: ['memberId', 'name', 'status', 'balanceCents', 'balance'] },
  );
}

export function statementCsv(report: StatementReport, header = true): string {
  return stringify(
    report.entries.map((entry) => ({
      id: entry.id,
      date: new Date(entry.at).toISOString(),
      month: entry.month,
      kind: entry.kind,
      method: entry.method ?? '',
      cents: entry.cents,
      amount: formatCents(entry.cents),
      balanceCents: entry.balanceCents,
      balance: formatCents(entry.balanceCents),
      note: typeof entry.detail.note === 'string' ? entry.detail.note : '',
    })),
    { header, columns: ['id', 'date', 'month', 'kind', 'method', 'cents', 'amount', 'balanceCents', 'balance', 'note'] },
  );
}

export function ledgerCsv(report: LedgerReport, header = true): string {
  return stringify(
    report.entries.map((entry) => ({
      id: entry.id,
      date: new Date(entry.at).toISOString(),
      month: entry.month,
      kind: entry.kind,
      memberId: entry.memberId ?? '',
      method: entry.method ?? '',
      currency: entry.currency,
      cents: entry.cents,
      amount: formatCents(entry.cents),
      sats: entry.sats ?? '',
      causedBy: entry.causedBy,
      recordedBy: entry.recordedBy,
      note: typeof entry.detail.note === 'string' ? entry.detail.note : '',
    })),
    {
      header,
      columns: [
        'id',
        'date',
        'month',
        'kind',
        'memberId',
        'method',
        'currency',
        'cents',
        'amount',
        'sats',
        'causedBy',
        'recordedBy',
        'note',
      ],
    },
  );
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
