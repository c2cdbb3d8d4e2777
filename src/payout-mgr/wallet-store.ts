// The payout wallet's tables: the addresses it watches, the transactions that pay it or spend its coins, the
// coins themselves and who spends them, the blocks it has processed (to resume and to find a fork), and the
// coins held back for a PSBT that is being signed.
import type { Kysely } from 'kysely';
import type { MigrationList } from '../core/storage/index.js';

export const WALLET_MIGRATION_NAMESPACE = 'payout-wallet';

export interface WalletAddressRow {
  script_hex: string;
  address: string;
  /** 0 receive, 1 change. */
  chain: number;
  idx: number;
  /** When nextReceive/nextChange gave it out; null while never given. */
  handed_out_at: number | null;
  /** 1 once any transaction the wallet knows paid it. */
  used: number;
}

/**
 * mempool: seen waiting in the node's mempool; sent: noted by us after a broadcast, not yet seen anywhere;
 * mined: in a block of the processed best chain; dropped: in neither (reorged out, replaced, evicted).
 */
export type WalletTxState = 'mempool' | 'sent' | 'mined' | 'dropped';
export const LIVE_TX_STATES: readonly WalletTxState[] = ['mempool', 'sent', 'mined'];
export const UNCONFIRMED_TX_STATES: readonly WalletTxState[] = ['mempool', 'sent'];

export interface WalletTxRow {
  txid: string;
  state: WalletTxState;
  block_height: number | null;
  block_hash: string | null;
  /** 1 when it spends a coin of the wallet (or we noted it as sent): its change can be trusted unconfirmed. */
  own: number;
  first_seen_at: number;
  /** The transaction's bytes (hex) when it pays the wallet: a PSBT spending its coins carries it (non-witness UTXO). */
  raw: string | null;
}

export interface WalletOutputRow {
  outpoint: string;
  txid: string;
  vout: number;
  sats: number;
  chain: number;
  idx: number;
  script_hex: string;
}

export interface WalletSpendRow {
  outpoint: string;
  spender_txid: string;
}

export interface WalletBlockRow {
  height: number;
  hash: string;
}

export interface WalletReservationRow {
  outpoint: string;
  holder: string;
  reserved_at: number;
}

export interface WalletTables {
  payout_wallet_addresses: WalletAddressRow;
  payout_wallet_txs: WalletTxRow;
  payout_wallet_outputs: WalletOutputRow;
  payout_wallet_spends: WalletSpendRow;
  payout_wallet_blocks: WalletBlockRow;
  payout_wallet_reservations: WalletReservationRow;
}

export const WALLET_MIGRATIONS: MigrationList = [
  [
    '0001-wallet',
    {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('payout_wallet_addresses')
          .addColumn('script_hex', 'text', (c) => c.primaryKey())
          .addColumn('address', 'text', (c) => c.notNull())
          .addColumn('chain', 'integer', (c) => c.notNull())
          .addColumn('idx', 'integer', (c) => c.notNull())
          .addColumn('handed_out_at', 'bigint')
          .addColumn('used', 'integer', (c) => c.notNull())
          .addUniqueConstraint('payout_wallet_addresses_slot', ['chain', 'idx'])
          .execute();
        await db.schema
          .createTable('payout_wallet_txs')
          .addColumn('txid', 'text', (c) => c.primaryKey())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('block_height', 'integer')
          .addColumn('block_hash', 'text')
          .addColumn('own', 'integer', (c) => c.notNull())
          .addColumn('first_seen_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('payout_wallet_txs_by_height').on('payout_wallet_txs').columns(['block_height']).execute();
        await db.schema
          .createTable('payout_wallet_outputs')
          .addColumn('outpoint', 'text', (c) => c.primaryKey())
          .addColumn('txid', 'text', (c) => c.notNull())
          .addColumn('vout', 'integer', (c) => c.notNull())
          .addColumn('sats', 'bigint', (c) => c.notNull())
          .addColumn('chain', 'integer', (c) => c.notNull())
          .addColumn('idx', 'integer', (c) => c.notNull())
          .addColumn('script_hex', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('payout_wallet_outputs_by_txid').on('payout_wallet_outputs').columns(['txid']).execute();
        await db.schema
          .createTable('payout_wallet_spends')
          .addColumn('outpoint', 'text', (c) => c.notNull())
          .addColumn('spender_txid', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('payout_wallet_spends_pk', ['outpoint', 'spender_txid'])
          .execute();
        await db.schema
          .createIndex('payout_wallet_spends_by_spender')
          .on('payout_wallet_spends')
          .columns(['spender_txid'])
          .execute();
        await db.schema
          .createTable('payout_wallet_blocks')
          .addColumn('height', 'integer', (c) => c.primaryKey())
          .addColumn('hash', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('payout_wallet_reservations')
          .addColumn('outpoint', 'text', (c) => c.primaryKey())
          .addColumn('holder', 'text', (c) => c.notNull())
          .addColumn('reserved_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('payout_wallet_reservations_by_holder')
          .on('payout_wallet_reservations')
          .columns(['holder'])
          .execute();
      },
    },
  ],
  [
    '0002-raw-transactions',
    {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('payout_wallet_txs').addColumn('raw', 'text').execute();
      },
    },
  ],
];
