// Extended public keys (BIP 32 with SLIP-132 prefixes): parse, check the network, refuse private keys.
import { HDKey } from '@scure/bip32';
import { createBase58check } from '@scure/base';
import { sha256 } from '@noble/hashes/sha2.js';
import { BitcoinError, excerpt } from './errors.js';
import {
  findExtendedKeyVersion,
  PRIVATE_KEY_PREFIXES,
  type BitcoinNetwork,
  type ExtendedKeyPrefix,
  type ImpliedScript,
} from './networks.js';

const base58check = createBase58check(sha256);
const SERIALIZED_LENGTH = 78;

/** A parsed extended public key. It holds public data only; `node` cannot derive hardened children. */
export interface ExtendedPublicKey {
  /** The key as given (with its SLIP-132 prefix). */
  readonly text: string;
  readonly prefix: ExtendedKeyPrefix;
  readonly impliedScript: ImpliedScript;
  /** The same key with the network's plain prefix (xpub or tpub), as descriptors and Bitcoin Core want it. */
  readonly plainText: string;
  readonly depth: number;
  /** The index this key has under its parent (≥ 2^31 when hardened). */
  readonly childIndex: number;
  readonly parentFingerprint: number;
  /** This key's own fingerprint: the first 4 bytes of HASH160 of its public key, as a uint32. */
  readonly fingerprint: number;
  /** The 33-byte compressed public key. */
  readonly publicKey: Uint8Array;
  readonly node: HDKey;
}

/** Does this text start like a serialized private key (xprv, tprv, zprv, …)? Checked before anything else. */
export function looksLikeExtendedPrivateKey(text: string): boolean {
  return PRIVATE_KEY_PREFIXES.some((prefix) => text.startsWith(prefix));
}

/** The refusal of a private key, naming only its prefix (the key itself is never echoed). */
export function privateKeyRefused(prefix: string): BitcoinError {
  return new BitcoinError(
    'BITCOIN_PRIVATE_KEY_REFUSED',
    `a private extended key (${prefix}…) was given; no private key belongs on the server: export the account's ` +
      'public key (xpub/ypub/zpub/tpub…) or a watch-only descriptor from the wallet, and treat the pasted key as exposed',
  );
}

/**
 * Parse an extended public key for `network`. Accepts the plain prefix (xpub, tpub) and the SLIP-132 ones (ypub,
 * zpub, Ypub, Zpub; upub, vpub, Upub, Vpub); the prefix's script is kept in `impliedScript`.
 * @throws BitcoinError BITCOIN_PRIVATE_KEY_REFUSED for xprv, tprv, zprv… (the key itself is never echoed);
 *   BITCOIN_XPUB_WRONG_NETWORK for a key of another network; BITCOIN_XPUB_INVALID for anything else that is not a
 *   well-formed extended public key (BIP 32 test vector 5).
 */
export function parseExtendedPublicKey(text: string, network: BitcoinNetwork): ExtendedPublicKey {
  if (looksLikeExtendedPrivateKey(text)) throw privateKeyRefused(text.slice(0, 4));
  let bytes: Uint8Array;
  try {
    bytes = base58check.decode(text);
  } catch (cause) {
    throw new BitcoinError(
      'BITCOIN_XPUB_INVALID',
      `${excerpt(text, 24)} is not an extended public key: not base58 or a bad checksum (a typo?); copy it again from the wallet`,
      { cause },
    );
  }
  if (bytes.length !== SERIALIZED_LENGTH) {
    throw new BitcoinError(
      'BITCOIN_XPUB_INVALID',
      `${excerpt(text, 24)} is not an extended public key: it holds ${bytes.length} bytes, expected ${SERIALIZED_LENGTH}`,
    );
  }
  const version = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, false);
  const known = findExtendedKeyVersion(version);
  if (!known) {
    throw new BitcoinError(
      'BITCOIN_XPUB_INVALID',
      `${excerpt(text, 24)} has unknown version bytes 0x${version.toString(16).padStart(8, '0')}: expected an xpub, ypub, zpub, tpub, upub or vpub`,
    );
  }
  if (known.isPrivate) throw privateKeyRefused(known.entry.privatePrefix);
  if (!known.networks.includes(network.name)) {
    throw new BitcoinError(
      'BITCOIN_XPUB_WRONG_NETWORK',
      `a ${known.entry.prefix} is a key for ${known.networks.join('/')}, but this server is on ${network.name}: ` +
        `export the ${network.name} key (${network.plainKeyPrefix}…) from the wallet, or fix the network setting`,
    );
  }
  // BIP 32 "Serialization format": the key part of a public serialization is a 33-byte compressed point.
  const keyTypeByte = bytes[45];
  if (keyTypeByte !== 0x02 && keyTypeByte !== 0x03) {
    throw new BitcoinError(
      'BITCOIN_XPUB_INVALID',
      `${excerpt(text, 24)} is not a valid extended public key: its key does not start with 02 or 03`,
    );
  }
  let node: HDKey;
  try {
    node = HDKey.fromExtendedKey(text, { public: known.entry.public, private: known.entry.private });
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new BitcoinError('BITCOIN_XPUB_INVALID', `${excerpt(text, 24)} is not a valid extended public key: ${reason}`, {
      cause,
    });
  }
  const publicKey = node.publicKey;
  const chainCode = node.chainCode;
  const plainVersion = network.extendedKeys.find((entry) => entry.prefix === network.plainKeyPrefix);
  if (!publicKey || !chainCode || !plainVersion) throw new Error('unreachable: a parsed public HDKey has a key and chain code');
  // The same key under the plain version, so every later serialization (descriptors for Bitcoin Core) is an xpub/tpub.
  const plain = new HDKey({
    versions: { public: plainVersion.public, private: plainVersion.private },
    depth: node.depth,
    index: node.index,
    parentFingerprint: node.parentFingerprint,
    chainCode,
    publicKey,
  });
  return Object.freeze({
    text,
    prefix: known.entry.prefix,
    impliedScript: known.entry.impliedScript,
    plainText: plain.publicExtendedKey,
    depth: node.depth,
    childIndex: node.index,
    parentFingerprint: node.parentFingerprint,
    fingerprint: node.fingerprint,
    publicKey,
    node: plain,
  });
}
