// The BIP 380 descriptor checksum: 8 characters after '#', a BCH code over the descriptor's characters.
import { BitcoinError, excerpt } from './errors.js';

// BIP 380 "Character Set", in this exact order: three groups of 32 so that case errors and errors within the common
// characters (hex, key paths) each count as one symbol error.
const INPUT_CHARSET = '0123456789()[],\'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#"\\ ';
const CHECKSUM_CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GENERATOR = [0xf5dee51989n, 0xa9fdca3312n, 0x1bab10e32dn, 0x3706b1677an, 0x644d626ffdn];
const CHECKSUM_LENGTH = 8;

function polymod(symbols: readonly number[]): bigint {
  let checksum = 1n;
  for (const value of symbols) {
    const top = checksum >> 35n;
    checksum = ((checksum & 0x7ffffffffn) << 5n) ^ BigInt(value);
    for (let bit = 0; bit < 5; bit++) {
      if ((top >> BigInt(bit)) & 1n) checksum ^= GENERATOR[bit] ?? 0n;
    }
  }
  return checksum;
}

/** BIP 380 descsum_expand: each character's position in its group, and after every third a symbol for the groups. */
function expand(descriptor: string): number[] {
  const symbols: number[] = [];
  const groups: number[] = [];
  for (let position = 0; position < descriptor.length; position++) {
    const value = INPUT_CHARSET.indexOf(descriptor.charAt(position));
    if (value < 0) {
      throw new BitcoinError(
        'BITCOIN_DESCRIPTOR_INVALID',
        `descriptor has a character outside the descriptor character set at position ${position}: ${excerpt(descriptor.charAt(position))}`,
      );
    }
    symbols.push(value & 31);
    groups.push(value >> 5);
    if (groups.length === 3) {
      symbols.push((groups[0] ?? 0) * 9 + (groups[1] ?? 0) * 3 + (groups[2] ?? 0));
      groups.length = 0;
    }
  }
  if (groups.length === 1) symbols.push(groups[0] ?? 0);
  if (groups.length === 2) symbols.push((groups[0] ?? 0) * 3 + (groups[1] ?? 0));
  return symbols;
}

/**
 * The 8-character BIP 380 checksum of a descriptor written without one (`wpkh(…)` → `"8zl0zxma"`).
 * @throws BitcoinError BITCOIN_DESCRIPTOR_INVALID for a character outside the descriptor character set.
 */
export function descriptorChecksum(descriptor: string): string {
  const value = polymod([...expand(descriptor), 0, 0, 0, 0, 0, 0, 0, 0]) ^ 1n;
  let checksum = '';
  for (let index = 0; index < CHECKSUM_LENGTH; index++) {
    checksum += CHECKSUM_CHARSET.charAt(Number((value >> BigInt(5 * (7 - index))) & 31n));
  }
  return checksum;
}

/** `descriptor#checksum`. */
export function withDescriptorChecksum(descriptor: string): string {
  return `${descriptor}#${descriptorChecksum(descriptor)}`;
}

/**
 * Split `SCRIPT#CHECKSUM` and verify the checksum when there is one (it is optional, BIP 380).
 * @returns the descriptor without its checksum.
 * @throws BitcoinError BITCOIN_DESCRIPTOR_CHECKSUM for a checksum of the wrong length, a second '#', or one that does
 *   not match; BITCOIN_DESCRIPTOR_INVALID for a character outside the descriptor character set.
 */
export function verifyDescriptorChecksum(text: string): string {
  const parts = text.split('#');
  const [script, given] = parts;
  if (script === undefined) throw new Error('unreachable: split returns at least one part');
  if (parts.length > 2) {
    throw new BitcoinError('BITCOIN_DESCRIPTOR_CHECKSUM', `descriptor has ${parts.length - 1} '#' marks; at most one checksum`);
  }
  const computed = descriptorChecksum(script);
  if (given === undefined) return script;
  if (given.length !== CHECKSUM_LENGTH) {
    throw new BitcoinError(
      'BITCOIN_DESCRIPTOR_CHECKSUM',
      `descriptor checksum ${excerpt(given, 12)} has ${given.length} characters, expected ${CHECKSUM_LENGTH} after '#'`,
    );
  }
  if (given !== computed) {
    throw new BitcoinError(
      'BITCOIN_DESCRIPTOR_CHECKSUM',
      `descriptor checksum ${excerpt(given, 12)} does not match the descriptor (a typo in it?): copy the descriptor again`,
    );
  }
  return script;
}
