// The ChainNotifier's tables: the scripts it watches, every output paid to them (once per txid:vout), the
// blocks it has processed, so a restart resumes where it stopped and a reorg can be undone, and the invoices.
import type { Kysely } from 'kysely';
import type { MigrationList } from '../core/storage/index.js';

export const SERVICE_NAME = 'chain-notifier';

/** seen: in the mempool; confirmed: in a block of the best chain; reorged: its block left the best chain and it
 * is in no other block yet; replaced: another transaction spent the same coins. */
export type OutputState = 'seen' | 'confirmed' | 'reorged' | 'replaced';
export type OwnerKind = 'member' | 'invoice' | 'unassigned';

export interface AddressRow {
  script_hex: string;
  address: string;
  chain: number;
  idx: number;
  owner_kind: OwnerKind;
  owner_id: string | null;
  assigned_at: number | null;
}

export interface OutputRow {
  outpoint: string;
  txid: string;
  vout: number;
  script_hex: string;
  address: string;
  sats: number;
  owner_kind: OwnerKind;
  owner_id: string | null;
  state: OutputState;
  first_seen_at: number;
  block_hash: string | null;
  block_height: number | null;
  /** The coins the paying transaction spends ("txid:vout" list), to notice a double spend. */
  spends: string;
  rate_cents_per_btc: number | null;
  rate_source: string | null;
  rate_at: number | null;
  /** How many times this output was credited to the ledger, and whether it is credited now. */
  credits: number;
  credited: number;
  /**
   * The ledger entry this output is waiting for the Reporter to confirm (JSON), written before it is asked: a
   * reply lost after the Reporter committed is asked again with the same cause, so it lands once, never zero times.
   */
  pending_entry: string | null;
}

export interface BlockRow {
  height: number;
  hash: string;
}

export type InvoiceState = 'new' | 'processing' | 'settled' | 'expired' | 'invalid';

export interface InvoiceRow {
  id: string;
  created_by: string;
  /** The creator's retry key: (created_by, idempotency_key) is unique. */
  idempotency_key: string | null;
  state: InvoiceState;
  cents: number;
  currency: string;
  sats: number;
  rate_cents_per_btc: number;
  rate_source: string;
  rate_at: number;
  address: string;
  script_hex: string;
  member_id: string | null;
  product: string | null;
  memo: string | null;
  /** The space name when it was made: the URI's label, so the URI never changes. */
  label: string;
  created_at: number;
  expires_at: number;
  watch_until: number;
  settled_at: number | null;
  paid_sats: number;
  flag_partial: number;
  flag_over: number;
  flag_late: number;
  /** The outputs ("txid:vout" list, JSON) the settling credit covers, chosen before it is recorded so a retry
   * after a crash asks the Reporter for exactly the same entry; null while none is chosen. */
  credit_cover: string | null;
  /** Whether the ledger holds the settling credit now, and how many times it was recorded. */
  credited: number;
  credits: number;
  /** An invoice-level ledger write decided but not yet confirmed by the Reporter (JSON `PendingInvoiceEntry`):
   * asked again, exactly, before anything else is decided for the invoice; null when none is waiting. */
  pending_entry: string | null;
  /** The sats of the payments that settled it (its cover), set when the settlement is recorded. */
  settled_sats: number | null;
  /** 1 once past watch_until and not waiting for confirmations: passes look at it only when its payments move. */
  closed: number;
}

export interface ChainNotifierTables {
  chain_notifier_addresses: AddressRow;
  chain_notifier_outputs: OutputRow;
  chain_notifier_blocks: BlockRow;
  chain_notifier_invoices: InvoiceRow;
}

