// PayoutMgr's tables: payout requests, each approver's decision (once per approver by the primary key), the PSBTs
// built for approved payouts, and every signed PSBT imported (who brought which signatures).
import type { Kysely } from 'kysely';
import type { MigrationList } from '../core/storage/index.js';
import type { PayoutState, PsbtState } from '../core/messages-payout.js';

export const SERVICE_NAME = 'payout-mgr';

export interface PayoutRow {
  id: string;
  state: PayoutState;
  address: string;
  script_hex: string;
  sats: number;
  cents: number | null;
  currency: string | null;
  rate_cents_per_btc: number | null;
  rate_source: string | null;
  rate_at: number | null;
  reason: string;
  requester: string;
  member_id: string | null;
  requested_by: string;
  /** (requested_by, idempotency_key) is unique: a retried request finds the first. */
  idempotency_key: string | null;
  requested_at: number;
  expires_at: number;
  psbt_id: string | null;
  paid_at: number | null;
  ledger_entry_id: string | null;
  /** JSON {code, message} of the last thing that went wrong with it, or null. */
  last_error: string | null;
  updated_at: number;
}

export interface DecisionRow {
  payout_id: string;
  approver: string;
  decision: 'approve' | 'reject';
  reason: string | null;
  at: number;
  carried_by: string;
  /** The approver's key that signed it, and the proof as it came (JSON), kept so it can be checked again. */
  key_id: string | null;
  proof: string | null;
}

export interface ApproverKeyRow {
  key_id: string;
  approver: string;
  kind: 'ed25519' | 'passkey';
  state: 'pending' | 'active' | 'revoked';
  /** Ed25519: raw key base64url; passkey: COSE public key base64url. */
  public_key: string;
  /** A passkey's signature counter as last seen (clone detection); 0 for Ed25519. */
  counter: number;
  enrolled_at: number;
  enrolled_by: string;
  activated_at: number | null;
  bootstrap: number;
}

export interface EndorsementRow {
  key_id: string;
  approver: string;
  endorser_key_id: string;
  at: number;
  proof: string;
}

export interface PsbtRow {
  id: string;
  state: PsbtState;
  txid: string;
  /** The PSBT as it stands, with the signatures combined in so far (base64). */
  psbt: string;
  /** JSON: payout ids, inputs and outputs as summarised for people. */
  payout_ids: string;
  inputs: string;
  outputs: string;
  fee_sats: number;
  vsize: number;
  fee_rate: number;
  threshold: number;
  raw_tx: string | null;
  created_at: number;
  created_by: string;
  broadcast_at: number | null;
  block_height: number | null;
  confirmations: number;
  fee_ledger_entry_id: string | null;
  last_error: string | null;
  updated_at: number;
}

export interface PsbtImportRow {
  id: string;
  psbt_id: string;
  at: number;
  by: string;
  carried_by: string;
  /** JSON list of {inputIndex, fingerprint, pubkey} newly added. */
  added: string;
}

export interface MarkRow {
  key: string;
  value: string;
}

export interface PayoutTables {
  payout_mgr_marks: MarkRow;
  payout_mgr_payouts: PayoutRow;
  payout_mgr_decisions: DecisionRow;
  payout_mgr_psbts: PsbtRow;
  payout_mgr_psbt_imports: PsbtImportRow;
  payout_mgr_approver_keys: ApproverKeyRow;
  payout_mgr_key_endorsements: EndorsementRow;
  /** Votes to retire a key, the same shape as endorsements. */
  payout_mgr_key_revocations: EndorsementRow;
}

