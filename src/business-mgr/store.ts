// BusinessMgr's tables: every decision (with the offline ones a door uploaded, once per local id), one row per
// vended invoice so a restart never vends twice, and each door's last allow-list version so versions only grow.
import type { Kysely } from 'kysely';
import type { Decision } from '../core/messages-machine.js';
import { migrate, type DatabaseHandle, type MigrationList } from '../core/storage/index.js';

export const SERVICE_NAME = 'business-mgr';

export interface DecisionRow {
  decision_id: string;
  at: number;
  device: string;
  kind: Decision['kind'];
  via: Decision['via'];
  allowed: number;
  reason: Decision['reason'];
  tap_id: string | null;
  invoice_id: string | null;
  member_id: string | null;
  fob_last_digits: string | null;
  product: string | null;
  count: number;
  cents: number | null;
  outcome: Decision['outcome'];
  /** The door's own id of an offline entry: (device, local_id) is unique, so a re-sent upload stores nothing twice. */
  local_id: string | null;
}

export interface InvoiceVendRow {
  invoice_id: string;
  decision_id: string;
  at: number;
}

export interface AllowListRow {
  device: string;
  version: number;
  issued_at: number;
  entries: number;
}

export interface BusinessMgrTables {
  business_mgr_decisions: DecisionRow;
  business_mgr_invoice_vends: InvoiceVendRow;
  business_mgr_allow_lists: AllowListRow;
}

export const MIGRATIONS: MigrationList = [
  [
    '0001-decisions',
    {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('business_mgr_decisions')
          .addColumn('decision_id', 'text', (c) => c.primaryKey())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('device', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('via', 'text', (c) => c.notNull())
          .addColumn('allowed', 'integer', (c) => c.notNull())
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('tap_id', 'text')
          .addColumn('invoice_id', 'text')
          .addColumn('member_id', 'text')
          .addColumn('fob_last_digits', 'text')
          .addColumn('product', 'text')
          .addColumn('count', 'integer', (c) => c.notNull())
          .addColumn('cents', 'bigint')
          .addColumn('outcome', 'text')
          .addColumn('local_id', 'text')
          .addUniqueConstraint('business_mgr_decisions_offline', ['device', 'local_id'])
          .execute();
        for (const column of ['device', 'member_id', 'tap_id', 'invoice_id'] as const) {
          await db.schema
            .createIndex(`business_mgr_decisions_by_${column}`)
            .on('business_mgr_decisions')
            .columns([column, 'decision_id'])
            .execute();
        }
        await db.schema
          .createTable('business_mgr_invoice_vends')
          .addColumn('invoice_id', 'text', (c) => c.primaryKey())
          .addColumn('decision_id', 'text', (c) => c.notNull())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('business_mgr_allow_lists')
          .addColumn('device', 'text', (c) => c.primaryKey())
          .addColumn('version', 'bigint', (c) => c.notNull())
          .addColumn('issued_at', 'bigint', (c) => c.notNull())
          .addColumn('entries', 'integer', (c) => c.notNull())
          .execute();
      },
    },
  ],
];

export interface DecisionFilter {
  device?: string | undefined;
  memberId?: string | undefined;
  tapId?: string | undefined;
  invoiceId?: string | undefined;
  before?: string | undefined;
  limit: number;
}

/** The decisions, vended invoices and allow-list versions, on SQLite or PostgreSQL alike. */
export class BusinessMgrStore {
  readonly #db: Kysely<BusinessMgrTables>;

  private constructor(db: Kysely<BusinessMgrTables>) {
    this.#db = db;
  }

  /** Migrates the tables and opens the store. @throws StorageError STORAGE_MIGRATION_FAILED. */
  static async open(database: DatabaseHandle): Promise<BusinessMgrStore> {
    await migrate(database, SERVICE_NAME, MIGRATIONS);
    return new BusinessMgrStore(database.db as Kysely<BusinessMgrTables>);
  }

  /** Stores a decision; false when an offline entry with the same (device, localId) is already stored. */
  async insertDecision(decision: Decision, localId: string | null = null): Promise<boolean> {
    const inserted = await this.#db
      .insertInto('business_mgr_decisions')
      .values({ ...toRow(decision), local_id: localId })
      .onConflict((conflict) => conflict.doNothing())
      .returning('decision_id')
      .execute();
    return inserted.length === 1;
  }

