// Error codes of the shared bitcoin key, descriptor and address code (src/core/bitcoin).
import { errorClass } from '../errors.js';

/** Bitcoin key, descriptor and address codes; each meaning says how to fix it. */
export const BitcoinErrorCodes = {
  BITCOIN_NETWORK_UNKNOWN: 'The bitcoin network is not one of mainnet, testnet, signet or regtest.',
  BITCOIN_XPUB_INVALID:
    'An extended public key is not valid: bad base58 checksum, wrong length, unknown version, or a public key that is not on the curve. Copy it again from the wallet.',
  BITCOIN_XPUB_WRONG_NETWORK:
    'An extended public key is for another network (a tpub/upub/vpub on mainnet, an xpub/ypub/zpub on a test network). Export the key for the configured network, or fix the network.',
  BITCOIN_XPUB_SCRIPT_UNKNOWN:
    'An xpub or tpub alone does not say which addresses the wallet uses. Write a descriptor (wpkh(xpub…/<0;1>/*)) or name the script type.',
  BITCOIN_XPUB_SCRIPT_MISMATCH:
    'A SLIP-132 key (ypub, zpub, Zpub, …) names one script type and the descriptor or caller asks for another. Use the xpub form of the key, or the script the prefix names.',
  BITCOIN_PRIVATE_KEY_REFUSED:
    'A private key (xprv, tprv, zprv, WIF, …) was given. No private key belongs on the server: export the watch-only xpub or descriptor from the wallet instead, and treat the pasted key as exposed.',
  BITCOIN_DESCRIPTOR_INVALID:
    'An output descriptor does not parse: the message names the position and what was expected (BIP 380 syntax).',
  BITCOIN_DESCRIPTOR_CHECKSUM:
    'The #checksum of an output descriptor is missing characters or does not match the descriptor (a typo). Copy the descriptor again, or leave the checksum off.',
  BITCOIN_DESCRIPTOR_UNSUPPORTED:
    'The descriptor uses a script this code does not derive. Supported: pkh, wpkh, sh(wpkh), tr (key path only), wsh(multi|sortedmulti), sh(wsh(multi|sortedmulti)), each with extended public keys.',
  BITCOIN_DESCRIPTOR_NOT_RANGED:
    'A descriptor key has no /* wildcard, so it gives a single address. Deposit addresses need a range: end each key with /* (or /<0;1>/* for receive and change).',
  BITCOIN_DESCRIPTOR_HARDENED_STEP:
    "A descriptor asks for a hardened step (…h or …') after an extended public key; hardened children need the private key. Export the xpub at the last hardened level instead.",
  BITCOIN_DERIVATION_INVALID:
    'A derivation asked for a chain the descriptor does not have, an index outside 0..2^31-1 or a range of more than 100,000 indices (derive in batches), or hit the (astronomically rare) invalid BIP 32 child.',
  BITCOIN_ADDRESS_INVALID:
    'A bitcoin address is not valid: bad checksum, unknown format, or a witness program of the wrong length. Copy it again.',
  BITCOIN_ADDRESS_WRONG_NETWORK:
    'A bitcoin address is for another network (a mainnet address on testnet, a tb1 address on regtest, …). Use an address of the configured network.',
  BITCOIN_SCRIPT_NO_ADDRESS: 'An output script has no address form (bare multisig, pay-to-pubkey, OP_RETURN or non-standard).',
} as const;

export type BitcoinErrorCode = keyof typeof BitcoinErrorCodes;

export const BitcoinError = errorClass('BitcoinError', BitcoinErrorCodes);
export type BitcoinError = InstanceType<typeof BitcoinError>;

/** Quote user input in a message without echoing all of a long string. */
export function excerpt(text: string, maxChars = 40): string {
  const shown = text.length > maxChars ? `${text.slice(0, maxChars - 1)}…` : text;
  return JSON.stringify(shown);
}
