// The Reporter's state machine: catches up on member facts, records money, charges dues, applies grace deadlines,
// and rebuilds every account from the facts alone. Time enters only as the clock reading it is handed, clamped
// so that it never goes backwards, and that reading is stored: a rebuild uses it, not the wall clock.
import { createHash } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Clock } from '../core/clock.js';
import type { PayloadOf } from '../core/contract.js';
import { createIdFactoryAfter, type IdFactory } from '../core/ids.js';
import type { LedgerRecord } from '../core/messages.js';
import { migrate, StorageError, translateDriverError, type DatabaseHandle } from '../core/storage/index.js';
import { applyEntry, applyMemberFact, groupsOf, statusAt, type Account, type MemberFact, type Status } from './accounts.js';
import { graceEnd, monthAt, monthsBetween, monthStart, nextMonth } from './calendar.js';
import { ReporterError } from './errors.js';
import { MIGRATIONS, SERVICE_NAME, type AccountRow, type LedgerKind, type LedgerRow, type ReporterTables } from './store.js';

export type LedgerInput = PayloadOf<typeof LedgerRecord>;

export interface LedgerEntry {
  id: string;
  at: number;
  month: string;
  kind: LedgerKind;
  memberId: string | null;
  cents: number;
  currency: string;
  method: 'cash' | 'bitcoin' | 'balance' | null;
  sats: number | null;
  rate: { centsPerBtc: number; source: string; at: number } | null;
  causedBy: string;
  dueAt: number | null;
  detail: Record<string, unknown>;
  recordedBy: string;
}

export type Change =
  | { kind: 'status'; memberId: string; active: boolean; reason: Status['reason']; balanceCents: number; groups: string[] }
  | { kind: 'balance'; memberId: string; balanceCents: number; entry: LedgerEntry };

/** What the space's current settings say about where and in what money it keeps its books. */
export interface SpaceSettings {
  timezone: string;
  currency: string;
}

/** What BusinessData had in force on the 1st of a month. */
export interface MonthSettings {
  tiers: Record<string, { name: string; monthlyDuesCents: number }>;
  graceDays: number;
}

export interface IncomingFact {
  id: string;
  memberId: string;
  event: Record<string, unknown>;
  recordedAt: number;
}

export interface DuesRun {
  months: string[];
  charged: number;
  /** Members who could not be charged (a tier BusinessData does not know); they are tried again next run. */
  problems: string[];
  changes: Change[];
}

const META_WATERMARK = 'watermark';
const META_DUES_THROUGH = 'dues-through';
const REBUILD_PAGE = 20_000;
const INSERT_BATCH = 500;

type Db = Kysely<ReporterTables>;
type Trx = Transaction<ReporterTables>;

export class Reporter {
  readonly #db: Db;
  #nextEntryId: IdFactory;

  private constructor(
    handle: DatabaseHandle,
    private readonly clock: Clock,
    lastEntryId: string | undefined,
  ) {
    this.#db = handle.db as Db;
    this.#nextEntryId = createIdFactoryAfter(clock, lastEntryId);
  }

  static async open(handle: DatabaseHandle, clock: Clock): Promise<Reporter> {
    await migrate(handle, SERVICE_NAME, MIGRATIONS);
    const db = handle.db as Db;
    const last = await db.selectFrom('reporter_ledger').select('id').orderBy('id', 'desc').limit(1).executeTakeFirst();
    return new Reporter(handle, clock, last?.id);
  }

  get db(): Db {
    return this.#db;
  }

  /** The newest member fact caught up on, to ask MemberData for the ones after it. */
  async lastFactId(): Promise<string | undefined> {
    const row = await this.#db.selectFrom('reporter_member_facts').select('id').orderBy('id', 'desc').limit(1).executeTakeFirst();
    return row?.id;
  }

