// Bitcoin addresses: parse and check one for the configured network, and write the address of an output script.
import { bech32, bech32m, createBase58check, hex } from '@scure/base';
import { sha256 } from '@noble/hashes/sha2.js';
import { Address, OutScript, Script } from '@scure/btc-signer';
import { BitcoinError, excerpt } from './errors.js';
import { NETWORK_NAMES, NETWORKS, type BitcoinNetwork, type NetworkName } from './networks.js';

const base58check = createBase58check(sha256);
const BASE58 = /^[1-9A-HJ-NP-Za-km-z]+$/;
/** Some letters, the separator 1, then Bech32 characters: shaped like a segwit address of some prefix. */
const BECH32_SHAPE = /^[a-z]{1,83}1[02-9ac-hj-np-z]{6,}$/;
const SEGWIT_PREFIXES = [...new Set(NETWORK_NAMES.map((name) => `${NETWORKS[name].bech32}1`))];

function decodeOrUndefined(coder: typeof bech32, text: string): { prefix: string; words: number[] } | undefined {
  try {
    return coder.decode(text as `${string}1${string}`);
  } catch {
    return undefined;
  }
}

/** `witness-unknown` is a segwit version (or v1 length) not defined yet: valid per BIP 350, but spendable by anyone today. */
export type AddressType = 'pkh' | 'sh' | 'wpkh' | 'wsh' | 'tr' | 'witness-unknown';

export interface ParsedAddress {
  /** The address as given (bech32 addresses in lower case). */
  readonly address: string;
  readonly type: AddressType;
  readonly script: Uint8Array;
  readonly scriptHex: string;
}

function invalid(address: string, reason: string, cause?: unknown): BitcoinError {
  return new BitcoinError('BITCOIN_ADDRESS_INVALID', `${excerpt(address, 64)} is not a valid bitcoin address: ${reason}`, {
    cause,
  });
}

function wrongNetwork(address: string, owners: readonly NetworkName[], network: BitcoinNetwork): BitcoinError {
  return new BitcoinError(
    'BITCOIN_ADDRESS_WRONG_NETWORK',
    `${excerpt(address, 64)} is a ${owners.join('/')} address, but this server is on ${network.name}`,
  );
}

function networksWith(predicate: (network: BitcoinNetwork) => boolean): NetworkName[] {
  return NETWORK_NAMES.filter((name) => predicate(NETWORKS[name]));
}

function segwitScript(version: number, program: Uint8Array): Uint8Array {
  return Script.encode([version === 0 ? 'OP_0' : version, program]);
}

function parseSegwit(address: string, network: BitcoinNetwork): ParsedAddress {
  if (address !== address.toLowerCase() && address !== address.toUpperCase()) {
    throw invalid(address, 'it mixes upper and lower case');
  }
  const lower = address.toLowerCase();
  // BIP 350: version 0 uses the Bech32 checksum, versions 1 to 16 Bech32m; decoding both tells a typo from a mix-up.
  const asBech32 = decodeOrUndefined(bech32, lower);
  const asBech32m = decodeOrUndefined(bech32m, lower);
  const decoded = asBech32 ?? asBech32m;
  if (!decoded) throw invalid(address, 'bad checksum or characters (a typo?)');
  const [version, ...programWords] = decoded.words;
  if (version === undefined || version > 16) throw invalid(address, `witness version ${version ?? 'missing'} is not 0 to 16`);
  if ((version === 0) !== (asBech32 !== undefined)) {
    throw invalid(address, `witness version ${version} must use the ${version === 0 ? 'Bech32' : 'Bech32m'} checksum (BIP 350)`);
  }
  let program: Uint8Array;
  try {
    program = bech32.fromWords(programWords);
  } catch (cause) {
    throw invalid(address, 'its data has invalid padding', cause);
  }
  if (program.length < 2 || program.length > 40) throw invalid(address, `witness program of ${program.length} bytes (2 to 40)`);
  if (version === 0 && program.length !== 20 && program.length !== 32) {
    throw invalid(address, `a version 0 witness program is 20 or 32 bytes, not ${program.length}`);
  }
  if (decoded.prefix !== network.bech32) {
    const owners = networksWith((candidate) => candidate.bech32 === decoded.prefix);
    throw owners.length > 0 ? wrongNetwork(address, owners, network) : invalid(address, `unknown prefix ${decoded.prefix}1`);
  }
  const type: AddressType =
    version === 0 ? (program.length === 20 ? 'wpkh' : 'wsh') : version === 1 && program.length === 32 ? 'tr' : 'witness-unknown';
  const script = segwitScript(version, program);
  return { address: lower, type, script, scriptHex: hex.encode(script) };
}

