// The Server's tables: dashboard users (a memory-hard password hash, a role, the member a member login is) and
// their sessions (only a hash of each session token is stored, so a copy of the database logs nobody in).
import { createHash, randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Kysely } from 'kysely';
import { migrate, type DatabaseHandle, type MigrationList } from '../core/storage/index.js';
import { ServerError } from './errors.js';

export const SERVICE_NAME = 'server';
export const ROLES = ['admin', 'treasurer', 'member'] as const;
export type Role = (typeof ROLES)[number];

export interface User {
  name: string;
  role: Role;
  memberId: string | null;
  createdAt: number;
}

export interface Session {
  user: User;
  createdAt: number;
  lastSeenAt: number;
}

interface UserRow {
  name: string;
  password_hash: string;
  role: Role;
  member_id: string | null;
  created_at: number;
}

interface SessionRow {
  token_hash: string;
  user_name: string;
  created_at: number;
  last_seen_at: number;
}

interface ServerTables {
  server_users: UserRow;
  server_sessions: SessionRow;
}

export const MIGRATIONS: MigrationList = [
  [
    '0001-users',
    {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('server_users')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('member_id', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('server_sessions')
          .addColumn('token_hash', 'text', (c) => c.primaryKey())
          .addColumn('user_name', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('server_sessions_by_user').on('server_sessions').columns(['user_name']).execute();
      },
    },
  ],
];

/** scrypt at N=2^15, r=8: 32 MiB and tens of milliseconds per guess, for the attacker as for us. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
const KEY_LENGTH = 32;
export const MIN_PASSWORD_LENGTH = 12;
const USER_NAME = /^[a-z0-9][a-z0-9.-]{0,63}$/;

function scrypt(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(password, salt, KEY_LENGTH, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/** `scrypt$N$r$p$salt$key`, base64url: the parameters travel with the hash so they can be raised later. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64url');
  const actual = await scrypt(password, Buffer.from(salt, 'base64url'), {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: SCRYPT.maxmem,
  });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** A hash of a password nobody has, checked when the name is unknown so both answers take as long. */
const decoyHash = hashPassword(randomBytes(16).toString('base64url'));

function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export class ServerStore {
  readonly #db: Kysely<ServerTables>;

  private constructor(db: Kysely<ServerTables>) {
    this.#db = db;
  }

  /** Migrates the tables and opens the store. @throws StorageError STORAGE_MIGRATION_FAILED. */
  static async open(database: DatabaseHandle): Promise<ServerStore> {
    await migrate(database, SERVICE_NAME, MIGRATIONS);
    return new ServerStore(database.db as Kysely<ServerTables>);
  }

  /**
   * Adds a user or changes one's role, member and password.
   * @throws ServerError SERVER_USER_INVALID naming what is wrong.
   */
  async setUser(user: { name: string; role: Role; memberId: string | null; password: string }, at: number): Promise<User> {
    if (!USER_NAME.test(user.name)) {
      throw new ServerError(
        'SERVER_USER_INVALID',
        `"${user.name.slice(0, 64)}" is not a user name (lowercase letters, digits, "." and "-")`,
      );
    }
    if (!(ROLES as readonly string[]).includes(user.role)) {
      throw new ServerError('SERVER_USER_INVALID', `"${String(user.role)}" is not a role (${ROLES.join(', ')})`);
    }
    if ((user.role === 'member') !== (user.memberId !== null)) {
      throw new ServerError('SERVER_USER_INVALID', 'a member login names its member (--member), and only a member login does');
    }
    if (user.memberId !== null && !/^[0-9A-Z]{1,40}$/.test(user.memberId)) {
      throw new ServerError(
        'SERVER_USER_INVALID',
        `"${user.memberId.slice(0, 40)}" is not a member id (capital letters and digits)`,
      );
    }
    if (user.password.length < MIN_PASSWORD_LENGTH) {
      throw new ServerError('SERVER_USER_INVALID', `a password has at least ${MIN_PASSWORD_LENGTH} characters`);
    }
    const row: UserRow = {
      name: user.name,
      password_hash: await hashPassword(user.password),
      role: user.role,
      member_id: user.memberId,
      created_at: at,
    };
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .insertInto('server_users')
        .values(row)
        .onConflict((conflict) =>
          conflict.column('name').doUpdateSet({ password_hash: row.password_hash, role: row.role, member_id: row.member_id }),
        )
        .execute();
      // A changed password or role ends the sessions made with the old one.
      await trx.deleteFrom('server_sessions').where('user_name', '=', user.name).execute();
    });
    return (await this.user(user.name))!;
  }

  async removeUser(name: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('server_sessions').where('user_name', '=', name).execute();
      const result = await trx.deleteFrom('server_users').where('name', '=', name).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  async user(name: string): Promise<User | undefined> {
    const row = await this.#db.selectFrom('server_users').selectAll().where('name', '=', name).executeTakeFirst();
    return row && toUser(row);
  }

  async users(): Promise<User[]> {
    return (await this.#db.selectFrom('server_users').selectAll().orderBy('name').execute()).map(toUser);
  }

  /** The user when the password is theirs; the same time is spent when the name is unknown. */
  async checkPassword(name: string, password: string): Promise<User | undefined> {
    const row = await this.#db.selectFrom('server_users').selectAll().where('name', '=', name).executeTakeFirst();
    const matches = await verifyPassword(password, row?.password_hash ?? (await decoyHash));
    return row && matches ? toUser(row) : undefined;
  }

  /** A new session for the user; returns the token the cookie carries (only its hash is stored). */
  async openSession(name: string, at: number): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await this.#db
      .insertInto('server_sessions')
      .values({ token_hash: tokenHash(token), user_name: name, created_at: at, last_seen_at: at })
      .execute();
    return token;
  }

  /** The session of a token, if it is still open by `isOpen`; an expired one is removed. Marks it used at `at`. */
  async session(token: string, at: number, isOpen: (session: Session) => boolean): Promise<Session | 'expired' | undefined> {
    const hash = tokenHash(token);
    const row = await this.#db
      .selectFrom('server_sessions')
      .innerJoin('server_users', 'server_users.name', 'server_sessions.user_name')
      .selectAll('server_users')
      .select(['server_sessions.created_at as session_created_at', 'server_sessions.last_seen_at'])
      .where('server_sessions.token_hash', '=', hash)
      .executeTakeFirst();
    if (!row) return undefined;
    const session: Session = {
      user: toUser(row),
      createdAt: Number(row.session_created_at),
      lastSeenAt: Number(row.last_seen_at),
    };
    if (!isOpen(session)) {
      await this.closeSession(token);
      return 'expired';
    }
    await this.#db.updateTable('server_sessions').set({ last_seen_at: at }).where('token_hash', '=', hash).execute();
    return session;
  }

  async closeSession(token: string): Promise<void> {
    await this.#db.deleteFrom('server_sessions').where('token_hash', '=', tokenHash(token)).execute();
  }
}

function toUser(row: UserRow): User {
  return { name: row.name, role: row.role, memberId: row.member_id, createdAt: Number(row.created_at) };
}
