// Parses the output descriptors this code derives from (BIP 380-386, 389) into a plain description of scripts and keys.
import { createBase58check } from '@scure/base';
import { sha256 } from '@noble/hashes/sha2.js';
import { verifyDescriptorChecksum } from './descriptor-checksum.js';
import { BitcoinError, excerpt } from './errors.js';
import {
  looksLikeExtendedPrivateKey,
  parseExtendedPublicKey,
  privateKeyRefused,
  type ExtendedPublicKey,
} from './extended-key.js';
import { type BitcoinNetwork } from './networks.js';

const base58check = createBase58check(sha256);
export const HARDENED_OFFSET = 0x80000000;
/** BIP 383: at most 20 keys in a multisig that is not bare or in plain P2SH. */
const MAX_MULTISIG_KEYS = 20;
/** 20 keys with origins fit in about 3,500 characters; anything far longer is not a descriptor we could use. */
const MAX_DESCRIPTOR_LENGTH = 10_000;
/** sh(wsh(sortedmulti(…))) is the deepest supported shape; deeper nesting is refused before it can exhaust the stack. */
const MAX_NESTING = 3;

/** The output scripts a descriptor can describe here. */
export type DescriptorScript = 'pkh' | 'wpkh' | 'sh(wpkh)' | 'tr' | 'wsh(multi)' | 'sh(wsh(multi))';

/** Where a key comes from: the fingerprint of the key derivation starts at, and the steps from there (hardened ≥ 2^31). */
export interface KeyOrigin {
  readonly fingerprint: number;
  readonly path: readonly number[];
}

/** One step after the extended key: a child index, or a BIP 389 multipath tuple (one value per chain). */
export type DerivationStep = number | readonly number[];

export interface DescriptorKey {
  /** The origin as written in `[…]`, or the extended key's own fingerprint with an empty path when none was. */
  readonly origin: KeyOrigin;
  readonly originWritten: boolean;
  readonly extendedKey: ExtendedPublicKey;
  /** The steps between the extended key and the final `/*`; all unhardened. */
  readonly steps: readonly DerivationStep[];
}

export interface ParsedDescriptor {
  readonly script: DescriptorScript;
  readonly keys: readonly DescriptorKey[];
  /** Signatures needed, for the multisig scripts. */
  readonly threshold: number | undefined;
  /** sortedmulti (BIP 67 key order) rather than multi. */
  readonly sortedKeys: boolean;
  /** How many chains the multipath steps give (1 without any; 2 for `/<0;1>/*`). */
  readonly chainCount: number;
}

type Argument =
  | { readonly kind: 'call'; readonly call: Call }
  | { readonly kind: 'text'; readonly text: string; readonly position: number }
  | { readonly kind: 'tree'; readonly position: number };

interface Call {
  readonly name: string;
  readonly position: number;
  readonly args: readonly Argument[];
}

const SUPPORTED = 'pkh(KEY), wpkh(KEY), sh(wpkh(KEY)), tr(KEY), wsh(sortedmulti(k,KEY,…)), sh(wsh(sortedmulti(k,KEY,…)))';
const KNOWN_ELSEWHERE = new Set(['pk', 'combo', 'raw', 'addr', 'rawtr', 'multi_a', 'sortedmulti_a', 'musig']);

function invalid(message: string, position?: number): BitcoinError {
  const where = position === undefined ? '' : ` (at character ${position})`;
  return new BitcoinError('BITCOIN_DESCRIPTOR_INVALID', `descriptor: ${message}${where}`);
}

function unsupported(message: string): BitcoinError {
  return new BitcoinError('BITCOIN_DESCRIPTOR_UNSUPPORTED', `descriptor: ${message}; supported: ${SUPPORTED}`);
}

/** A recursive-descent reader of `name(arg,arg,…)` expressions; keys and numbers stay text for the next stage. */
class ExpressionReader {
  position = 0;
  constructor(private readonly source: string) {}

  readCall(depth = 1): Call {
    const start = this.position;
    if (depth > MAX_NESTING) throw invalid(`expressions nest deeper than ${MAX_NESTING} levels`, start);
    const name = /^[a-z_]+/i.exec(this.source.slice(start))?.[0];
    if (!name || this.source.charAt(start + name.length) !== '(') {
      throw invalid(`expected a script expression like wpkh(…), got ${excerpt(this.source.slice(start), 20)}`, start);
    }
    this.position = start + name.length + 1;
    const args: Argument[] = [];
    for (;;) {
      args.push(this.readArgument(depth));
      const separator = this.source.charAt(this.position);
      this.position++;
      if (separator === ')') return { name, position: start, args };
      if (separator !== ',') throw invalid(`${name}( is not closed with ')'`, this.position - 1);
    }
  }

