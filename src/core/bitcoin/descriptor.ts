// Output descriptors: parse (or build from an xpub/ypub/zpub), write back, and derive scripts and addresses by index.
import { type HDKey } from '@scure/bip32';
import { hex } from '@scure/base';
import { p2ms, p2pkh, p2sh, p2tr, p2wpkh, p2wsh } from '@scure/btc-signer';
import { withDescriptorChecksum } from './descriptor-checksum.js';
import {
  HARDENED_OFFSET,
  parseDescriptorText,
  type DescriptorKey,
  type DescriptorScript,
  type KeyOrigin,
  type ParsedDescriptor,
} from './descriptor-parser.js';
import { BitcoinError, excerpt } from './errors.js';
import { looksLikeExtendedPrivateKey, parseExtendedPublicKey } from './extended-key.js';
import { type BitcoinNetwork } from './networks.js';

/** A key of one derived output and where it comes from, ready for a PSBT's bip32Derivation. */
export interface DerivedKeyOrigin extends KeyOrigin {
  /** The 33-byte compressed public key (for taproot, the x-only key is `pubkey.subarray(1)`). */
  readonly pubkey: Uint8Array;
}

export interface DerivedOutput {
  /** Which multipath chain: 0 receive, 1 change for `/<0;1>/*`; always 0 without a multipath step. */
  readonly chain: number;
  readonly index: number;
  /** The output script (scriptPubKey). */
  readonly script: Uint8Array;
  readonly scriptHex: string;
  readonly address: string;
  /** For sh(…): the script inside the P2SH. */
  readonly redeemScript?: Uint8Array;
  /** For wsh(…): the multisig script inside the P2WSH. */
  readonly witnessScript?: Uint8Array;
  /** For tr(…): the x-only internal key (before the BIP 86 tweak). */
  readonly taprootInternalKey?: Uint8Array;
  /** One per key, in the descriptor's key order. */
  readonly keyOrigins: readonly DerivedKeyOrigin[];
}

/** The script a plain xpub or tpub is read as in the shorthand; ypub/zpub/upub/vpub name their own. */
export type SingleKeyScript = 'pkh' | 'wpkh' | 'sh(wpkh)' | 'tr';

const MAX_INDEX = HARDENED_OFFSET - 1;
/** One deriveRange call runs synchronously; 100,000 wpkh addresses take about a minute on a small machine. */
const MAX_RANGE = 100_000;

function formatIndex(index: number): string {
  return index >= HARDENED_OFFSET ? `${index - HARDENED_OFFSET}h` : String(index);
}

/** `[d34db33f/48h/0h/0h/2h/0/5]`, the text form of a key origin. */
export function formatKeyOrigin(origin: KeyOrigin): string {
  const fingerprint = origin.fingerprint.toString(16).padStart(8, '0');
  return `[${[fingerprint, ...origin.path.map(formatIndex)].join('/')}]`;
}

function formatKey(key: DescriptorKey, chain: number | undefined): string {
  const origin = key.originWritten ? formatKeyOrigin(key.origin) : '';
  const steps = key.steps.map((step) => {
    if (typeof step === 'number') return `/${step}`;
    if (chain === undefined) return `/<${step.join(';')}>`;
    return `/${step[chain]}`;
  });
  return `${origin}${key.extendedKey.plainText}${steps.join('')}/*`;
}

/**
 * A parsed, ranged output descriptor on one network. Derivation caches each key's node at the chain level (the account
 * xpub's `/0` or `/1`), so deriving an address costs one public child derivation per key.
 */
export class OutputDescriptor {
  readonly script: DescriptorScript;
  readonly network: BitcoinNetwork;
  readonly keys: readonly DescriptorKey[];
  readonly threshold: number | undefined;
  readonly sortedKeys: boolean;
  readonly chainCount: number;
  /** The canonical text with checksum: plain xpub/tpub keys, `h` for hardened, multipath kept. */
  readonly text: string;
  private readonly chainNodes: Map<string, HDKey> = new Map();

  constructor(parsed: ParsedDescriptor, network: BitcoinNetwork) {
    this.script = parsed.script;
    this.network = network;
    this.keys = parsed.keys;
    this.threshold = parsed.threshold;
    this.sortedKeys = parsed.sortedKeys;
    this.chainCount = parsed.chainCount;
    this.text = withDescriptorChecksum(this.render(undefined));
  }

  /** The single-path descriptor of one chain (BIP 389 expansion), for wallets and nodes without multipath support. */
  chainDescriptor(chain: number): string {
    this.checkChain(chain);
    return withDescriptorChecksum(this.render(this.chainCount === 1 ? undefined : chain));
  }

  /**
   * The output at `index` of `chain`.
   * @throws BitcoinError BITCOIN_DERIVATION_INVALID for a chain or index out of range, or an invalid BIP 32 child.
   */
  derive(chain: number, index: number): DerivedOutput {
    this.checkChain(chain);
    if (!Number.isSafeInteger(index) || index < 0 || index > MAX_INDEX) {
      throw new BitcoinError('BITCOIN_DERIVATION_INVALID', `address index ${index} is not an integer from 0 to ${MAX_INDEX}`);
    }
    const keyOrigins = this.keys.map((key, keyIndex) => this.deriveKey(key, keyIndex, chain, index));
    return { chain, index, ...this.buildOutput(keyOrigins.map((origin) => origin.pubkey)), keyOrigins };
  }