  async decision(decisionId: string): Promise<Decision | undefined> {
    const row = await this.#db
      .selectFrom('business_mgr_decisions')
      .selectAll()
      .where('decision_id', '=', decisionId)
      .executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  /** Records that the device acted; a failure already recorded stays. @returns whether anything changed. */
  async markActuated(decisionId: string): Promise<boolean> {
    const updated = await this.#db
      .updateTable('business_mgr_decisions')
      .set({ outcome: 'actuated' })
      .where('decision_id', '=', decisionId)
      .where('outcome', 'is', null)
      .returning('decision_id')
      .execute();
    return updated.length === 1;
  }

  /**
   * Records that the device failed to act, once: the decision as it is now when this call changed it (the
   * caller refunds exactly then), undefined when it was already failed or is unknown.
   */
  async markFailed(decisionId: string, reason?: Decision['reason']): Promise<Decision | undefined> {
    const updated = await this.#db
      .updateTable('business_mgr_decisions')
      .set({ outcome: 'failed', ...(reason ? { reason } : {}) })
      .where('decision_id', '=', decisionId)
      .where((eb) => eb.or([eb('outcome', 'is', null), eb('outcome', '!=', 'failed')]))
      .returningAll()
      .execute();
    return updated[0] ? fromRow(updated[0]) : undefined;
  }

  /** Newest first (by decision id), filtered, one page; `next` is the last id when more may follow. */
  async decisions(filter: DecisionFilter): Promise<{ decisions: Decision[]; next: string | null }> {
    let query = this.#db.selectFrom('business_mgr_decisions').selectAll();
    if (filter.device !== undefined) query = query.where('device', '=', filter.device);
    if (filter.memberId !== undefined) query = query.where('member_id', '=', filter.memberId);
    if (filter.tapId !== undefined) query = query.where('tap_id', '=', filter.tapId);
    if (filter.invoiceId !== undefined) query = query.where('invoice_id', '=', filter.invoiceId);
    if (filter.before !== undefined) query = query.where('decision_id', '<', filter.before);
    const rows = await query
      .orderBy('decision_id', 'desc')
      .limit(filter.limit + 1)
      .execute();
    const page = rows.slice(0, filter.limit).map(fromRow);
    return { decisions: page, next: rows.length > filter.limit ? page.at(-1)!.decisionId : null };
  }

  /** Claims an invoice for vending: true only the first time, ever, so a re-delivery or a restart vends nothing. */
  async claimInvoice(invoiceId: string, decisionId: string, at: number): Promise<boolean> {
    const inserted = await this.#db
      .insertInto('business_mgr_invoice_vends')
      .values({ invoice_id: invoiceId, decision_id: decisionId, at })
      .onConflict((conflict) => conflict.column('invoice_id').doNothing())
      .returning('invoice_id')
      .execute();
    return inserted.length === 1;
  }

  async allowListVersion(device: string): Promise<number> {
    const row = await this.#db
      .selectFrom('business_mgr_allow_lists')
      .select('version')
      .where('device', '=', device)
      .executeTakeFirst();
    return row?.version ?? 0;
  }

  async saveAllowList(device: string, version: number, issuedAt: number, entries: number): Promise<void> {
    await this.#db
      .insertInto('business_mgr_allow_lists')
      .values({ device, version, issued_at: issuedAt, entries })
      .onConflict((conflict) => conflict.column('device').doUpdateSet({ version, issued_at: issuedAt, entries }))
      .execute();
  }
}

function toRow(decision: Decision): Omit<DecisionRow, 'local_id'> {
  return {
    decision_id: decision.decisionId,
    at: decision.at,
    device: decision.device,
    kind: decision.kind,
    via: decision.via,
    allowed: decision.allowed ? 1 : 0,
    reason: decision.reason,
    tap_id: decision.tapId,
    invoice_id: decision.invoiceId,
    member_id: decision.memberId,
    fob_last_digits: decision.fobLastDigits,
    product: decision.product,
    count: decision.count,
    cents: decision.cents,
    outcome: decision.outcome,
  };
}

function fromRow(row: DecisionRow): Decision {
  return {
    decisionId: row.decision_id,
    at: Number(row.at),
    device: row.device,
    kind: row.kind,
    via: row.via,
    allowed: Number(row.allowed) === 1,
    reason: row.reason,
    tapId: row.tap_id,
    invoiceId: row.invoice_id,
    memberId: row.member_id,
    fobLastDigits: row.fob_last_digits,
    product: row.product,
    count: Number(row.count),
    cents: row.cents === null ? null : Number(row.cents),
    outcome: row.outcome,
  };
}