function parseBase58(address: string, network: BitcoinNetwork): ParsedAddress {
  let payload: Uint8Array;
  try {
    payload = base58check.decode(address);
  } catch (cause) {
    throw invalid(address, 'bad base58 checksum (a typo?)', cause);
  }
  const [version] = payload;
  if (payload.length !== 21 || version === undefined) throw invalid(address, `it holds ${payload.length} bytes, expected 21`);
  const owners = networksWith((candidate) => candidate.pubKeyHash === version || candidate.scriptHash === version);
  if (owners.length === 0) throw invalid(address, `unknown version byte 0x${version.toString(16).padStart(2, '0')}`);
  if (version !== network.pubKeyHash && version !== network.scriptHash) throw wrongNetwork(address, owners, network);
  const decoded = Address(network).decode(address);
  const script = OutScript.encode(decoded);
  return { address, type: version === network.pubKeyHash ? 'pkh' : 'sh', script, scriptHex: hex.encode(script) };
}

/**
 * Parse an address for `network` into its output script. Segwit addresses follow BIP 173/350 (any case, not mixed);
 * testnet and signet share every address, and regtest shares testnet's base58 addresses (only bcrt1 is its own).
 * @throws BitcoinError BITCOIN_ADDRESS_INVALID (bad checksum, unknown format, bad witness program);
 *   BITCOIN_ADDRESS_WRONG_NETWORK (an address of another network).
 */
export function parseAddress(address: string, network: BitcoinNetwork): ParsedAddress {
  if (address.length < 14 || address.length > 90) throw invalid(address, `${address.length} characters (14 to 90)`);
  const lower = address.toLowerCase();
  if (SEGWIT_PREFIXES.some((prefix) => lower.startsWith(prefix))) return parseSegwit(address, network);
  if (BASE58.test(address)) return parseBase58(address, network);
  if (BECH32_SHAPE.test(lower)) return parseSegwit(address, network);
  throw invalid(address, 'unknown format (neither base58 nor bech32)');
}

/** Is `address` a valid address of `network`? */
export function isAddressFor(address: string, network: BitcoinNetwork): boolean {
  try {
    parseAddress(address, network);
    return true;
  } catch {
    return false;
  }
}

/**
 * The address of an output script on `network`.
 * @throws BitcoinError BITCOIN_SCRIPT_NO_ADDRESS for scripts without one (bare multisig, P2PK, OP_RETURN, non-standard).
 */
export function addressFromScript(script: Uint8Array, network: BitcoinNetwork): string {
  const decoded = decodeOutputScript(script);
  switch (decoded.type) {
    case 'pkh':
    case 'sh':
    case 'wpkh':
    case 'wsh':
    case 'tr':
      return Address(network).encode(decoded);
    default: {
      const witness = unknownWitnessProgram(script);
      if (witness) return bech32m.encode(network.bech32, [witness.version, ...bech32m.toWords(witness.program)]);
      throw new BitcoinError(
        'BITCOIN_SCRIPT_NO_ADDRESS',
        `output script ${excerpt(hex.encode(script), 40)} (${decoded.type}) has no address form`,
      );
    }
  }
}

function decodeOutputScript(script: Uint8Array) {
  try {
    return OutScript.decode(script);
  } catch (cause) {
    throw new BitcoinError('BITCOIN_SCRIPT_NO_ADDRESS', `output script ${excerpt(hex.encode(script), 40)} does not parse`, {
      cause,
    });
  }
}

/** BIP 141: a witness program is OP_1..OP_16 followed by one push of 2 to 40 bytes (version 0 is handled above). */
function unknownWitnessProgram(script: Uint8Array): { version: number; program: Uint8Array } | undefined {
  const [opcode, pushLength] = script;
  if (opcode === undefined || pushLength === undefined) return undefined;
  const isVersionOpcode = opcode >= 0x51 && opcode <= 0x60;
  if (!isVersionOpcode || pushLength < 2 || pushLength > 40 || script.length !== pushLength + 2) return undefined;
  return { version: opcode - 0x50, program: script.subarray(2) };
}