export const MIGRATIONS: MigrationList = [
  [
    '0001-payouts',
    {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('payout_mgr_payouts')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('address', 'text', (c) => c.notNull())
          .addColumn('script_hex', 'text', (c) => c.notNull())
          .addColumn('sats', 'bigint', (c) => c.notNull())
          .addColumn('cents', 'bigint')
          .addColumn('currency', 'text')
          .addColumn('rate_cents_per_btc', 'bigint')
          .addColumn('rate_source', 'text')
          .addColumn('rate_at', 'bigint')
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('requester', 'text', (c) => c.notNull())
          .addColumn('member_id', 'text')
          .addColumn('requested_by', 'text', (c) => c.notNull())
          .addColumn('idempotency_key', 'text')
          .addColumn('requested_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('psbt_id', 'text')
          .addColumn('paid_at', 'bigint')
          .addColumn('ledger_entry_id', 'text')
          .addColumn('last_error', 'text')
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addUniqueConstraint('payout_mgr_payouts_retry', ['requested_by', 'idempotency_key'])
          .execute();
        await db.schema.createIndex('payout_mgr_payouts_state').on('payout_mgr_payouts').columns(['state']).execute();
        await db.schema.createIndex('payout_mgr_payouts_psbt').on('payout_mgr_payouts').columns(['psbt_id']).execute();
        await db.schema
          .createTable('payout_mgr_decisions')
          .addColumn('payout_id', 'text', (c) => c.notNull())
          .addColumn('approver', 'text', (c) => c.notNull())
          .addColumn('decision', 'text', (c) => c.notNull())
          .addColumn('reason', 'text')
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('carried_by', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('payout_mgr_decisions_once', ['payout_id', 'approver'])
          .execute();
        await db.schema
          .createTable('payout_mgr_psbts')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('txid', 'text', (c) => c.notNull().unique())
          .addColumn('psbt', 'text', (c) => c.notNull())
          .addColumn('payout_ids', 'text', (c) => c.notNull())
          .addColumn('inputs', 'text', (c) => c.notNull())
          .addColumn('outputs', 'text', (c) => c.notNull())
          .addColumn('fee_sats', 'bigint', (c) => c.notNull())
          .addColumn('vsize', 'integer', (c) => c.notNull())
          .addColumn('fee_rate', 'real', (c) => c.notNull())
          .addColumn('threshold', 'integer', (c) => c.notNull())
          .addColumn('raw_tx', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('broadcast_at', 'bigint')
          .addColumn('block_height', 'integer')
          .addColumn('confirmations', 'integer', (c) => c.notNull())
          .addColumn('fee_ledger_entry_id', 'text')
          .addColumn('last_error', 'text')
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('payout_mgr_psbts_state').on('payout_mgr_psbts').columns(['state']).execute();
        await db.schema
          .createTable('payout_mgr_marks')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('payout_mgr_psbt_imports')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('psbt_id', 'text', (c) => c.notNull())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('by', 'text', (c) => c.notNull())
          .addColumn('carried_by', 'text', (c) => c.notNull())
          .addColumn('added', 'text', (c) => c.notNull())
          .execute();
      },
    },
  ],
  [
    '0002-approver-keys',
    {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('payout_mgr_decisions').addColumn('key_id', 'text').execute();
        await db.schema.alterTable('payout_mgr_decisions').addColumn('proof', 'text').execute();
        await db.schema
          .createTable('payout_mgr_approver_keys')
          .addColumn('key_id', 'text', (c) => c.primaryKey())
          .addColumn('approver', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('public_key', 'text', (c) => c.notNull())
          .addColumn('counter', 'bigint', (c) => c.notNull())
          .addColumn('enrolled_at', 'bigint', (c) => c.notNull())
          .addColumn('enrolled_by', 'text', (c) => c.notNull())
          .addColumn('activated_at', 'bigint')
          .addColumn('bootstrap', 'integer', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('payout_mgr_key_endorsements')
          .addColumn('key_id', 'text', (c) => c.notNull())
          .addColumn('approver', 'text', (c) => c.notNull())
          .addColumn('endorser_key_id', 'text', (c) => c.notNull())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('proof', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('payout_mgr_key_endorsements_once', ['key_id', 'approver'])
          .execute();
        await db.schema
          .createTable('payout_mgr_key_revocations')
          .addColumn('key_id', 'text', (c) => c.notNull())
          .addColumn('approver', 'text', (c) => c.notNull())
          .addColumn('endorser_key_id', 'text', (c) => c.notNull())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('proof', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('payout_mgr_key_revocations_once', ['key_id', 'approver'])
          .execute();
      },
    },
  ],
];

/** The first block the wallet follows: configured, else the tip when PayoutMgr first started here (kept). */
export async function birthHeight(
  db: Kysely<PayoutTables>,
  configured: number | undefined,
  tip: () => Promise<number>,
): Promise<number> {
  if (configured !== undefined) return configured;
  const stored = await db.selectFrom('payout_mgr_marks').select('value').where('key', '=', 'birth-height').executeTakeFirst();
  if (stored) return Number(stored.value);
  const height = await tip();
  await db
    .insertInto('payout_mgr_marks')
    .values({ key: 'birth-height', value: String(height) })
    .execute();
  return height;
}