  /** The instant the accounts were last brought up to (never earlier than any earlier one). */
  async watermark(): Promise<number> {
    return readWatermark(this.#db);
  }

  /** Stores member facts not seen before and applies them to the accounts. */
  async ingestFacts(facts: readonly IncomingFact[]): Promise<Change[]> {
    return this.#db.transaction().execute(async (trx) => {
      const now = await this.#advanceTo(trx);
      const changes: Change[] = [];
      const last = await trx.selectFrom('reporter_member_facts').select('id').orderBy('id', 'desc').limit(1).executeTakeFirst();
      for (const fact of facts) {
        if (last && fact.id <= last.id) continue;
        await trx
          .insertInto('reporter_member_facts')
          .values({ id: fact.id, member_id: fact.memberId, fact: JSON.stringify(fact.event), recorded_at: fact.recordedAt })
          .execute();
        const stored = await loadAccount(trx, fact.memberId);
        const account = applyMemberFact(stored?.account, fact.memberId, fact.event as MemberFact, fact.recordedAt);
        if (account) await saveAccount(trx, account, stored?.row, now, changes);
      }
      await applyDeadlines(trx, now, changes);
      return changes;
    });
  }

  /**
   * Records one money movement, once per (kind, causedBy): a second request with the same cause returns the
   * first entry, marked as a duplicate, and changes nothing.
   * @throws ReporterError REPORTER_MEMBER_UNKNOWN or REPORTER_VALUE_INVALID.
   */
  async record(
    input: LedgerInput,
    recordedBy: string,
    fallbackCause: string,
    space: SpaceSettings,
  ): Promise<{ entry: LedgerEntry; balanceCents: number | null; duplicate: boolean; changes: Change[] }> {
    checkLedgerInput(input);
    const causedBy = input.causedBy ?? fallbackCause;
    try {
      return await this.#db.transaction().execute(async (trx) => {
        const existing = await findEntry(trx, input.kind, causedBy);
        if (existing) return { ...sameMovement(existing, input), duplicate: true, changes: [] };
        const memberId = 'memberId' in input && input.memberId !== undefined ? input.memberId : null;
        const stored = memberId === null ? undefined : await loadAccount(trx, memberId);
        if (memberId !== null && !stored) {
          throw new ReporterError('REPORTER_MEMBER_UNKNOWN', `no member ${memberId.slice(0, 40)}`);
        }
        const now = await this.#advanceTo(trx);
        const row: LedgerRow = {
          id: this.#nextEntryId(),
          at: now,
          month: monthAt(now, space.timezone),
          kind: input.kind,
          member_id: memberId,
          cents: signedCents(input),
          currency: space.currency,
          method: 'method' in input ? input.method : input.kind === 'payout' ? 'bitcoin' : null,
          sats: 'sats' in input ? (input.sats ?? null) : null,
          rate_cents_per_btc: 'rate' in input ? (input.rate?.centsPerBtc ?? null) : null,
          rate_source: 'rate' in input ? (input.rate?.source ?? null) : null,
          rate_at: 'rate' in input ? (input.rate?.at ?? null) : null,
          caused_by: causedBy,
          due_at: null,
          detail: JSON.stringify(detailOf(input)),
          recorded_by: recordedBy,
        };
        await trx.insertInto('reporter_ledger').values(row).execute();
        const changes: Change[] = [];
        const entry = toEntry(row);
        if (stored) {
          applyEntry(stored.account, row.id, row.cents, row.due_at);
          await saveAccount(trx, stored.account, stored.row, now, changes, entry);
        }
        await applyDeadlines(trx, now, changes);
        return { entry, balanceCents: stored ? stored.account.balanceCents : null, duplicate: false, changes };
      });
    } catch (error) {
      const translated = translateDriverError(error);
      // Another writer recorded the same cause between our look and our insert: theirs stands.
      if (translated instanceof StorageError && translated.code === 'STORAGE_CONFLICT') {
        const existing = await findEntry(this.#db, input.kind, causedBy);
        if (existing) return { ...sameMovement(existing, input), duplicate: true, changes: [] };
      }
      throw translated;
    }
  }

  /**
   * Charges dues for every month that has begun and was not charged yet: to each member who was a current,
   * non-exempt member when the month began, at their tier's dues in force on the 1st, once per member and month.
   * A month in which someone could not be charged is tried again on the next run.
   */
  async chargeDues(space: SpaceSettings, settingsFor: (month: string) => Promise<MonthSettings>): Promise<DuesRun> {
    const run: DuesRun = { months: [], charged: 0, problems: [], changes: [] };
    // Moving the watermark and applying the deadlines it passes go together, or the stored accounts would not
    // be what a rebuild at that watermark gives.
    const now = await this.#db.transaction().execute(async (trx) => {
      const at = await this.#advanceTo(trx);
      await applyDeadlines(trx, at, run.changes);
      return at;
    });
    const through = await readMeta(this.#db, META_DUES_THROUGH);
    const first = await this.#db
      .selectFrom('reporter_member_facts')
      .select('recorded_at')
      .orderBy('id')
      .limit(1)
      .executeTakeFirst();
    if (!first) return run;
    const from = through ? nextMonth(through) : monthAt(first.recorded_at, space.timezone);
    const months = monthsBetween(from, monthAt(now, space.timezone));
    if (months.length === 0) return run;
    const facts = await this.#db.selectFrom('reporter_member_facts').selectAll().orderBy('id').execute();
    const members = new Map<string, Account>();
    let next = 0;
    for (const month of months) {
      const begins = monthStart(month, space.timezone);
      for (; next < facts.length && facts[next]!.recorded_at < begins; next++) {
        const fact = facts[next]!;
        const account = applyMemberFact(members.get(fact.member_id), fact.member_id, JSON.parse(fact.fact) as MemberFact, 0);
        if (account) members.set(fact.member_id, account);
      }
      const settings = await settingsFor(month);
      const dueAt = graceEnd(month, settings.graceDays, space.timezone);
      const owing = [...members.values()].filter((member) => member.current && !member.exempt);
      const problems: string[] = [];
      await this.#db.transaction().execute(async (trx) => {
        const at = await this.#advanceTo(trx);
        for (const member of owing) {
          const tier = settings.tiers[member.tier];
          if (!tier) {
            problems.push(`${member.memberId}: tier "${member.tier}" is not in BusinessData on ${month}-01`);
            continue;
          }
          if (tier.monthlyDuesCents === 0) continue;
          const causedBy = `dues:${member.memberId}:${month}`;
          if (await findEntry(trx, 'dues', causedBy)) continue;
          const row: LedgerRow = {
            id: this.#nextEntryId(),
            at,
            month,
            kind: 'dues',
            member_id: member.memberId,
            cents: -tier.monthlyDuesCents,
            currency: space.currency,
            method: null,
            sats: null,
            rate_cents_per_btc: null,
            rate_source: null,
            rate_at: null,
            caused_by: causedBy,
            due_at: dueAt,
            detail: JSON.stringify({ tier: member.tier, tierName: tier.name }),
            recorded_by: SERVICE_NAME,
          };
          await trx.insertInto('reporter_ledger').values(row).execute();
          const stored = await loadAccount(trx, member.memberId);
          if (stored) {
            applyEntry(stored.account, row.id, row.cents, row.due_at);
            await saveAccount(trx, stored.account, stored.row, at, run.changes, toEntry(row));
          }
          run.charged += 1;
        }
        await applyDeadlines(trx, at, run.changes);
        // Done through this month only when it and every month before it charged everyone; a member who could
        // not be charged holds the mark back so the next run tries again, while the others are still charged.
        if (problems.length === 0 && run.problems.length === 0) await writeMeta(trx, META_DUES_THROUGH, month);
      });
      run.months.push(month);
      run.problems.push(...problems);
    }
    return run;
  }

  /** Moves the accounts up to now: members whose grace ended since the last look become inactive. */
  async advance(): Promise<{ changes: Change[]; clockBehindMs: number }> {
    return this.#db.transaction().execute(async (trx) => {
      const clockBehindMs = Math.max(0, (await readWatermark(trx)) - this.clock.now());
      const now = await this.#advanceTo(trx);
      const changes: Change[] = [];
      await applyDeadlines(trx, now, changes);
      return { changes, clockBehindMs };
    });
  }

  /**
   * Throws every account away and derives them again from the member facts and the ledger alone, at the
   * stored watermark: the result is byte for byte what the incremental path produced.
   */
  async rebuild(): Promise<{ facts: number; entries: number; accounts: number; digest: string; changes: Change[] }> {
    const counts = await this.#db.transaction().execute(async (trx) => {
      const at = await readWatermark(trx);
      const accounts = new Map<string, Account>();
      let facts = 0;
      const factPages = pages((after) =>
        trx.selectFrom('reporter_member_facts').selectAll().where('id', '>', after).orderBy('id').limit(REBUILD_PAGE).execute(),
      );
      for await (const page of factPages) {
        for (const row of page) {
          const account = applyMemberFact(
            accounts.get(row.member_id),
            row.member_id,
            JSON.parse(row.fact) as MemberFact,
            row.recorded_at,
          );
          if (account) accounts.set(row.member_id, account);
          facts += 1;
        }
      }
      let entries = 0;
      const entryPages = pages((after) =>
        trx
          .selectFrom('reporter_ledger')
          .select(['id', 'member_id', 'cents', 'due_at'])
          .where('id', '>', after)
          .orderBy('id')
          .limit(REBUILD_PAGE)
          .execute(),
      );
      for await (const page of entryPages) {
        for (const row of page) {
          const account = row.member_id === null ? undefined : accounts.get(row.member_id);
          if (account) applyEntry(account, row.id, row.cents, row.due_at);
          entries += 1;
        }
      }
      // A status the stored accounts had wrong is news for whoever caches access decisions.
      const before = new Map(
        (await trx.selectFrom('reporter_accounts').select(['member_id', 'active', 'reason']).execute()).map((row) => [
          row.member_id,
          `${row.active}:${row.reason}`,
        ]),
      );
      const changes: Change[] = [];
      await trx.deleteFrom('reporter_accounts').execute();
      const rows = [...accounts.values()].map((account) => {
        const status = statusAt(account, at);
        if (before.get(account.memberId) !== `${status.active ? 1 : 0}:${status.reason}`) {
          changes.push(statusChange(account, status));
        }
        return accountRow(account, status);
      });
      for (let start = 0; start < rows.length; start += INSERT_BATCH) {
        await trx
          .insertInto('reporter_accounts')
          .values(rows.slice(start, start + INSERT_BATCH))
          .execute();
      }
      return { facts, entries, accounts: rows.length, changes };
    });
    return { ...counts, digest: await this.digest() };
  }

  /** A hash over every derived account and the watermark they stand at: equal digests, equal state. */
  async digest(): Promise<string> {
    const hash = createHash('sha256');
    hash.update(String(await readWatermark(this.#db)));
    const rows = await this.#db.selectFrom('reporter_accounts').selectAll().orderBy('member_id').execute();
    for (const row of rows) {
      hash.update(`\n${row.member_id}\t${row.account}\t${row.active}\t${row.reason}\t${row.next_due_at}\t${row.balance_cents}`);
    }
    return hash.digest('hex');
  }

  /** Reads the clock, never going back past the stored watermark, and stores the result as the new watermark. */
  async #advanceTo(trx: Trx): Promise<number> {
    const stored = await readWatermark(trx);
    const now = Math.max(stored, this.clock.now());
    if (now !== stored) await writeMeta(trx, META_WATERMARK, String(now));
    return now;
  }
}

/** Reads a table in id order a page at a time, so a rebuild of millions of rows holds one page in memory. */
async function* pages<Row extends { id: string }>(read: (after: string) => Promise<Row[]>): AsyncGenerator<Row[]> {
  let after = '';
  for (;;) {
    const page = await read(after);
    if (page.length === 0) return;
    yield page;
    after = page.at(-1)!.id;
  }
}

function accountRow(account: Account, status: Status): AccountRow {
  return {
    member_id: account.memberId,
    account: JSON.stringify(account),
    active: status.active ? 1 : 0,
    reason: status.reason,
    next_due_at: status.nextDueAt,
    balance_cents: account.balanceCents,
  };
}

async function loadAccount(trx: Trx, memberId: string): Promise<{ account: Account; row: AccountRow } | undefined> {
  const row = await trx.selectFrom('reporter_accounts').selectAll().where('member_id', '=', memberId).executeTakeFirst();
  return row ? { account: JSON.parse(row.account) as Account, row } : undefined;
}

/** Writes an account and notes what others should hear: a new status, a new balance. */
async function saveAccount(
  trx: Trx,
  account: Account,
  before: AccountRow | undefined,
  at: number,
  changes: Change[],
  entry?: LedgerEntry,
): Promise<void> {
  const status = statusAt(account, at);
  const row = accountRow(account, status);
  if (before) await trx.updateTable('reporter_accounts').set(row).where('member_id', '=', account.memberId).execute();
  else await trx.insertInto('reporter_accounts').values(row).execute();
  if (entry) changes.push({ kind: 'balance', memberId: account.memberId, balanceCents: account.balanceCents, entry });
  const wasActive = before ? before.active === 1 : undefined;
  if (wasActive !== status.active || before?.reason !== status.reason) changes.push(statusChange(account, status));
}

function statusChange(account: Account, status: Status): Change {
  return {
    kind: 'status',
    memberId: account.memberId,
    active: status.active,
    reason: status.reason,
    balanceCents: account.balanceCents,
    groups: groupsOf(account),
  };
}

/** Members still active whose grace ended by `at` with dues unpaid become inactive. */
async function applyDeadlines(trx: Trx, at: number, changes: Change[]): Promise<void> {
  const due = await trx
    .selectFrom('reporter_accounts')
    .selectAll()
    .where('active', '=', 1)
    .where('next_due_at', '<=', at)
    .orderBy('member_id')
    .execute();
  for (const row of due) await saveAccount(trx, JSON.parse(row.account) as Account, row, at, changes);
}

async function findEntry(
  db: Db | Trx,
  kind: LedgerKind,
  causedBy: string,
): Promise<{ entry: LedgerEntry; balanceCents: number | null } | undefined> {
  const row = await db
    .selectFrom('reporter_ledger')
    .selectAll()
    .where('kind', '=', kind)
    .where('caused_by', '=', causedBy)
    .executeTakeFirst();
  if (!row) return undefined;
  const account =
    row.member_id === null
      ? undefined
      : await db
          .selectFrom('reporter_accounts')
          .select('balance_cents')
          .where('member_id', '=', row.member_id)
          .executeTakeFirst();
  return { entry: toEntry(row), balanceCents: account?.balance_cents ?? null };
}

export function toEntry(row: LedgerRow): LedgerEntry {
  return {
    id: row.id,
    at: row.at,
    month: row.month,
    kind: row.kind,
    memberId: row.member_id,
    cents: row.cents,
    currency: row.currency,
    method: row.method,
    sats: row.sats,
    rate:
      row.rate_cents_per_btc === null
        ? null
        : { centsPerBtc: row.rate_cents_per_btc, source: row.rate_source ?? '', at: row.rate_at ?? 0 },
    causedBy: row.caused_by,
    dueAt: row.due_at,
    detail: JSON.parse(row.detail) as Record<string, unknown>,
    recordedBy: row.recorded_by,
  };
}

/**
 * A second request with a recorded cause must describe the same movement; one that differs (another member,
 * amount or method) is refused rather than answered with the first, or its money would vanish unseen.
 */
function sameMovement<T extends { entry: LedgerEntry }>(existing: T, input: LedgerInput): T {
  const { entry } = existing;
  const memberId = 'memberId' in input && input.memberId !== undefined ? input.memberId : null;
  const method = 'method' in input ? input.method : entry.method;
  const sats = 'sats' in input ? (input.sats ?? null) : null;
  if (entry.memberId !== memberId || entry.cents !== signedCents(input) || entry.method !== method || entry.sats !== sats) {
    throw new ReporterError(
      'REPORTER_CAUSE_CONFLICT',
      `${input.kind} "${entry.causedBy.slice(0, 80)}" is already recorded as entry ${entry.id} (${entry.cents} cents, member ${entry.memberId ?? 'none'}, ${entry.method ?? 'no method'}); this one differs`,
    );
  }
  return existing;
}

function signedCents(input: LedgerInput): number {
  switch (input.kind) {
    case 'payment':
    case 'donation':
    case 'adjustment':
      return input.cents;
    case 'purchase':
    case 'payout':
      return -input.cents;
  }
}

function detailOf(input: LedgerInput): Record<string, unknown> {
  const detail: Record<string, unknown> = {};
  if (input.kind === 'purchase') detail.product = input.product;
  if ('note' in input && input.note !== undefined) detail.note = input.note;
  return detail;
}

/** The rules the schema alone cannot say: bitcoin amounts carry sats and a rate, cash does not, and who pays. */
function checkLedgerInput(input: LedgerInput): void {
  const invalid = (message: string) => new ReporterError('REPORTER_VALUE_INVALID', `${input.kind}: ${message}`);
  const inBitcoin = ('method' in input && input.method === 'bitcoin') || input.kind === 'payout';
  const hasSats = 'sats' in input && input.sats !== undefined;
  const hasRate = 'rate' in input && input.rate !== undefined;
  if (inBitcoin && (!hasSats || !hasRate)) {
    throw invalid('an amount in bitcoin needs its sats and the rate it was converted at (centsPerBtc, source, at)');
  }
  if (!inBitcoin && (hasSats || hasRate)) throw invalid('sats and a rate belong to bitcoin amounts only');
  if (inBitcoin && 'sats' in input && input.sats !== undefined && 'rate' in input && input.rate !== undefined) {
    // Integer arithmetic: cents × 10^8 stays well inside 2^53 for any amount the schema allows.
    const expectedSats = Math.round((input.cents * 100_000_000) / input.rate.centsPerBtc);
    if (Math.abs(expectedSats - input.sats) > Math.max(1, Math.ceil(expectedSats / 100))) {
      throw invalid(
        `${input.sats} sats at ${input.rate.centsPerBtc} cents per bitcoin is not ${input.cents} cents (expected about ${expectedSats} sats)`,
      );
    }
  }
  if (input.kind === 'purchase') {
    if (input.method === 'balance' && input.memberId === undefined) throw invalid('a purchase on a balance needs the memberId');
    if (input.method === 'bitcoin' && input.memberId !== undefined) {
      throw invalid('a purchase paid in bitcoin touches no member balance; leave memberId out');
    }
  }
}

async function readMeta(db: Db | Trx, key: string): Promise<string | undefined> {
  const row = await db.selectFrom('reporter_meta').select('value').where('key', '=', key).executeTakeFirst();
  return row?.value;
}

export async function readWatermark(db: Db | Trx): Promise<number> {
  return Number((await readMeta(db, META_WATERMARK)) ?? 0);
}

async function writeMeta(trx: Trx, key: string, value: string): Promise<void> {
  await trx
    .insertInto('reporter_meta')
    .values({ key, value })
    .onConflict((conflict) => conflict.column('key').doUpdateSet({ value }))
    .execute();
}
