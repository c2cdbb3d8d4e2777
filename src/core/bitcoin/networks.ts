// The four bitcoin networks: address prefixes and extended-key version bytes, in the shape @scure/btc-signer takes.
import { type BTC_NETWORK } from '@scure/btc-signer/utils.js';
import { BitcoinError, excerpt } from './errors.js';

export const NETWORK_NAMES = ['mainnet', 'testnet', 'signet', 'regtest'] as const;
export type NetworkName = (typeof NETWORK_NAMES)[number];

/** The script an extended key's SLIP-132 prefix names; `any` for xpub/tpub, which name none. */
export type ImpliedScript = 'any' | 'sh(wpkh)' | 'wpkh' | 'sh(wsh(multi))' | 'wsh(multi)';

export type ExtendedKeyPrefix = 'xpub' | 'ypub' | 'zpub' | 'Ypub' | 'Zpub' | 'tpub' | 'upub' | 'vpub' | 'Upub' | 'Vpub';

/** One SLIP-132 registration: the 4-byte versions of the public and private serializations. */
export interface ExtendedKeyVersion {
  readonly prefix: ExtendedKeyPrefix;
  /** How the private form starts (xprv, zprv, …), for the refusal message. */
  readonly privatePrefix: string;
  readonly public: number;
  readonly private: number;
  readonly impliedScript: ImpliedScript;
}

/** A network: btc-signer's fields (bech32 hrp, base58 versions, wif) plus a name and its extended-key versions. */
export interface BitcoinNetwork extends BTC_NETWORK {
  readonly name: NetworkName;
  readonly extendedKeys: readonly ExtendedKeyVersion[];
  /** The prefix of plain BIP 32 keys on this network (xpub or tpub), used when writing descriptors. */
  readonly plainKeyPrefix: 'xpub' | 'tpub';
}

// SLIP-0132 (satoshilabs/slips slip-0132.md), "Registered HD version bytes", Bitcoin and Bitcoin Testnet rows.
const MAINNET_KEYS: readonly ExtendedKeyVersion[] = Object.freeze([
  { prefix: 'xpub', privatePrefix: 'xprv', public: 0x0488b21e, private: 0x0488ade4, impliedScript: 'any' },
  { prefix: 'ypub', privatePrefix: 'yprv', public: 0x049d7cb2, private: 0x049d7878, impliedScript: 'sh(wpkh)' },
  { prefix: 'zpub', privatePrefix: 'zprv', public: 0x04b24746, private: 0x04b2430c, impliedScript: 'wpkh' },
  { prefix: 'Ypub', privatePrefix: 'Yprv', public: 0x0295b43f, private: 0x0295b005, impliedScript: 'sh(wsh(multi))' },
  { prefix: 'Zpub', privatePrefix: 'Zprv', public: 0x02aa7ed3, private: 0x02aa7a99, impliedScript: 'wsh(multi)' },
]);

// Testnet, signet and regtest share one set of version bytes (Bitcoin Core's chainparams use tpub/tprv for all three).
const TEST_KEYS: readonly ExtendedKeyVersion[] = Object.freeze([
  { prefix: 'tpub', privatePrefix: 'tprv', public: 0x043587cf, private: 0x04358394, impliedScript: 'any' },
  { prefix: 'upub', privatePrefix: 'uprv', public: 0x044a5262, private: 0x044a4e28, impliedScript: 'sh(wpkh)' },
  { prefix: 'vpub', privatePrefix: 'vprv', public: 0x045f1cf6, private: 0x045f18bc, impliedScript: 'wpkh' },
  { prefix: 'Upub', privatePrefix: 'Uprv', public: 0x024289ef, private: 0x024285b5, impliedScript: 'sh(wsh(multi))' },
  { prefix: 'Vpub', privatePrefix: 'Vprv', public: 0x02575483, private: 0x02575048, impliedScript: 'wsh(multi)' },
]);

function network(fields: BitcoinNetwork): BitcoinNetwork {
  return Object.freeze(fields);
}

/**
 * Address prefixes from Bitcoin Core's chainparams: testnet and signet share every prefix (an address cannot say
 * which of the two it is for); regtest has its own bech32 hrp but testnet's base58 versions.
 */
export const NETWORKS: Readonly<Record<NetworkName, BitcoinNetwork>> = Object.freeze({
  mainnet: network({
    name: 'mainnet',
    bech32: 'bc',
    pubKeyHash: 0x00,
    scriptHash: 0x05,
    wif: 0x80,
    extendedKeys: MAINNET_KEYS,
    plainKeyPrefix: 'xpub',
  }),
  testnet: network({
    name: 'testnet',
    bech32: 'tb',
    pubKeyHash: 0x6f,
    scriptHash: 0xc4,
    wif: 0xef,
    extendedKeys: TEST_KEYS,
    plainKeyPrefix: 'tpub',
  }),
  signet: network({
    name: 'signet',
    bech32: 'tb',
    pubKeyHash: 0x6f,
    scriptHash: 0xc4,
    wif: 0xef,
    extendedKeys: TEST_KEYS,
    plainKeyPrefix: 'tpub',
  }),
  regtest: network({
    name: 'regtest',
    bech32: 'bcrt',
    pubKeyHash: 0x6f,
    scriptHash: 0xc4,
    wif: 0xef,
    extendedKeys: TEST_KEYS,
    plainKeyPrefix: 'tpub',
  }),
});

/**
 * The network called `name`.
 * @throws BitcoinError BITCOIN_NETWORK_UNKNOWN.
 */
export function networkByName(name: string): BitcoinNetwork {
  if (!(NETWORK_NAMES as readonly string[]).includes(name)) {
    throw new BitcoinError(
      'BITCOIN_NETWORK_UNKNOWN',
      `bitcoin network ${excerpt(name)} is not known: expected one of ${NETWORK_NAMES.join(', ')}`,
    );
  }
  return NETWORKS[name as NetworkName];
}

/** Every SLIP-132 version this code knows, on any network, with the networks that use it. */
export function findExtendedKeyVersion(
  version: number,
): { entry: ExtendedKeyVersion; isPrivate: boolean; networks: NetworkName[] } | undefined {
  for (const keys of [MAINNET_KEYS, TEST_KEYS]) {
    for (const entry of keys) {
      if (entry.public !== version && entry.private !== version) continue;
      const networks = NETWORK_NAMES.filter((name) => NETWORKS[name].extendedKeys === keys);
      return { entry, isPrivate: entry.private === version, networks };
    }
  }
  return undefined;
}

/** The private prefixes (xprv, tprv, zprv, …) of every network, to recognise a pasted private key by its first letters. */
export const PRIVATE_KEY_PREFIXES: readonly string[] = Object.freeze(
  [...MAINNET_KEYS, ...TEST_KEYS].map((entry) => entry.privatePrefix),
);
