// The fob-hash-key on the device: fetched from the Vault, kept in the device's data folder (mode 0600) so a device
// that boots while the hub is down can still hash fobs and decide offline.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MachineNotifierError } from './errors.js';

export const FOB_KEY_SECRET = 'fob-hash-key';
const MIN_KEY_BYTES = 16;
const OWNER_ONLY = 0o600;

export function fobKeyPath(dataDir: string, device: string): string {
  return join(dataDir, `device-${device}.fob-key`);
}

/** @throws MachineNotifierError MACHINE_NOTIFIER_FOB_KEY_UNAVAILABLE when the value is not base64url of 16+ bytes. */
export function decodeFobKey(value: string): Buffer {
  const text = value.trim();
  const key = Buffer.from(text, 'base64url');
  if (!/^[A-Za-z0-9_-]+$/.test(text) || key.length < MIN_KEY_BYTES) {
    throw new MachineNotifierError(
      'MACHINE_NOTIFIER_FOB_KEY_UNAVAILABLE',
      `the fob-hash-key is base64url of at least ${MIN_KEY_BYTES} bytes, got ${text.length} characters (${key.length} bytes)`,
    );
  }
  return key;
}

/**
 * The cached key, or undefined when none was cached yet. A file others could read is made owner-only again.
 * @throws MachineNotifierError MACHINE_NOTIFIER_FOB_KEY_CACHE_INVALID when the file is unreadable or holds no key.
 */
export function loadCachedFobKey(path: string): { key: Buffer; loosened: boolean } | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const loosened = (statSync(path).mode & 0o077) !== 0;
    if (loosened) chmodSync(path, OWNER_ONLY);
    return { key: decodeFobKey(readFileSync(path, 'utf8')), loosened };
  } catch (cause) {
    throw new MachineNotifierError(
      'MACHINE_NOTIFIER_FOB_KEY_CACHE_INVALID',
      `${path}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
}

/** Writes the key owner-only, through a temporary file so a crash never leaves half a key. */
export function saveFobKey(path: string, key: Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${key.toString('base64url')}\n`, { mode: OWNER_ONLY });
  // The mode given to writeFileSync is filtered by the umask and ignored for an existing file.
  chmodSync(temporary, OWNER_ONLY);
  renameSync(temporary, path);
}
