// The Reporter's tables: the member facts it has caught up on, the ledger, and the accounts derived from both.
import type { Kysely } from 'kysely';
import type { MigrationList } from '../core/storage/index.js';

export const SERVICE_NAME = 'reporter';

export type LedgerKind = 'dues' | 'payment' | 'purchase' | 'donation' | 'adjustment' | 'payout';
export type PaymentMethod = 'cash' | 'bitcoin' | 'balance';

export interface FactRow {
  id: string;
  member_id: string;
  fact: string;
  recorded_at: number;
}

export interface LedgerRow {
  id: string;
  at: number;
  /** The month it counts in: the month charged for dues, the month it happened in the space's zone otherwise. */
  month: string;
  kind: LedgerKind;
  member_id: string | null;
  /** Signed effect on the payer's account: payments and donations add, dues and purchases take. */
  cents: number;
  currency: string;
  method: PaymentMethod | null;
  sats: number | null;
  rate_cents_per_btc: number | null;
  rate_source: string | null;
  rate_at: number | null;
  caused_by: string;
  due_at: number | null;
  detail: string;
  recorded_by: string;
}

export interface AccountRow {
  member_id: string;
  account: string;
  active: number;
  reason: string;
  next_due_at: number | null;
  balance_cents: number;
}

export interface MetaRow {
  key: string;
  value: string;
}

export interface ReporterTables {
  reporter_member_facts: FactRow;
  reporter_ledger: LedgerRow;
  reporter_accounts: AccountRow;
  reporter_meta: MetaRow;
}

export const MIGRATIONS: MigrationList = [
  [
    '0001-ledger',
    {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('reporter_member_facts')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('member_id', 'text', (c) => c.notNull())
          .addColumn('fact', 'text', (c) => c.notNull())
          .addColumn('recorded_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('reporter_ledger')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('month', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('member_id', 'text')
          .addColumn('cents', 'bigint', (c) => c.notNull())
          .addColumn('currency', 'text', (c) => c.notNull())
          .addColumn('method', 'text')
          .addColumn('sats', 'bigint')
          .addColumn('rate_cents_per_btc', 'bigint')
          .addColumn('rate_source', 'text')
          .addColumn('rate_at', 'bigint')
          .addColumn('caused_by', 'text', (c) => c.notNull())
          .addColumn('due_at', 'bigint')
          .addColumn('detail', 'text', (c) => c.notNull())
          .addColumn('recorded_by', 'text', (c) => c.notNull())
          // Once per cause: dues once per member and month, a payment once per transaction output or request.
          .addUniqueConstraint('reporter_ledger_once', ['kind', 'caused_by'])
          .execute();
        await db.schema.createIndex('reporter_ledger_by_member').on('reporter_ledger').columns(['member_id', 'id']).execute();
        await db.schema.createIndex('reporter_ledger_by_month').on('reporter_ledger').columns(['month', 'kind']).execute();
        await db.schema
          .createTable('reporter_accounts')
          .addColumn('member_id', 'text', (c) => c.primaryKey())
          .addColumn('account', 'text', (c) => c.notNull())
          .addColumn('active', 'integer', (c) => c.notNull())
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('next_due_at', 'bigint')
          .addColumn('balance_cents', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('reporter_accounts_by_due')
          .on('reporter_accounts')
          .columns(['active', 'next_due_at'])
          .execute();
        await db.schema
          .createTable('reporter_meta')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .execute();
      },
    },
  ],
];