  /**
   * Outputs `firstIndex` to `lastIndex` inclusive of `chain`, for a gap-limit scan.
   * @throws BitcoinError BITCOIN_DERIVATION_INVALID.
   */
  deriveRange(chain: number, firstIndex: number, lastIndex: number): DerivedOutput[] {
    const count = lastIndex - firstIndex + 1;
    if (!Number.isSafeInteger(firstIndex) || !Number.isSafeInteger(lastIndex) || count < 1 || count > MAX_RANGE) {
      throw new BitcoinError(
        'BITCOIN_DERIVATION_INVALID',
        `index range ${firstIndex}..${lastIndex} is not 1 to ${MAX_RANGE} indices (a larger scan goes in batches)`,
      );
    }
    const outputs: DerivedOutput[] = [];
    for (let index = firstIndex; index <= lastIndex; index++) outputs.push(this.derive(chain, index));
    return outputs;
  }

  toString(): string {
    return this.text;
  }

  private checkChain(chain: number): void {
    if (!Number.isInteger(chain) || chain < 0 || chain >= this.chainCount) {
      const chains =
        this.chainCount === 1 ? 'only chain 0 (write /<0;1>/* for receive and change)' : `chains 0 to ${this.chainCount - 1}`;
      throw new BitcoinError('BITCOIN_DERIVATION_INVALID', `chain ${chain} does not exist: this descriptor has ${chains}`);
    }
  }

  private chainPath(key: DescriptorKey, chain: number): number[] {
    return key.steps.map((step) => (typeof step === 'number' ? step : (step[chain] ?? step[0] ?? 0)));
  }

  private chainNode(key: DescriptorKey, keyIndex: number, chain: number): HDKey {
    const cacheKey = `${keyIndex}:${chain}`;
    let node = this.chainNodes.get(cacheKey);
    if (!node) {
      node = key.extendedKey.node;
      for (const step of this.chainPath(key, chain)) node = this.child(node, step);
      this.chainNodes.set(cacheKey, node);
    }
    return node;
  }

  private child(parent: HDKey, index: number): HDKey {
    const child = parent.deriveChild(index);
    // BIP 32 skips an index whose tweak is out of range (odds about 2^-127); scure-bip32 then silently returns the next
    // index, which would hand two members one address. Refuse instead.
    if (child.index !== index) {
      throw new BitcoinError('BITCOIN_DERIVATION_INVALID', `BIP 32 child ${index} is invalid for this key; skip this index`);
    }
    return child;
  }

  private deriveKey(key: DescriptorKey, keyIndex: number, chain: number, index: number): DerivedKeyOrigin {
    const pubkey = this.child(this.chainNode(key, keyIndex, chain), index).publicKey;
    if (!pubkey) throw new Error('unreachable: a derived public HDKey has a public key');
    return {
      fingerprint: key.origin.fingerprint,
      path: [...key.origin.path, ...this.chainPath(key, chain), index],
      pubkey,
    };
  }

  private buildOutput(pubkeys: Uint8Array[]): Omit<DerivedOutput, 'chain' | 'index' | 'keyOrigins'> {
    const network = this.network;
    const [firstKey] = pubkeys;
    if (!firstKey) throw new Error('unreachable: a descriptor has at least one key');
    switch (this.script) {
      case 'pkh':
        return withHex(p2pkh(firstKey, network));
      case 'wpkh':
        return withHex(p2wpkh(firstKey, network));
      case 'sh(wpkh)': {
        const nested = p2sh(p2wpkh(firstKey, network), network);
        return { ...withHex(nested), redeemScript: nested.redeemScript };
      }
      case 'tr': {
        const internalKey = firstKey.subarray(1);
        return { ...withHex(p2tr(internalKey, undefined, network)), taprootInternalKey: internalKey };
      }
      case 'wsh(multi)': {
        const witness = p2wsh(this.multisig(pubkeys), network);
        return { ...withHex(witness), witnessScript: witness.witnessScript };
      }
      case 'sh(wsh(multi))': {
        const witness = p2wsh(this.multisig(pubkeys), network);
        const nested = p2sh(witness, network);
        return { ...withHex(nested), redeemScript: nested.redeemScript, witnessScript: witness.witnessScript };
      }
    }
  }

  private multisig(pubkeys: Uint8Array[]): ReturnType<typeof p2ms> {
    const ordered = this.sortedKeys ? [...pubkeys].sort(compareBytes) : pubkeys;
    try {
      return p2ms(this.threshold ?? 1, ordered);
    } catch (cause) {
      throw new BitcoinError('BITCOIN_DERIVATION_INVALID', 'the multisig keys at this index are not distinct valid keys', {
        cause,
      });
    }
  }

