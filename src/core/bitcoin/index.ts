// The public API of the shared bitcoin code: networks, extended public keys, output descriptors, derivation, addresses.
export { addressFromScript, isAddressFor, parseAddress, type AddressType, type ParsedAddress } from './address.js';
export { descriptorChecksum, verifyDescriptorChecksum, withDescriptorChecksum } from './descriptor-checksum.js';
export {
  HARDENED_OFFSET,
  type DerivationStep,
  type DescriptorKey,
  type DescriptorScript,
  type KeyOrigin,
} from './descriptor-parser.js';
export {
  descriptorFromExtendedKey,
  formatKeyOrigin,
  OutputDescriptor,
  parseDescriptor,
  type DerivedKeyOrigin,
  type DerivedOutput,
  type SingleKeyScript,
} from './descriptor.js';
export { BitcoinError, BitcoinErrorCodes, type BitcoinErrorCode } from './errors.js';
export { parseExtendedPublicKey, type ExtendedPublicKey } from './extended-key.js';
export {
  NETWORK_NAMES,
  NETWORKS,
  networkByName,
  type BitcoinNetwork,
  type ExtendedKeyPrefix,
  type ExtendedKeyVersion,
  type ImpliedScript,
  type NetworkName,
} from './networks.js';
