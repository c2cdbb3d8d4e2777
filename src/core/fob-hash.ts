// Fob numbers never travel or rest in clear: whoever reads one turns it at once into a keyed hash
// (HMAC-SHA256 with the Vault's fob-hash-key) plus the last digits people recognise it by.
import { createHmac } from 'node:crypto';
import { CoreError } from './errors.js';

const FOB_PATTERN = /^\d{10}$/;
export const SHOWN_DIGITS = 3;

export interface HashedFob {
  hash: string;
  lastDigits: string;
}

/** @throws CoreError CORE_FOB_NUMBER_INVALID when it is not the 10 digits an EM4100 reader types. */
export function hashFob(fobNumber: string, key: Buffer): HashedFob {
  const digits = fobNumber.trim();
  if (!FOB_PATTERN.test(digits)) {
    throw new CoreError('CORE_FOB_NUMBER_INVALID', `a fob number is 10 digits, got ${digits.length} characters`);
  }
  return { hash: createHmac('sha256', key).update(digits).digest('hex'), lastDigits: digits.slice(-SHOWN_DIGITS) };
}
