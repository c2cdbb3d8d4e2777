// The Vault's keeper: opens the encrypted store, holds the root and service keys, issues, renews and revokes tokens.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ulid } from 'ulid';
import type { Clock } from '../core/clock.js';
import { CLIENT_NAME_PATTERN, describeIssues } from '../core/envelope.js';
import { exportPrivateKeyPem, generateSigningKey, importPrivateKeyPem, type SigningKey } from '../core/keys.js';
import { deriveSealingKey, type SealingKey } from '../core/seal.js';
import { grantsSchema, signToken, TokenError, type Grants, type TokenAudience } from '../core/token.js';
import { VaultError } from './errors.js';
import { SecretBox } from './secret-box.js';
import { VaultStore, type TokenRow } from './store.js';

/** How the master key is given: a passphrase, a key file, or demo mode (a key file made in the data folder). */
export type VaultSecret = { passphrase: string } | { keyFile: string } | { demo: true };

export const ROOT_CLIENT = 'vault';
const KEY_CHECK_CONTEXT = 'dctrl-vault-key-check';
export const DEMO_KEY_FILE = 'vault.key';

export interface IssuedToken {
  token: string;
  tokenId: string;
  client: string;
  expiresAt: number;
}

export interface TokenRecord {
  tokenId: string;
  client: string;
  grants: Grants;
  issuedAt: number;
  expiresAt: number;
  revokedAt: number | null;
  revokeReason: string | null;
  renewedFrom: string | null;
  audience: TokenAudience;
}

export interface KeeperOptions {
  dataDir: string;
  secret: VaultSecret;
  clock: Clock;
  tokenTtlSeconds: number;
  /** Told once when demo mode creates or uses a key file beside the vault. */
  onDemoKey?: (path: string, created: boolean) => void;
}

export class VaultKeeper {
  readonly #store: VaultStore;
  readonly #box: SecretBox;
  readonly #clock: Clock;
  readonly #tokenTtlMs: number;
  readonly #keys = new Map<string, SigningKey>();
  readonly #sealingKeys = new WeakMap<SigningKey, SealingKey>();
  readonly root: SigningKey;

  private constructor(store: VaultStore, box: SecretBox, options: KeeperOptions) {
    this.#store = store;
    this.#box = box;
    this.#clock = options.clock;
    this.#tokenTtlMs = options.tokenTtlSeconds * 1000;
    this.root = this.ensureClient(ROOT_CLIENT);
  }

  /**
   * Opens the vault in `dataDir`, creating it on first use.
   * @throws VaultError VAULT_WRONG_KEY when the secret does not open an existing vault.
   */
  static open(options: KeeperOptions): VaultKeeper {
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    const store = new VaultStore(join(options.dataDir, 'vault.db'));
    try {
      const box = openBox(store, options);
      return new VaultKeeper(store, box, options);
    } catch (error) {
      store.close();
      throw error;
    }
  }

