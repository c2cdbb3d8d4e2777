// One query layer (Kysely) over SQLite (better-sqlite3, a file in the data folder) or PostgreSQL (pg).
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  Kysely,
  PostgresDialect,
  SqliteDialect,
  sql,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RawBuilder,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely';
import pg from 'pg';
import { StorageError } from './errors.js';

export type DialectName = 'sqlite' | 'postgres';

export interface DatabaseHandle<Schema = unknown> {
  readonly db: Kysely<Schema>;
  readonly dialect: DialectName;
  /** Where it points, without credentials, for logs and the banner. */
  readonly description: string;
  close(): Promise<void>;
}

export interface DatabaseTarget {
  /** postgres://… to use PostgreSQL; unset for SQLite. */
  url?: string | undefined;
  /** The SQLite file, used when no URL is given. */
  sqliteFile: string;
}

const PG_INT8_OID = 20;
let pgIntegersParsed = false;

/**
 * Money, counts and times are integers; PostgreSQL hands BIGINT back as text. Read it as a number, and
 * refuse rather than round when it does not fit exactly.
 */
function parsePgIntegersAsNumbers(): void {
  if (pgIntegersParsed) return;
  pgIntegersParsed = true;
  pg.types.setTypeParser(PG_INT8_OID, (text: string) => {
    const value = Number(text);
    if (!Number.isSafeInteger(value)) {
      throw new StorageError('STORAGE_INTEGER_OVERFLOW', `stored integer ${text} is beyond 2^53`);
    }
    return value;
  });
}

/** Turns the bigint values SQLite returns into numbers when they are exact, and refuses when they are not. */
class ExactIntegers implements KyselyPlugin {
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return args.node;
  }

  transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    const rows = args.result.rows.map((row) => {
      const converted: UnknownRow = {};
      for (const [key, value] of Object.entries(row)) converted[key] = typeof value === 'bigint' ? exactNumber(value) : value;
      return converted;
    });
    return Promise.resolve({ ...args.result, rows });
  }
}

function exactNumber(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new StorageError('STORAGE_INTEGER_OVERFLOW', `stored integer ${value} is beyond 2^53`);
  }
  return Number(value);
}

/** @throws StorageError STORAGE_URL_INVALID or STORAGE_UNAVAILABLE. */
export async function openDatabase<Schema>(target: DatabaseTarget): Promise<DatabaseHandle<Schema>> {
  if (target.url !== undefined) return openPostgres<Schema>(target.url);
  return openSqlite<Schema>(target.sqliteFile);
}

function openSqlite<Schema>(file: string): DatabaseHandle<Schema> {
  let sqlite: Database.Database;
  try {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    sqlite = new Database(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    // Integers come back as bigint, so nothing beyond 2^53 is rounded on the way; the plugin below turns
    // them into exact numbers or refuses.
    sqlite.defaultSafeIntegers(true);
  } catch (cause) {
    throw new StorageError('STORAGE_UNAVAILABLE', `cannot open SQLite file ${file}: ${(cause as Error).message}`, { cause });
  }
  const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: sqlite }), plugins: [new ExactIntegers()] });
  return { db, dialect: 'sqlite', description: `sqlite:${file}`, close: () => db.destroy() };
}

async function openPostgres<Schema>(url: string): Promise<DatabaseHandle<Schema>> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new StorageError('STORAGE_URL_INVALID', 'the database URL is not a URL', { cause });
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new StorageError(
      'STORAGE_URL_INVALID',
      `the database URL must start with postgres:// or postgresql://, got ${parsed.protocol}//`,
    );
  }
  parsePgIntegersAsNumbers();
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // An idle connection that drops (server restart) is reported here; without a listener it would end the process.
  pool.on('error', (error) => process.emitWarning(`PostgreSQL connection lost: ${error.message}`, 'StorageWarning'));
  const description = `postgres://${parsed.host}${parsed.pathname}`;
  try {
    const client = await pool.connect();
    client.release();
  } catch (cause) {
    await pool.end();
    throw new StorageError('STORAGE_UNAVAILABLE', `cannot reach PostgreSQL at ${description}: ${(cause as Error).message}`, {
      cause,
    });
  }
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: 'postgres', description, close: () => db.destroy() };
}

/**
 * SUM of an integer column as an exact integer on both databases (PostgreSQL's sum(bigint) is numeric, which
 * pg returns as text), and 0 rather than NULL when there are no rows.
 */
export function integerSum(column: string): RawBuilder<number> {
  return sql<number>`cast(coalesce(sum(${sql.ref(column)}), 0) as bigint)`;
}
