// Encryption of secrets at rest: AES-256-GCM under a master key from a key file or a passphrase (scrypt).
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { VaultError } from './errors.js';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
// scrypt cost: N=2^15, r=8 costs ~32 MiB and ~100 ms once at start, per RFC 7914 guidance for interactive use.
const SCRYPT_OPTIONS = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new VaultError('VAULT_KEY_FILE_INVALID', `master key must be 32 bytes, got ${key.length}`);
    this.#key = key;
  }

  static fromPassphrase(passphrase: string, salt: Buffer): SecretBox {
    return new SecretBox(scryptSync(passphrase.normalize('NFKC'), salt, 32, SCRYPT_OPTIONS));
  }

  /** @throws VaultError VAULT_KEY_FILE_INVALID when the file is unreadable or not 32 bytes of base64/hex. */
  static fromKeyFile(path: string): SecretBox {
    let text: string;
    try {
      text = readFileSync(path, 'utf8').trim();
    } catch (cause) {
      throw new VaultError('VAULT_KEY_FILE_INVALID', `cannot read vault key file ${path}: ${(cause as Error).message}`, {
        cause,
      });
    }
    const key = /^[0-9a-f]{64}$/i.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
    if (key.length !== 32) {
      throw new VaultError('VAULT_KEY_FILE_INVALID', `vault key file ${path} holds ${key.length} bytes; expected 32`);
    }
    return new SecretBox(key);
  }

  static generateKeyText(): string {
    return randomBytes(32).toString('base64');
  }

  /** Encrypts with a fresh nonce; `context` is bound as associated data so a ciphertext cannot be moved. */
  seal(plaintext: Buffer, context: string): Buffer {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([nonce, cipher.getAuthTag(), body]);
  }

  /** @throws VaultError VAULT_SECRET_CORRUPT when the tag does not verify (wrong key, tampering or a moved ciphertext). */
  open(sealed: Buffer, context: string): Buffer {
    try {
      const nonce = sealed.subarray(0, NONCE_BYTES);
      const tag = sealed.subarray(NONCE_BYTES, NONCE_BYTES + TAG_BYTES);
      const decipher = createDecipheriv('aes-256-gcm', this.#key, nonce);
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(sealed.subarray(NONCE_BYTES + TAG_BYTES)), decipher.final()]);
    } catch (cause) {
      throw new VaultError('VAULT_SECRET_CORRUPT', `secret "${context}" failed its integrity check`, { cause });
    }
  }
}