  private render(chain: number | undefined): string {
    const keys = this.keys.map((key) => formatKey(key, chain));
    const multi = `${this.sortedKeys ? 'sortedmulti' : 'multi'}(${[String(this.threshold), ...keys].join(',')})`;
    switch (this.script) {
      case 'pkh':
      case 'wpkh':
      case 'tr':
        return `${this.script}(${keys.join(',')})`;
      case 'sh(wpkh)':
        return `sh(wpkh(${keys.join(',')}))`;
      case 'wsh(multi)':
        return `wsh(${multi})`;
      case 'sh(wsh(multi))':
        return `sh(wsh(${multi}))`;
    }
  }
}

function withHex(payment: { script: Uint8Array; address?: string }): { script: Uint8Array; scriptHex: string; address: string } {
  if (payment.address === undefined) throw new Error('unreachable: every supported script has an address');
  return { script: payment.script, scriptHex: hex.encode(payment.script), address: payment.address };
}

/** BIP 67: sort compressed public keys by their bytes. */
function compareBytes(left: Uint8Array, right: Uint8Array): number {
  const length = Math.min(left.length, right.length);
  for (let index = 0; index < length; index++) {
    const difference = (left[index] ?? 0) - (right[index] ?? 0);
    if (difference !== 0) return difference;
  }
  return left.length - right.length;
}

/**
 * The descriptor an extended public key alone stands for, with receive and change chains (`/<0;1>/*`):
 * zpub/vpub → `wpkh(KEY/<0;1>/*)`, ypub/upub → `sh(wpkh(KEY/<0;1>/*))`, xpub/tpub → `SCRIPT(KEY/<0;1>/*)` with the
 * script the caller names. The key is written with its plain xpub/tpub prefix and no origin.
 * @throws BitcoinError BITCOIN_XPUB_SCRIPT_UNKNOWN for an xpub/tpub without a script, or a multisig key (Ypub, Zpub…);
 *   BITCOIN_XPUB_SCRIPT_MISMATCH when `script` contradicts the prefix; and parseExtendedPublicKey's errors.
 */
export function descriptorFromExtendedKey(text: string, network: BitcoinNetwork, script?: SingleKeyScript): OutputDescriptor {
  const key = parseExtendedPublicKey(text, network);
  const implied = key.impliedScript;
  if (implied === 'wsh(multi)' || implied === 'sh(wsh(multi))') {
    throw new BitcoinError(
      'BITCOIN_XPUB_SCRIPT_UNKNOWN',
      `a ${key.prefix} is one cosigner of a multisig; write the whole ${implied} descriptor, e.g. wsh(sortedmulti(2,KEY1/<0;1>/*,KEY2/<0;1>/*))`,
    );
  }
  if (implied === 'any' && script === undefined) {
    throw new BitcoinError(
      'BITCOIN_XPUB_SCRIPT_UNKNOWN',
      `a plain ${key.prefix} does not say which addresses the wallet uses: write a descriptor such as ` +
        `wpkh(${key.prefix}…/<0;1>/*), export the wallet's zpub/ypub, or name the script (pkh, wpkh, sh(wpkh), tr)`,
    );
  }
  if (implied !== 'any' && script !== undefined && script !== implied) {
    throw new BitcoinError(
      'BITCOIN_XPUB_SCRIPT_MISMATCH',
      `a ${key.prefix} names ${implied} addresses, but ${script} was asked for; use the ${network.plainKeyPrefix} form for ${script}`,
    );
  }
  const chosen = implied === 'any' ? script : implied;
  const keyExpression = `${key.plainText}/<0;1>/*`;
  const descriptor = chosen === 'sh(wpkh)' ? `sh(wpkh(${keyExpression}))` : `${chosen}(${keyExpression})`;
  return new OutputDescriptor(parseDescriptorText(descriptor, network), network);
}

/**
 * Parse what an operator configures: an output descriptor, or the xpub/ypub/zpub shorthand (see
 * descriptorFromExtendedKey; `plainKeyScript` says how to read a plain xpub/tpub).
 * @throws BitcoinError any BITCOIN_DESCRIPTOR_*, BITCOIN_XPUB_* or BITCOIN_PRIVATE_KEY_REFUSED code.
 */
export function parseDescriptor(text: string, network: BitcoinNetwork, plainKeyScript?: SingleKeyScript): OutputDescriptor {
  const trimmed = text.trim();
  if (looksLikeExtendedPrivateKey(trimmed) || /^[1-9A-HJ-NP-Za-km-z]{100,}$/.test(trimmed)) {
    return descriptorFromExtendedKey(trimmed, network, plainKeyScript);
  }
  if (trimmed === '') throw new BitcoinError('BITCOIN_DESCRIPTOR_INVALID', 'descriptor is empty');
  if (!trimmed.includes('(')) {
    throw new BitcoinError(
      'BITCOIN_DESCRIPTOR_INVALID',
      `${excerpt(trimmed, 24)} is neither an output descriptor nor an extended public key`,
    );
  }
  return new OutputDescriptor(parseDescriptorText(trimmed, network), network);
}
