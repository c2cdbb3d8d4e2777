// A device's own SQLite file: command ids it has seen (against replay across restarts), its allow-list (the signed
// envelope, re-verified at load) and the log of what it decided offline until BusinessMgr has it.
import type { Kysely } from 'kysely';
import { wireEnvelope, type Envelope } from '../core/envelope.js';
import type { AllowListPayload } from '../core/door-access.js';
import { migrate, openDatabase, type DatabaseHandle, type MigrationList } from '../core/storage/index.js';
import type { offlineReasons } from '../core/messages-machine.js';

export const SERVICE_NAME = 'machine-mgr';

export interface SeenCommandRow {
  id: string;
  /** Once past, the command would be refused as expired anyway, so the id may be forgotten. */
  expires_at: number;
}

export interface AllowListRow {
  device: string;
  version: number;
  /** The whole signed envelope, JSON, so the signature can be checked again at each start. */
  envelope: string;
  stored_at: number;
}

export type OfflineReason = (typeof offlineReasons)[number];

export interface OfflineLogRow {
  local_id: string;
  tap_id: string | null;
  at: number;
  fob_key: string;
  last_digits: string;
  allowed: number;
  reason: OfflineReason;
  allow_list_version: number | null;
  actuated: number;
  /** When BusinessMgr acknowledged it; null while it waits to be uploaded. */
  sent_at: number | null;
}

export interface MachineMgrTables {
  machine_mgr_seen_commands: SeenCommandRow;
  machine_mgr_allow_list: AllowListRow;
  machine_mgr_offline_log: OfflineLogRow;
}

export const MIGRATIONS: MigrationList = [
  [
    '0001-device',
    {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('machine_mgr_seen_commands')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('machine_mgr_seen_commands_expiry')
          .on('machine_mgr_seen_commands')
          .column('expires_at')
          .execute();
        await db.schema
          .createTable('machine_mgr_allow_list')
          .addColumn('device', 'text', (c) => c.primaryKey())
          .addColumn('version', 'bigint', (c) => c.notNull())
          .addColumn('envelope', 'text', (c) => c.notNull())
          .addColumn('stored_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('machine_mgr_offline_log')
          .addColumn('local_id', 'text', (c) => c.primaryKey())
          .addColumn('tap_id', 'text')
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('fob_key', 'text', (c) => c.notNull())
          .addColumn('last_digits', 'text', (c) => c.notNull())
          .addColumn('allowed', 'integer', (c) => c.notNull())
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('allow_list_version', 'bigint')
          .addColumn('actuated', 'integer', (c) => c.notNull())
          .addColumn('sent_at', 'bigint')
          .execute();
        await db.schema.createIndex('machine_mgr_offline_log_tap').on('machine_mgr_offline_log').column('tap_id').execute();
        await db.schema.createIndex('machine_mgr_offline_log_sent').on('machine_mgr_offline_log').column('sent_at').execute();
      },
    },
  ],
];

export interface OfflineEntry {
  localId: string;
  tapId: string | null;
  at: number;
  fob: { key: string; lastDigits: string };
  allowed: boolean;
  reason: OfflineReason;
  allowListVersion: number | null;
  actuated: boolean;
}

export class DeviceStore {
  private constructor(
    private readonly handle: DatabaseHandle,
    private readonly device: string,
  ) {}

  /** Opens (creating) the device's file and brings its tables up to date. @throws StorageError. */
  static async open(sqliteFile: string, device: string): Promise<DeviceStore> {
    const handle = await openDatabase({ sqliteFile });
    try {
      await migrate(handle, SERVICE_NAME, MIGRATIONS);
    } catch (error) {
      await handle.close();
      throw error;
    }
    return new DeviceStore(handle, device);
  }

