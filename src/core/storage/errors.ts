// Storage error codes: what the query layer reports, the same for SQLite and PostgreSQL.
import { errorClass } from '../errors.js';

export const StorageErrorCodes = {
  STORAGE_URL_INVALID: 'A database URL must be postgres:// or postgresql://; without one, SQLite in the data folder is used.',
  STORAGE_UNAVAILABLE: 'The database could not be reached or opened; the message names the cause.',
  STORAGE_MIGRATION_FAILED: 'A schema migration failed and was rolled back; the message names it. Nothing after it ran.',
  STORAGE_CONFLICT: 'A row with the same unique key already exists (a duplicate email, fob or id).',
  STORAGE_INTEGER_OVERFLOW: 'A stored integer is beyond 2^53 and cannot be read exactly as a JavaScript number.',
} as const;

export type StorageErrorCode = keyof typeof StorageErrorCodes;

export const StorageError = errorClass('StorageError', StorageErrorCodes);
export type StorageError = InstanceType<typeof StorageError>;

/** Turns a driver error into a StorageError when it is one we name (unique violations); otherwise returns it unchanged. */
export function translateDriverError(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  // SQLite: SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY; PostgreSQL: 23505 unique_violation.
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505') {
    const detail = (error as { detail?: string }).detail ?? (error as Error).message;
    return new StorageError('STORAGE_CONFLICT', `already exists: ${detail}`, { cause: error });
  }
  return error;
}
