// The Vault's SQLite file: sealed signing keys, issued-token records, and change counters (WAL, so the CLI and a running hub share it).
import { chmodSync } from 'node:fs';
import Database from 'better-sqlite3';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
   CREATE TABLE signing_keys (
     client TEXT PRIMARY KEY,
     public_key TEXT NOT NULL,
     private_key_sealed BLOB NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE tokens (
     token_id TEXT PRIMARY KEY,
     client TEXT NOT NULL,
     grants TEXT NOT NULL,
     issued_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     revoked_at INTEGER,
     revoke_reason TEXT,
     renewed_from TEXT
   );
   CREATE INDEX tokens_by_client ON tokens (client);
   INSERT INTO meta (name, value) VALUES ('directory_version', 1), ('revocation_version', 0);`,
  `ALTER TABLE signing_keys ADD COLUMN retired_at INTEGER;`,
  `CREATE TABLE secrets (name TEXT PRIMARY KEY, sealed BLOB NOT NULL, created_at INTEGER NOT NULL);`,
  `ALTER TABLE tokens ADD COLUMN audience TEXT NOT NULL DEFAULT 'bus';`,
];

export interface KeyRow {
  client: string;
  public_key: string;
  private_key_sealed: Buffer;
  created_at: number;
  retired_at: number | null;
}

export interface TokenRow {
  token_id: string;
  client: string;
  grants: string;
  issued_at: number;
  expires_at: number;
  revoked_at: number | null;
  revoke_reason: string | null;
  renewed_from: string | null;
  audience: 'bus' | 'api';
}

export class VaultStore {
  readonly #db: Database.Database;

  constructor(file: string) {
    this.#db = new Database(file);
    chmodSync(file, 0o600);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('busy_timeout = 5000');
    this.#migrate();
  }

  #migrate(): void {
    const current = this.#db.pragma('user_version', { simple: true }) as number;
    for (let version = current; version < MIGRATIONS.length; version++) {
      this.#db.transaction(() => {
        this.#db.exec(MIGRATIONS[version]!);
        this.#db.pragma(`user_version = ${version + 1}`);
      })();
    }
  }

  getMeta(name: string): Buffer | number | string | undefined {
    const row = this.#db.prepare('SELECT value FROM meta WHERE name = ?').get(name) as { value: Buffer } | undefined;
    return row?.value;
  }

  setMeta(name: string, value: Buffer | number | string): void {
    this.#db
      .prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value')
      .run(name, value);
  }

  versions(): { directory: number; revocations: number } {
    return {
      directory: Number(this.getMeta('directory_version')),
      revocations: Number(this.getMeta('revocation_version')),
    };
  }

  #bump(counter: 'directory_version' | 'revocation_version'): void {
    this.#db.prepare('UPDATE meta SET value = value + 1 WHERE name = ?').run(counter);
  }

  getSecret(name: string): Buffer | undefined {
    const row = this.#db.prepare('SELECT sealed FROM secrets WHERE name = ?').get(name) as { sealed: Buffer } | undefined;
    return row?.sealed;
  }

  /** Stores the secret unless one by that name exists (two processes creating it at once keep the first). */
  insertSecret(name: string, sealed: Buffer, at: number): void {
    this.#db
      .prepare('INSERT INTO secrets (name, sealed, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING')
      .run(name, sealed, at);
  }

  getKey(client: string): KeyRow | undefined {
    return this.#db.prepare('SELECT * FROM signing_keys WHERE client = ?').get(client) as KeyRow | undefined;
  }

  listKeys(): KeyRow[] {
    return this.#db.prepare('SELECT * FROM signing_keys ORDER BY client').all() as KeyRow[];
  }

  /** Replaces a client's key (rotation) or marks it retired, and revokes every token of the client, in one transaction. */
  replaceKey(
    client: string,
    change: { publicKey: string; sealed: Buffer; at: number } | { retiredAt: number },
    reason: string,
  ): void {
    this.#db.transaction(() => {
      if ('retiredAt' in change) {
        this.#db.prepare('UPDATE signing_keys SET retired_at = ? WHERE client = ?').run(change.retiredAt, client);
      } else {
        this.#db
          .prepare(
            'UPDATE signing_keys SET public_key = ?, private_key_sealed = ?, created_at = ?, retired_at = NULL WHERE client = ?',
          )
          .run(change.publicKey, change.sealed, change.at, client);
      }
      this.#bump('directory_version');
      const at = 'retiredAt' in change ? change.retiredAt : change.at;
      const revoked = this.#db
        .prepare('UPDATE tokens SET revoked_at = ?, revoke_reason = ? WHERE client = ? AND revoked_at IS NULL AND expires_at > ?')
        .run(at, reason, client, at);
      if (revoked.changes > 0) this.#bump('revocation_version');
    })();
  }

  /** Inserts the key unless the client already has one; returns whether it was inserted. */
  insertKey(row: Omit<KeyRow, 'retired_at'>): boolean {
    return this.#db.transaction(() => {
      const result = this.#db
        .prepare(
          'INSERT INTO signing_keys (client, public_key, private_key_sealed, created_at) VALUES (@client, @public_key, @private_key_sealed, @created_at) ON CONFLICT (client) DO NOTHING',
        )
        .run(row);
      if (result.changes > 0) this.#bump('directory_version');
      return result.changes > 0;
    })();
  }

  insertToken(row: TokenRow): void {
    this.#db
      .prepare(
        'INSERT INTO tokens (token_id, client, grants, issued_at, expires_at, revoked_at, revoke_reason, renewed_from, audience) VALUES (@token_id, @client, @grants, @issued_at, @expires_at, @revoked_at, @revoke_reason, @renewed_from, @audience)',
      )
      .run(row);
  }

  getToken(tokenId: string): TokenRow | undefined {
    return this.#db.prepare('SELECT * FROM tokens WHERE token_id = ?').get(tokenId) as TokenRow | undefined;
  }

  listTokens(since: number): TokenRow[] {
    return this.#db.prepare('SELECT * FROM tokens WHERE expires_at >= ? ORDER BY issued_at, token_id').all(since) as TokenRow[];
  }

  revokedUnexpired(now: number): TokenRow[] {
    return this.#db
      .prepare('SELECT * FROM tokens WHERE revoked_at IS NOT NULL AND expires_at > ? ORDER BY token_id')
      .all(now) as TokenRow[];
  }

  /** The token that `parentId` was renewed into, if any. */
  getRenewal(parentId: string): TokenRow | undefined {
    return this.#db.prepare('SELECT * FROM tokens WHERE renewed_from = ? ORDER BY issued_at LIMIT 1').get(parentId) as
      TokenRow | undefined;
  }

  /**
   * Marks a token and every token renewed from it revoked: a stolen token must not live on in its renewals.
   * Returns false when all of them already were.
   */
  revokeToken(tokenId: string, at: number, reason: string): boolean {
    return this.#db.transaction(() => {
      const result = this.#db
        .prepare(
          `WITH RECURSIVE chain(id) AS (SELECT ? UNION SELECT t.token_id FROM tokens t JOIN chain ON t.renewed_from = chain.id)
           UPDATE tokens SET revoked_at = ?, revoke_reason = ? WHERE token_id IN (SELECT id FROM chain) AND revoked_at IS NULL`,
        )
        .run(tokenId, at, reason);
      if (result.changes > 0) this.#bump('revocation_version');
      return result.changes > 0;
    })();
  }

  close(): void {
    this.#db.close();
  }
}