  private readArgument(depth: number): Argument {
    const start = this.position;
    const rest = this.source.slice(start);
    if (rest.startsWith('{')) {
      this.skipBracedTree(start);
      return { kind: 'tree', position: start };
    }
    if (/^[a-z_]+\(/i.test(rest)) return { kind: 'call', call: this.readCall(depth + 1) };
    const length = /^[^,()]*/.exec(rest)?.[0].length ?? 0;
    this.position = start + length;
    return { kind: 'text', text: rest.slice(0, length), position: start };
  }

  /** A tr() script tree is refused later as unsupported; here it is only stepped over, braces balanced. */
  private skipBracedTree(start: number): void {
    let depth = 0;
    for (let index = start; index < this.source.length; index++) {
      const char = this.source.charAt(index);
      if (char === '{') depth++;
      if (char === '}') depth--;
      if (depth === 0) {
        this.position = index + 1;
        return;
      }
    }
    throw invalid("a script tree '{' is not closed with '}'", start);
  }

  atEnd(): boolean {
    return this.position >= this.source.length;
  }
}

function parseIndex(text: string, position: number, what: string): { value: number; hardened: boolean } {
  const match = /^(\d{1,10})([hH']?)$/.exec(text);
  const value = match ? Number(match[1]) : NaN;
  if (!match || value >= HARDENED_OFFSET) {
    throw invalid(`${what} ${excerpt(text, 16)} is not a child index (0 to 2147483647, then h or ' if hardened)`, position);
  }
  return { value, hardened: match[2] !== '' };
}

function parseOrigin(text: string, position: number): KeyOrigin {
  const [fingerprintText = '', ...stepTexts] = text.split('/');
  if (!/^[0-9a-fA-F]{8}$/.test(fingerprintText)) {
    throw invalid(`key origin fingerprint ${excerpt(fingerprintText, 16)} is not 8 hex characters`, position);
  }
  const path = stepTexts.map((stepText) => {
    if (stepText === '') throw invalid('key origin has an empty step (a trailing or doubled /)', position);
    const { value, hardened } = parseIndex(stepText, position, 'key origin step');
    return hardened ? value + HARDENED_OFFSET : value;
  });
  return { fingerprint: Number.parseInt(fingerprintText, 16), path };
}

function refuseNonExtendedKey(keyText: string): void {
  if (/^[0-9a-fA-F]+$/.test(keyText) && [64, 66, 130].includes(keyText.length)) {
    throw unsupported('a single public key gives one fixed address, not one per member; use an extended public key ending in /*');
  }
  let decoded: Uint8Array | undefined;
  try {
    decoded = base58check.decode(keyText);
  } catch {
    decoded = undefined;
  }
  if (decoded && (decoded.length === 33 || decoded.length === 34) && (decoded[0] === 0x80 || decoded[0] === 0xef)) {
    throw new BitcoinError(
      'BITCOIN_PRIVATE_KEY_REFUSED',
      'the descriptor holds a private key (WIF); no private key belongs on the server: export a watch-only descriptor ' +
        'from the wallet, and treat the pasted key as exposed',
    );
  }
}

function parseSteps(stepTexts: readonly string[], position: number): DerivationStep[] {
  const steps: DerivationStep[] = [];
  let sawMultipath = false;
  for (const [index, stepText] of stepTexts.entries()) {
    const isLast = index === stepTexts.length - 1;
    if (stepText === '') throw invalid('a derivation step is empty (a trailing or doubled /)', position);
    if (/^\*[hH']$/.test(stepText)) {
      throw new BitcoinError(
        'BITCOIN_DESCRIPTOR_HARDENED_STEP',
        `descriptor: the wildcard ${excerpt(stepText)} asks for hardened children, which need the private key; use /*`,
      );
    }
    if (stepText === '*') {
      if (!isLast) throw invalid('the /* wildcard must be the last step of a key', position);
      return steps;
    }
    if (stepText.startsWith('<')) {
      if (sawMultipath) throw invalid('a key may have only one /<…;…> multipath step (BIP 389)', position);
      sawMultipath = true;
      steps.push(parseMultipath(stepText, position));
      continue;
    }
    const { value, hardened } = parseIndex(stepText, position, 'derivation step');
    if (hardened) throw hardenedStep(stepText);
    steps.push(value);
  }
  throw new BitcoinError(
    'BITCOIN_DESCRIPTOR_NOT_RANGED',
    'descriptor: a key does not end in /*, so it gives one address, not a range; end it with /* or /<0;1>/*',
  );
}

function hardenedStep(stepText: string): BitcoinError {
  return new BitcoinError(
    'BITCOIN_DESCRIPTOR_HARDENED_STEP',
    `descriptor: step ${excerpt(stepText)} after the extended public key is hardened, which needs the private key; ` +
      'export the xpub at the last hardened level (with its [fingerprint/path] origin) instead',
  );
}

function parseMultipath(stepText: string, position: number): readonly number[] {
  if (!stepText.endsWith('>')) throw invalid(`multipath step ${excerpt(stepText, 16)} is not closed with '>'`, position);
  const valueTexts = stepText.slice(1, -1).split(';');
  if (valueTexts.length < 2) throw invalid('a multipath step needs at least two values, like <0;1>', position);
  const values = valueTexts.map((valueText) => {
    if (valueText === '') throw invalid('a multipath step has an empty value', position);
    const { value, hardened } = parseIndex(valueText, position, 'multipath value');
    if (hardened) throw hardenedStep(valueText);
    return value;
  });
  if (new Set(values).size !== values.length) throw invalid('a multipath step repeats a value (BIP 389)', position);
  return values;
}

function parseKey(argument: Argument, network: BitcoinNetwork, owner: string): DescriptorKey {
  if (argument.kind !== 'text') {
    throw invalid(
      `${owner}() takes a key here, not a script expression`,
      argument.kind === 'call' ? argument.call.position : argument.position,
    );
  }
  const { text, position } = argument;
  let rest = text;
  let origin: KeyOrigin | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw invalid("key origin '[' is not closed with ']'", position);
    origin = parseOrigin(rest.slice(1, close), position);
    rest = rest.slice(close + 1);
  }
  if (rest.includes('[') || rest.includes(']')) throw invalid('a key has more than one [origin] or a stray bracket', position);
  const [keyText = '', ...stepTexts] = rest.split('/');
  if (keyText === '') throw invalid('a key expression has no key', position);
  if (looksLikeExtendedPrivateKey(keyText)) throw privateKeyRefused(keyText.slice(0, 4));
  refuseNonExtendedKey(keyText);
  const extendedKey = parseExtendedPublicKey(keyText, network);
  const steps = parseSteps(stepTexts, position);
  return {
    origin: origin ?? { fingerprint: extendedKey.fingerprint, path: [] },
    originWritten: origin !== undefined,
    extendedKey,
    steps,
  };
}

function parseThreshold(argument: Argument | undefined, keyCount: number, position: number): number {
  if (argument?.kind !== 'text' || !/^\d{1,2}$/.test(argument.text)) {
    throw invalid('a multisig starts with its threshold, a number like 2', position);
  }
  const threshold = Number(argument.text);
  if (threshold < 1 || threshold > keyCount) {
    throw invalid(`multisig threshold ${threshold} is not between 1 and the number of keys (${keyCount})`, argument.position);
  }
  return threshold;
}

function onlyArgument(call: Call): Argument {
  const [argument] = call.args;
  if (call.args.length !== 1 || argument === undefined) throw invalid(`${call.name}() takes exactly one argument`, call.position);
  return argument;
}

function innerCall(call: Call): Call {
  const argument = onlyArgument(call);
  if (argument.kind !== 'call') throw invalid(`${call.name}() takes a script expression, not a key`, call.position);
  return argument.call;
}

interface Shape {
  script: DescriptorScript;
  keyArguments: readonly Argument[];
  keyOwner: string;
  threshold?: number;
  sortedKeys?: boolean;
}

function multisigShape(call: Call, script: 'wsh(multi)' | 'sh(wsh(multi))'): Shape {
  if (call.name !== 'multi' && call.name !== 'sortedmulti') {
    if (['wpkh', 'wsh', 'sh', 'tr'].includes(call.name)) throw invalid(`${call.name}() cannot be inside wsh()`, call.position);
    throw unsupported(`wsh(${call.name}(…)) is not derived here`);
  }
  const keyArguments = call.args.slice(1);
  if (keyArguments.length > MAX_MULTISIG_KEYS) {
    throw invalid(`a multisig has ${keyArguments.length} keys; at most ${MAX_MULTISIG_KEYS}`, call.position);
  }
  const threshold = parseThreshold(call.args[0], keyArguments.length, call.position);
  return { script, keyArguments, keyOwner: call.name, threshold, sortedKeys: call.name === 'sortedmulti' };
}

/** Which of the supported shapes the expression tree is; every other shape is refused here, before any key is parsed. */
function shapeOf(top: Call): Shape {
  switch (top.name) {
    case 'pkh':
    case 'wpkh':
      return { script: top.name, keyArguments: [onlyArgument(top)], keyOwner: top.name };
    case 'tr': {
      const [key, tree] = top.args;
      if (tree !== undefined || key === undefined)
        throw unsupported('tr() with a script tree; only the key path tr(KEY) is derived here');
      return { script: 'tr', keyArguments: [key], keyOwner: 'tr' };
    }
    case 'wsh':
      return multisigShape(innerCall(top), 'wsh(multi)');
    case 'sh': {
      const inner = innerCall(top);
      if (inner.name === 'wpkh') return { script: 'sh(wpkh)', keyArguments: [onlyArgument(inner)], keyOwner: 'wpkh' };
      if (inner.name === 'wsh') return multisigShape(innerCall(inner), 'sh(wsh(multi))');
      if (inner.name === 'sh' || inner.name === 'tr')
        throw invalid(`${inner.name}() must be the outermost expression`, inner.position);
      throw unsupported(`sh(${inner.name}(…)) is not derived here`);
    }
    case 'multi':
    case 'sortedmulti':
      throw unsupported('bare multisig (no wsh) has no address');
    default:
      if (KNOWN_ELSEWHERE.has(top.name)) throw unsupported(`${top.name}() is not derived here`);
      throw unsupported(`${top.name.slice(0, 20)}() is not a descriptor function`);
  }
}

function chainCountOf(keys: readonly DescriptorKey[]): number {
  const lengths = new Set(keys.flatMap((key) => key.steps.filter((step) => typeof step !== 'number').map((step) => step.length)));
  if (lengths.size > 1) throw invalid('the multipath steps of the keys have different lengths (BIP 389 needs the same)');
  return [...lengths][0] ?? 1;
}

function keyIdentity(key: DescriptorKey): string {
  return `${key.extendedKey.plainText}/${JSON.stringify(key.steps)}`;
}

/**
 * Parse an output descriptor for `network`. The `#checksum` is optional and verified when present.
 * @throws BitcoinError BITCOIN_DESCRIPTOR_INVALID, BITCOIN_DESCRIPTOR_CHECKSUM, BITCOIN_DESCRIPTOR_UNSUPPORTED,
 *   BITCOIN_DESCRIPTOR_NOT_RANGED, BITCOIN_DESCRIPTOR_HARDENED_STEP, BITCOIN_PRIVATE_KEY_REFUSED, BITCOIN_XPUB_INVALID,
 *   BITCOIN_XPUB_WRONG_NETWORK, BITCOIN_XPUB_SCRIPT_MISMATCH.
 */
export function parseDescriptorText(text: string, network: BitcoinNetwork): ParsedDescriptor {
  if (text.length > MAX_DESCRIPTOR_LENGTH) {
    throw invalid(`${text.length} characters long; at most ${MAX_DESCRIPTOR_LENGTH}`);
  }
  // A private key is refused before the checksum, so its message is the one the operator sees.
  const privateToken = /(?:^|[[\](,/])([xyztuvYZUV]prv[1-9A-HJ-NP-Za-km-z]{20,})/.exec(text)?.[1];
  if (privateToken !== undefined) throw privateKeyRefused(privateToken.slice(0, 4));
  const body = verifyDescriptorChecksum(text);
  const reader = new ExpressionReader(body);
  const top = reader.readCall();
  if (!reader.atEnd())
    throw invalid(`unexpected text after the descriptor: ${excerpt(body.slice(reader.position), 20)}`, reader.position);
  const shape = shapeOf(top);
  const keys = shape.keyArguments.map((argument) => parseKey(argument, network, shape.keyOwner));
  for (const key of keys) {
    const implied = key.extendedKey.impliedScript;
    if (implied !== 'any' && implied !== shape.script) {
      throw new BitcoinError(
        'BITCOIN_XPUB_SCRIPT_MISMATCH',
        `descriptor: a ${key.extendedKey.prefix} names ${implied} addresses but the descriptor is ${shape.script}; ` +
          `write the key as its ${network.plainKeyPrefix} or use the script its prefix names`,
      );
    }
  }
  if (new Set(keys.map(keyIdentity)).size !== keys.length) throw invalid('the same key and path appear twice in the multisig');
  return {
    script: shape.script,
    keys,
    threshold: shape.threshold,
    sortedKeys: shape.sortedKeys ?? false,
    chainCount: chainCountOf(keys),
  };
}
