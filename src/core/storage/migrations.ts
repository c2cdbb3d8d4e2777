// Versioned schema migrations per service, run at start; each in a transaction, recorded in the service's own table.
import { Migrator, type Migration, type MigrationProvider } from 'kysely';
import type { DatabaseHandle } from './database.js';
import { StorageError } from './errors.js';

export type { Migration };

/** Migrations in the order they run; names sort in that order and never change once released. */
export type MigrationList = readonly (readonly [name: string, migration: Migration])[];

class ListProvider implements MigrationProvider {
  constructor(private readonly list: MigrationList) {}

  getMigrations(): Promise<Record<string, Migration>> {
    return Promise.resolve(Object.fromEntries(this.list));
  }
}

/**
 * Brings the service's tables up to date. Safe to run from several processes at once (a lock table).
 * @returns the names of the migrations that ran now.
 * @throws StorageError STORAGE_MIGRATION_FAILED naming the migration; it and everything after it did not apply.
 */
export async function migrate(handle: DatabaseHandle, service: string, list: MigrationList): Promise<string[]> {
  const prefix = service.replaceAll('-', '_');
  const migrator = new Migrator({
    db: handle.db,
    provider: new ListProvider(list),
    migrationTableName: `${prefix}_migrations`,
    migrationLockTableName: `${prefix}_migrations_lock`,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((result) => result.status === 'Error')?.migrationName ?? 'unknown';
    throw new StorageError(
      'STORAGE_MIGRATION_FAILED',
      `${service}: migration "${failed}" failed on ${handle.description}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName);
}
