// The issuer keys this client trusts: the pinned Vault root key, plus the directory the root key signed.
import type { KeyObject } from 'node:crypto';
import { importPublicKey } from '../core/keys.js';
import { importSealPublicKey } from '../core/seal.js';
import type { PayloadOf } from '../core/contract.js';
import type { KeyDirectory } from '../core/messages.js';

export type DirectoryPayload = PayloadOf<typeof KeyDirectory>;

export interface IssuerKey {
  readonly publicKeyB64: string;
  readonly key: KeyObject;
}

export const ROOT_ISSUER = 'vault';

export class TrustedKeys {
  readonly #root: IssuerKey;
  #issuers = new Map<string, IssuerKey>();
  #sealKeys = new Map<string, { b64: string; key: KeyObject }>();
  #version = 0;
  #expiresAt = 0;

  constructor(rootPublicKeyB64: string) {
    this.#root = { publicKeyB64: rootPublicKeyB64, key: importPublicKey(rootPublicKeyB64) };
  }

  get version(): number {
    return this.#version;
  }

  /** When the directory held runs out; 0 before the first. */
  get expiresAt(): number {
    return this.#expiresAt;
  }

  get ready(): boolean {
    return this.#version > 0;
  }

  /**
   * Takes a verified directory if it is newer than the one held, so an old one cannot be replayed to
   * restore a removed key; a re-signed copy of the same version only extends its validity.
   */
  apply(directory: DirectoryPayload, expiresAt: number): boolean {
    if (directory.version === this.#version) this.#expiresAt = Math.max(this.#expiresAt, expiresAt);
    if (directory.version <= this.#version) return false;
    this.#expiresAt = expiresAt;
    const next = new Map<string, IssuerKey>();
    for (const entry of directory.keys) {
      const current = this.#issuers.get(entry.client);
      next.set(
        entry.client,
        current?.publicKeyB64 === entry.publicKey
          ? current
          : { publicKeyB64: entry.publicKey, key: importPublicKey(entry.publicKey) },
      );
    }
    this.#issuers = next;
    this.#sealKeys = sealKeysOf(directory, this.#sealKeys);
    this.#version = directory.version;
    return true;
  }

  /** True when the directory held has run out: a broker withholding newer ones cannot keep a retired key alive. */
  expired(now: number): boolean {
    return this.#version > 0 && now >= this.#expiresAt;
  }

  /** The X25519 key to seal to for `client`, when the directory lists one and has not expired. */
  sealKeyFor(client: string, now: number): KeyObject | undefined {
    return this.expired(now) ? undefined : this.#sealKeys.get(client)?.key;
  }

  /** The key that must have signed a message from `issuer`; the root key for the Vault itself, always. */
  keyFor(issuer: string, now: number): IssuerKey | undefined {
    if (issuer === ROOT_ISSUER) return this.#root;
    return this.expired(now) ? undefined : this.#issuers.get(issuer);
  }
}

function sealKeysOf(
  directory: DirectoryPayload,
  current: ReadonlyMap<string, { b64: string; key: KeyObject }>,
): Map<string, { b64: string; key: KeyObject }> {
  const next = new Map<string, { b64: string; key: KeyObject }>();
  for (const { client, encryptionKey } of directory.keys) {
    if (encryptionKey === undefined) continue;
    const known = current.get(client);
    next.set(client, known?.b64 === encryptionKey ? known : { b64: encryptionKey, key: importSealPublicKey(encryptionKey) });
  }
  return next;
}