  /** The client's signing key, created and sealed on first request. */
  ensureClient(client: string): SigningKey {
    assertClientName(client);
    const cached = this.#keys.get(client);
    if (cached) return cached;
    if (!this.#store.getKey(client)) {
      const key = generateSigningKey();
      this.#store.insertKey({
        client,
        public_key: key.publicKeyB64,
        private_key_sealed: this.#box.seal(Buffer.from(exportPrivateKeyPem(key)), `signing-key:${client}`),
        created_at: this.#clock.now(),
      });
    }
    return this.signingKey(client);
  }

  /** @throws VaultError VAULT_UNKNOWN_CLIENT when the client has no key, VAULT_CLIENT_RETIRED when it was retired. */
  signingKey(client: string): SigningKey {
    const cached = this.#keys.get(client);
    if (cached) return cached;
    const row = this.#store.getKey(client);
    if (!row) throw new VaultError('VAULT_UNKNOWN_CLIENT', `no signing key for client "${client}"`);
    if (row.retired_at !== null) {
      throw new VaultError('VAULT_CLIENT_RETIRED', `"${client}" was retired on ${new Date(row.retired_at).toISOString()}`);
    }
    const key = importPrivateKeyPem(this.#box.open(row.private_key_sealed, `signing-key:${client}`).toString('utf8'));
    this.#keys.set(client, key);
    return key;
  }

  /**
   * A named secret (32 random bytes, made on first use and sealed like the keys), such as the key that
   * turns fob numbers into keyed hashes. Who may read which one is the Vault service's business.
   */
  secret(name: string): Buffer {
    if (!/^[a-z][a-z0-9-]{0,62}$/.test(name))
      throw new VaultError('VAULT_UNKNOWN_SECRET', `"${name.slice(0, 64)}" is not a secret name`);
    const context = `secret:${name}`;
    if (!this.#store.getSecret(name)) this.#store.insertSecret(name, this.#box.seal(randomBytes(32), context), this.#clock.now());
    return this.#box.open(this.#store.getSecret(name)!, context);
  }

  listKeys(): { client: string; publicKey: string; createdAt: number; retiredAt: number | null }[] {
    return this.#store.listKeys().map((row) => ({
      client: row.client,
      publicKey: row.public_key,
      createdAt: row.created_at,
      retiredAt: row.retired_at,
    }));
  }

  /**
   * Gives a client a new key (a device was re-imaged, or its key may have leaked). The old key leaves the
   * directory and every token of the client is revoked, so its old credentials stop working everywhere.
   * @throws VaultError VAULT_UNKNOWN_CLIENT, or VAULT_CLIENT_NAME_INVALID for the root.
   */
  rotateKey(client: string): SigningKey {
    this.#assertManagedClient(client);
    const key = generateSigningKey();
    this.#store.replaceKey(
      client,
      {
        publicKey: key.publicKeyB64,
        sealed: this.#box.seal(Buffer.from(exportPrivateKeyPem(key)), `signing-key:${client}`),
        at: this.#clock.now(),
      },
      'key rotated',
    );
    this.#keys.set(client, key);
    return key;
  }

  /** Removes a client from the directory and revokes its tokens: a lost or stolen device. */
  retireClient(client: string): void {
    this.#assertManagedClient(client);
    this.#store.replaceKey(client, { retiredAt: this.#clock.now() }, 'client retired');
    this.#keys.delete(client);
  }

  #assertManagedClient(client: string): void {
    assertClientName(client);
    if (client === ROOT_CLIENT) {
      throw new VaultError(
        'VAULT_CLIENT_NAME_INVALID',
        'the Vault root key is pinned by every client and cannot be rotated or retired here',
      );
    }
    if (!this.#store.getKey(client)) throw new VaultError('VAULT_UNKNOWN_CLIENT', `no signing key for client "${client}"`);
  }

  /** The payload of the signed key directory: every client but the root, whose key is pinned instead. */
  directory(): { version: number; keys: { client: string; publicKey: string; encryptionKey: string }[] } {
    const keys = this.#store
      .listKeys()
      .filter((row) => row.client !== ROOT_CLIENT && row.retired_at === null)
      .map((row) => {
        // From the sealed private key, not the plain column: someone who can write vault.db but has no
        // master key must not get a key of their own signed into the directory.
        const signingKey = this.signingKey(row.client);
        const publicKey = signingKey.publicKeyB64;
        if (publicKey !== row.public_key) {
          throw new VaultError(
            'VAULT_SECRET_CORRUPT',
            `the public key stored for "${row.client}" does not match its sealed private key`,
          );
        }
        return { client: row.client, publicKey, encryptionKey: this.#sealingKeyOf(signingKey).publicKeyB64 };
      });
    return { version: this.#store.versions().directory, keys };
  }

  #sealingKeyOf(signingKey: SigningKey): SealingKey {
    let sealing = this.#sealingKeys.get(signingKey);
    if (!sealing) this.#sealingKeys.set(signingKey, (sealing = deriveSealingKey(signingKey)));
    return sealing;
  }

  versions(): { directory: number; revocations: number } {
    return this.#store.versions();
  }

  /**
   * A bus token by default (the MQTT password); an API token (`audience: 'api'`) is only for the REST API.
   * @throws VaultError VAULT_CLIENT_RETIRED for a retired client; ZodError for malformed grants.
   */
  async issueToken(
    client: string,
    grants: Grants,
    ttlSeconds?: number,
    options: { renewedFrom?: string; audience?: TokenAudience } = {},
  ): Promise<IssuedToken> {
    const audience = options.audience ?? 'bus';
    assertClientName(client);
    const retiredAt = this.#store.getKey(client)?.retired_at ?? null;
    if (retiredAt !== null) {
      throw new VaultError(
        'VAULT_CLIENT_RETIRED',
        `"${client}" was retired on ${new Date(retiredAt).toISOString()}; no new tokens`,
      );
    }
    const parsed = grantsSchema.safeParse(grants);
    if (!parsed.success) {
      throw new VaultError('VAULT_GRANTS_INVALID', `grants for "${client}" are invalid: ${describeIssues(parsed.error)}`);
    }
    const checked = parsed.data;
    // JWT times are whole seconds; keep the record identical to what the token says.
    const issuedAt = Math.floor(this.#clock.now() / 1000) * 1000;
    const expiresAt = issuedAt + (ttlSeconds !== undefined ? ttlSeconds * 1000 : this.#tokenTtlMs);
    const tokenId = ulid(issuedAt);
    const token = await signToken(this.root.privateKey, {
      client,
      tokenId,
      issuedAt,
      expiresAt,
      grants: checked,
      audience,
    });
    this.#store.insertToken({
      token_id: tokenId,
      client,
      grants: JSON.stringify(checked),
      issued_at: issuedAt,
      expires_at: expiresAt,
      revoked_at: null,
      revoke_reason: null,
      renewed_from: options.renewedFrom ?? null,
      audience,
    });
    return { token, tokenId, client, expiresAt };
  }

  /**
   * A fresh token with the same client, grants and lifetime, for a token that is still valid and not
   * revoked. The caller is the signer of the request, so only the token's own client can renew it.
   * Renewing the same token again returns the same renewal (signatures are deterministic), so a retry
   * after a lost reply works and a thief with a copy cannot fork a second, independent chain.
   * @throws VaultError VAULT_UNKNOWN_TOKEN, VAULT_RENEW_MISMATCH, VAULT_TOKEN_REVOKED; TokenError TOKEN_EXPIRED.
   */
  async renewToken(tokenId: string, requester: string): Promise<IssuedToken> {
    const record = this.#store.getToken(tokenId);
    if (!record) throw new VaultError('VAULT_UNKNOWN_TOKEN', `token ${tokenId} was not issued by this vault`);
    if (record.client !== requester) {
      throw new VaultError('VAULT_RENEW_MISMATCH', `"${requester}" asked to renew a token of "${record.client}"`);
    }
    if (record.revoked_at !== null) throw new VaultError('VAULT_TOKEN_REVOKED', `token ${tokenId} was revoked`);
    if (record.audience !== 'bus') {
      throw new VaultError(
        'VAULT_RENEW_NOT_BUS_TOKEN',
        `token ${tokenId} is an API token; only bus tokens are renewed on the bus. Issue a new one with \`dctrl token issue ${record.client} --api\``,
      );
    }
    if (record.expires_at <= this.#clock.now()) {
      throw new TokenError('TOKEN_EXPIRED', `token ${tokenId} expired; issue a new one with \`dctrl token issue\``);
    }
    const renewal = this.#store.getRenewal(tokenId);
    if (renewal) {
      if (renewal.revoked_at !== null) throw new VaultError('VAULT_TOKEN_REVOKED', `the renewal of ${tokenId} was revoked`);
      return this.#resign(toRecord(renewal));
    }
    return this.issueToken(record.client, JSON.parse(record.grants) as Grants, (record.expires_at - record.issued_at) / 1000, {
      renewedFrom: tokenId,
    });
  }

  async #resign(record: TokenRecord): Promise<IssuedToken> {
    const token = await signToken(this.root.privateKey, {
      client: record.client,
      tokenId: record.tokenId,
      issuedAt: record.issuedAt,
      expiresAt: record.expiresAt,
      grants: record.grants,
      audience: record.audience,
    });
    return { token, tokenId: record.tokenId, client: record.client, expiresAt: record.expiresAt };
  }

  /** @throws VaultError VAULT_UNKNOWN_TOKEN. Returns false when the token was already revoked. */
  revokeToken(tokenId: string, reason: string): boolean {
    if (!this.#store.getToken(tokenId)) {
      throw new VaultError('VAULT_UNKNOWN_TOKEN', `no token with id ${tokenId}; see \`dctrl token list\``);
    }
    return this.#store.revokeToken(tokenId, this.#clock.now(), reason);
  }

  listTokens(options: { includeExpired?: boolean } = {}): TokenRecord[] {
    const since = options.includeExpired ? 0 : this.#clock.now();
    return this.#store.listTokens(since).map(toRecord);
  }

  revocationList(): { version: number; revoked: { tokenId: string; client: string; expiresAt: number }[] } {
    const revoked = this.#store
      .revokedUnexpired(this.#clock.now())
      .map((row) => ({ tokenId: row.token_id, client: row.client, expiresAt: row.expires_at }));
    return { version: this.#store.versions().revocations, revoked };
  }

  close(): void {
    this.#store.close();
  }
}

function toRecord(row: TokenRow): TokenRecord {
  return {
    tokenId: row.token_id,
    client: row.client,
    grants: JSON.parse(row.grants) as Grants,
    issuedAt: row.issued_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    revokeReason: row.revoke_reason,
    renewedFrom: row.renewed_from,
    audience: row.audience,
  };
}

function assertClientName(client: string): void {
  if (!CLIENT_NAME_PATTERN.test(client)) {
    throw new VaultError(
      'VAULT_CLIENT_NAME_INVALID',
      `client name "${client.slice(0, 80)}" must be lowercase letters, digits and "-", starting with a letter`,
    );
  }
}

function openBox(store: VaultStore, options: KeeperOptions): SecretBox {
  const box = boxFor(store, options);
  const check = store.getMeta('key_check');
  if (check === undefined) {
    store.setMeta('key_source', sourceName(options.secret));
    store.setMeta('key_check', box.seal(Buffer.from(KEY_CHECK_CONTEXT), KEY_CHECK_CONTEXT));
    return box;
  }
  try {
    box.open(check as Buffer, KEY_CHECK_CONTEXT);
  } catch (cause) {
    const createdWith = String(store.getMeta('key_source') ?? 'unknown');
    throw new VaultError(
      'VAULT_WRONG_KEY',
      `the ${sourceName(options.secret)} given does not open ${join(options.dataDir, 'vault.db')}, which was created with a ${createdWith}; set ${envHint(createdWith)}`,
      { cause },
    );
  }
  return box;
}

function boxFor(store: VaultStore, options: KeeperOptions): SecretBox {
  const secret = options.secret;
  if ('passphrase' in secret) {
    let salt = store.getMeta('kdf_salt') as Buffer | undefined;
    if (!salt) {
      salt = randomBytes(16);
      store.setMeta('kdf_salt', salt);
    }
    return SecretBox.fromPassphrase(secret.passphrase, salt);
  }
  if ('keyFile' in secret) return SecretBox.fromKeyFile(secret.keyFile);
  const demoKeyFile = join(options.dataDir, DEMO_KEY_FILE);
  const created = !existsSync(demoKeyFile);
  if (created) writeFileSync(demoKeyFile, SecretBox.generateKeyText() + '\n', { mode: 0o600, flag: 'wx' });
  options.onDemoKey?.(demoKeyFile, created);
  return SecretBox.fromKeyFile(demoKeyFile);
}

function sourceName(secret: VaultSecret): string {
  if ('passphrase' in secret) return 'passphrase';
  if ('keyFile' in secret) return 'key file';
  return 'demo key file';
}

function envHint(createdWith: string): string {
  if (createdWith === 'passphrase') return 'DCTRL_VAULT_PASSPHRASE';
  if (createdWith === 'key file') return 'DCTRL_VAULT_KEY_FILE to the key file it was created with';
  return `neither secret variable, so the demo key file ${DEMO_KEY_FILE} in the data folder is used`;
}
