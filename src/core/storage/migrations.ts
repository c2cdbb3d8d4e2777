// Versioned schema migrations per service, run at start: each in its own transaction, under a lock, recorded once.
import { sql, type Kysely, type Migration } from 'kysely';
import type { DatabaseHandle } from './database.js';
import { StorageError } from './errors.js';

export type { Migration };

/** Migrations in the order they run; names never change once released. */
export type MigrationList = readonly (readonly [name: string, migration: Migration])[];

/**
 * Brings the service's tables up to date. Each migration runs in a transaction that first takes the
 * service's migration lock (a write to one row, which serialises SQLite writers and PostgreSQL sessions
 * alike), checks it has not run, runs it and records it; so a failure leaves nothing of it behind, and
 * processes starting at once run each migration exactly once.
 * @returns the names of the migrations that ran now.
 * @throws StorageError STORAGE_MIGRATION_FAILED naming the migration; those before it stay applied, none after it ran.
 */
export async function migrate(handle: DatabaseHandle, service: string, list: MigrationList): Promise<string[]> {
  const prefix = service.replaceAll('-', '_');
  const applied = `${prefix}_migrations`;
  const lock = `${prefix}_migrations_lock`;
  const db = handle.db as Kysely<Record<string, Record<string, unknown>>>;
  await db.transaction().execute(async (trx) => {
    // PostgreSQL's CREATE TABLE IF NOT EXISTS is not safe against itself in two sessions at once; an
    // advisory lock held to the end of this transaction makes it so. SQLite runs one writer at a time anyway.
    if (handle.dialect === 'postgres') await sql`SELECT pg_advisory_xact_lock(hashtext(${applied}))`.execute(trx);
    await sql`CREATE TABLE IF NOT EXISTS ${sql.table(applied)} (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`.execute(trx);
    await sql`CREATE TABLE IF NOT EXISTS ${sql.table(lock)} (id INTEGER PRIMARY KEY, taken_at BIGINT NOT NULL)`.execute(trx);
  });
  const ran: string[] = [];
  for (const [name, migration] of list) {
    try {
      const didRun = await db.transaction().execute(async (trx) => {
        await sql`INSERT INTO ${sql.table(lock)} (id, taken_at) VALUES (1, ${Date.now()})
                  ON CONFLICT (id) DO UPDATE SET taken_at = excluded.taken_at`.execute(trx);
        const done = await sql<{ name: string }>`SELECT name FROM ${sql.table(applied)} WHERE name = ${name}`.execute(trx);
        if (done.rows.length > 0) return false;
        await migration.up(trx);
        await sql`INSERT INTO ${sql.table(applied)} (name, applied_at) VALUES (${name}, ${Date.now()})`.execute(trx);
        return true;
      });
      if (didRun) ran.push(name);
    } catch (cause) {
      throw new StorageError(
        'STORAGE_MIGRATION_FAILED',
        `${service}: migration "${name}" failed on ${handle.description} and was rolled back: ${(cause as Error).message}`,
        { cause },
      );
    }
  }
  return ran;
}
