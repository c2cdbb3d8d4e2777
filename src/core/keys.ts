// Ed25519 keys: generation, raw public-key export, signing and verification (node:crypto, OpenSSL).
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';

export interface SigningKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** The raw 32-byte public key, base64url: how keys travel in the directory. */
  readonly publicKeyB64: string;
}

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function generateSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, publicKeyB64: exportPublicKey(publicKey) };
}

export function exportPublicKey(publicKey: KeyObject): string {
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return spki.subarray(SPKI_ED25519_PREFIX.length).toString('base64url');
}

/** @throws Error when the text is not a 32-byte base64url Ed25519 public key. */
export function importPublicKey(publicKeyB64: string): KeyObject {
  const raw = Buffer.from(publicKeyB64, 'base64url');
  if (raw.length !== 32) throw new Error(`an Ed25519 public key is 32 bytes, got ${raw.length}`);
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

export function exportPrivateKeyPem(key: SigningKey): string {
  return key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** @throws Error when the PEM is not an Ed25519 private key. */
export function importPrivateKeyPem(pem: string): SigningKey {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new Error(`expected an Ed25519 private key, got ${privateKey.asymmetricKeyType ?? 'unknown'}`);
  }
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, publicKeyB64: exportPublicKey(publicKey) };
}

export function signBytes(key: SigningKey, bytes: Uint8Array): string {
  return sign(null, bytes, key.privateKey).toString('base64url');
}

export function verifyBytes(publicKey: KeyObject, bytes: Uint8Array, signatureB64: string): boolean {
  const signature = Buffer.from(signatureB64, 'base64url');
  if (signature.length !== 64) return false;
  return verify(null, bytes, publicKey, signature);
}