  get #db(): Kysely<MachineMgrTables> {
    return this.handle.db as Kysely<MachineMgrTables>;
  }

  /** Records a command id; false when it was already there (a replay). */
  async markSeen(id: string, expiresAt: number): Promise<boolean> {
    const result = await this.#db
      .insertInto('machine_mgr_seen_commands')
      .values({ id, expires_at: expiresAt })
      .onConflict((conflict) => conflict.column('id').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0n) === 1;
  }

  async pruneSeen(now: number): Promise<number> {
    const result = await this.#db.deleteFrom('machine_mgr_seen_commands').where('expires_at', '<', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** The allow-list as stored: sealed to this device, as it came (see MachineMgr's loadAllowList). */
  async loadAllowList(): Promise<Envelope<AllowListPayload> | undefined> {
    const row = await this.#db
      .selectFrom('machine_mgr_allow_list')
      .select('envelope')
      .where('device', '=', this.device)
      .executeTakeFirst();
    return row ? (JSON.parse(row.envelope) as Envelope<AllowListPayload>) : undefined;
  }

  async saveAllowList(envelope: Envelope<AllowListPayload>, now: number): Promise<void> {
    const row = {
      device: this.device,
      version: envelope.payload.version,
      envelope: JSON.stringify(wireEnvelope(envelope)),
      stored_at: now,
    };
    await this.#db
      .insertInto('machine_mgr_allow_list')
      .values(row)
      .onConflict((conflict) =>
        conflict.column('device').doUpdateSet({ version: row.version, envelope: row.envelope, stored_at: row.stored_at }),
      )
      .execute();
  }

  async recordOffline(entry: OfflineEntry): Promise<void> {
    await this.#db
      .insertInto('machine_mgr_offline_log')
      .values({
        local_id: entry.localId,
        tap_id: entry.tapId,
        at: entry.at,
        fob_key: entry.fob.key,
        last_digits: entry.fob.lastDigits,
        allowed: entry.allowed ? 1 : 0,
        reason: entry.reason,
        allow_list_version: entry.allowListVersion,
        actuated: entry.actuated ? 1 : 0,
        sent_at: null,
      })
      .execute();
  }

  /** The pulse of an allowed offline entry failed: say so, unless it was already uploaded as actuated. */
  async markNotActuated(localId: string): Promise<void> {
    await this.#db
      .updateTable('machine_mgr_offline_log')
      .set({ actuated: 0 })
      .where('local_id', '=', localId)
      .where('sent_at', 'is', null)
      .execute();
  }

  async decidedOffline(tapId: string): Promise<boolean> {
    const row = await this.#db
      .selectFrom('machine_mgr_offline_log')
      .select('local_id')
      .where('tap_id', '=', tapId)
      .executeTakeFirst();
    return row !== undefined;
  }

  async unsent(limit: number): Promise<OfflineEntry[]> {
    const rows = await this.#db
      .selectFrom('machine_mgr_offline_log')
      .selectAll()
      .where('sent_at', 'is', null)
      .orderBy('local_id')
      .limit(limit)
      .execute();
    return rows.map(entryOf);
  }

  async countUnsent(): Promise<number> {
    const row = await this.#db
      .selectFrom('machine_mgr_offline_log')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('sent_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async markSent(localIds: readonly string[], now: number): Promise<void> {
    if (localIds.length === 0) return;
    await this.#db.updateTable('machine_mgr_offline_log').set({ sent_at: now }).where('local_id', 'in', localIds).execute();
  }

  /** Every entry, oldest first, for tests and `dctrl` diagnostics. */
  async offlineLog(): Promise<(OfflineEntry & { sentAt: number | null })[]> {
    const rows = await this.#db.selectFrom('machine_mgr_offline_log').selectAll().orderBy('local_id').execute();
    return rows.map((row) => ({ ...entryOf(row), sentAt: row.sent_at }));
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

function entryOf(row: OfflineLogRow): OfflineEntry {
  return {
    localId: row.local_id,
    tapId: row.tap_id,
    at: row.at,
    fob: { key: row.fob_key, lastDigits: row.last_digits },
    allowed: row.allowed === 1,
    reason: row.reason,
    allowListVersion: row.allow_list_version,
    actuated: row.actuated === 1,
  };
}