export const MIGRATIONS: MigrationList = [
  [
    '0001-watch',
    {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('chain_notifier_addresses')
          .addColumn('script_hex', 'text', (c) => c.primaryKey())
          .addColumn('address', 'text', (c) => c.notNull())
          .addColumn('chain', 'integer', (c) => c.notNull())
          .addColumn('idx', 'integer', (c) => c.notNull())
          .addColumn('owner_kind', 'text', (c) => c.notNull())
          .addColumn('owner_id', 'text')
          .addColumn('assigned_at', 'bigint')
          .addUniqueConstraint('chain_notifier_addresses_slot', ['chain', 'idx'])
          .execute();
        await db.schema
          .createIndex('chain_notifier_addresses_owner')
          .on('chain_notifier_addresses')
          .columns(['owner_kind', 'owner_id'])
          .execute();
        await db.schema
          .createTable('chain_notifier_outputs')
          .addColumn('outpoint', 'text', (c) => c.primaryKey())
          .addColumn('txid', 'text', (c) => c.notNull())
          .addColumn('vout', 'integer', (c) => c.notNull())
          .addColumn('script_hex', 'text', (c) => c.notNull())
          .addColumn('address', 'text', (c) => c.notNull())
          .addColumn('sats', 'bigint', (c) => c.notNull())
          .addColumn('owner_kind', 'text', (c) => c.notNull())
          .addColumn('owner_id', 'text')
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('first_seen_at', 'bigint', (c) => c.notNull())
          .addColumn('block_hash', 'text')
          .addColumn('block_height', 'integer')
          .addColumn('spends', 'text', (c) => c.notNull())
          .addColumn('rate_cents_per_btc', 'bigint')
          .addColumn('rate_source', 'text')
          .addColumn('rate_at', 'bigint')
          .addColumn('credits', 'integer', (c) => c.notNull())
          .addColumn('credited', 'integer', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('chain_notifier_outputs_by_state').on('chain_notifier_outputs').columns(['state']).execute();
        await db.schema
          .createTable('chain_notifier_blocks')
          .addColumn('height', 'integer', (c) => c.primaryKey())
          .addColumn('hash', 'text', (c) => c.notNull())
          .execute();
      },
    },
  ],
  [
    '0002-invoices',
    {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('chain_notifier_invoices')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('idempotency_key', 'text')
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('cents', 'bigint', (c) => c.notNull())
          .addColumn('currency', 'text', (c) => c.notNull())
          .addColumn('sats', 'bigint', (c) => c.notNull())
          .addColumn('rate_cents_per_btc', 'bigint', (c) => c.notNull())
          .addColumn('rate_source', 'text', (c) => c.notNull())
          .addColumn('rate_at', 'bigint', (c) => c.notNull())
          .addColumn('address', 'text', (c) => c.notNull())
          .addColumn('script_hex', 'text', (c) => c.notNull().unique())
          .addColumn('member_id', 'text')
          .addColumn('product', 'text')
          .addColumn('memo', 'text')
          .addColumn('label', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('watch_until', 'bigint', (c) => c.notNull())
          .addColumn('settled_at', 'bigint')
          .addColumn('paid_sats', 'bigint', (c) => c.notNull())
          .addColumn('flag_partial', 'integer', (c) => c.notNull())
          .addColumn('flag_over', 'integer', (c) => c.notNull())
          .addColumn('flag_late', 'integer', (c) => c.notNull())
          .addColumn('credit_cover', 'text')
          .addColumn('credited', 'integer', (c) => c.notNull())
          .addColumn('credits', 'integer', (c) => c.notNull())
          .addColumn('closed', 'integer', (c) => c.notNull())
          .addUniqueConstraint('chain_notifier_invoices_retry', ['created_by', 'idempotency_key'])
          .execute();
        await db.schema.createIndex('chain_notifier_invoices_open').on('chain_notifier_invoices').columns(['closed']).execute();
        await db.schema
          .createIndex('chain_notifier_invoices_member')
          .on('chain_notifier_invoices')
          .columns(['member_id', 'created_at'])
          .execute();
      },
    },
  ],
  [
    '0003-pending-entries',
    {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('chain_notifier_outputs').addColumn('pending_entry', 'text').execute();
      },
    },
  ],
  [
    '0004-invoice-pending-entries',
    {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('chain_notifier_invoices').addColumn('pending_entry', 'text').execute();
      },
    },
  ],
  [
    '0005-invoice-settled-sats',
    {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('chain_notifier_invoices').addColumn('settled_sats', 'bigint').execute();
      },
    },
  ],
];
