// PSBTs (BIP 174) for payouts from the wsh(multi) wallet: build, check a co-signer's copy, combine, finalize.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { base64, hex } from '@scure/base';
import { OutScript, Script, Transaction, type TxOpts } from '@scure/btc-signer';
import { RawPSBTV0 } from '@scure/btc-signer/psbt.js';
import {
  addressFromScript,
  type BitcoinNetwork,
  type DerivedOutput,
  type DescriptorKey,
  type OutputDescriptor,
} from '../core/bitcoin/index.js';
import { dustThreshold, selectCoins, type MultisigShape, type SpendableCoin } from './coin-selection.js';
import { PayoutMgrError } from './errors.js';

export { dustThreshold, estimateVsize, type SpendableCoin } from './coin-selection.js';

export interface PayoutOutputSpec {
  script: Uint8Array;
  sats: number;
  address: string;
}

export interface BuildRequest {
  /** The wallet (chainCount 2), for key origins and global xpubs. */
  descriptor: OutputDescriptor;
  /** Spendable coins (WalletCoin with its confirmations), the candidates for coin selection. */
  coins: SpendableCoin[];
  /** One or more payouts (batched); they keep this order in the transaction, the change is put among them. */
  outputs: PayoutOutputSpec[];
  /** Already clamped by the caller to floor..ceiling. */
  feeRateSatPerVb: number;
  /** From wallet.nextChange(). */
  change: DerivedOutput;
  /** Anti fee sniping: the current tip height (the caller gives it). */
  locktime?: number;
  /** Coins the transaction must spend whatever else it spends: one of a discarded PSBT's, so both cannot confirm. */
  required?: SpendableCoin[];
}

export interface BuiltPsbt {
  psbt: Uint8Array;
  base64: string;
  /** Of the unsigned transaction, which for segwit inputs is the final txid. */
  txid: string;
  inputs: { txid: string; vout: number; value: number }[];
  feeSats: number;
  /** The estimated virtual size (signatures at their largest) the fee pays for. */
  vsize: number;
  /** 0 = no change output. */
  changeSats: number;
  changeIndex: number | null;
}

export interface SignatureFound {
  inputIndex: number;
  pubkeyHex: string;
  /** The co-signer's master key fingerprint, 8 hex digits. */
  fingerprint: string;
}

const PSBT_MAGIC = hex.decode('70736274ff');
/** BIP 125 opt-in replace-by-fee, and nLockTime enforced (needed for anti fee sniping). */
const RBF_SEQUENCE = 0xfffffffd;
const TX_VERSION = 2;
const SIGHASH_ALL = 0x01;
/** A PSBT of a few hundred inputs is well below this; anything larger is refused before parsing. */
const MAX_PSBT_BYTES = 2_000_000;
// Payout addresses were checked by parseAddress, which accepts future witness versions scure does not know by name.
const TX_OPTS: TxOpts = { allowUnknownOutputs: true };

function malformed(reason: string, cause?: unknown): PayoutMgrError {
  return new PayoutMgrError('PAYOUT_PSBT_MALFORMED', `the PSBT cannot be read: ${reason}`, { cause });
}

function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length > 160 ? `${text.slice(0, 160)}…` : text;
}

function startsWithMagic(bytes: Uint8Array): boolean {
  return bytes.length >= PSBT_MAGIC.length && PSBT_MAGIC.every((byte, index) => bytes[index] === byte);
}

function decodeText(text: string): Uint8Array {
  const compact = text.replace(/\s+/g, '');
  if (compact === '') throw malformed('the text is empty');
  if (/^(70736274ff)([0-9a-f]{2})*$/i.test(compact)) return hex.decode(compact.toLowerCase());
  let bytes: Uint8Array;
  try {
    bytes = base64.decode(compact);
  } catch (cause) {
    throw malformed('the text is neither base64 nor hex (copy the whole PSBT, or upload the .psbt file)', cause);
  }
  if (!startsWithMagic(bytes)) throw malformed('the base64 text does not start with the PSBT magic bytes "psbt\\xff"');
  return bytes;
}

function parseTransaction(bytes: Uint8Array): Transaction {
  try {
    return Transaction.fromPSBT(bytes, TX_OPTS);
  } catch (cause) {
    throw malformed(errorText(cause), cause);
  }
}

/**
 * The PSBT's bytes from base64 (or hex) text, or from a .psbt file's bytes (binary, or base64 text saved as a file);
 * checked to parse as a BIP 174 PSBT.
 * @throws PayoutMgrError PAYOUT_PSBT_MALFORMED saying where it broke.
 */
export function decodePsbtText(text: string | Uint8Array): Uint8Array {
  const length = typeof text === 'string' ? text.length : text.byteLength;
  if (length > MAX_PSBT_BYTES) throw malformed(`${length} bytes is more than the ${MAX_PSBT_BYTES} a payout PSBT can need`);
  let bytes: Uint8Array;
  if (typeof text === 'string') bytes = decodeText(text);
  else if (startsWithMagic(text)) bytes = text;
  else {
    let asText: string;
    try {
      asText = new TextDecoder('utf-8', { fatal: true }).decode(text);
    } catch (cause) {
      throw malformed('the bytes do not start with the PSBT magic bytes "psbt\\xff" and are not base64 text', cause);
    }
    bytes = decodeText(asText);
  }
  parseTransaction(bytes);
  return bytes;
}

function multisigShape(descriptor: OutputDescriptor): MultisigShape {
  if (descriptor.script !== 'wsh(multi)' || descriptor.threshold === undefined) {
    throw new PayoutMgrError(
      'PAYOUT_CONFIG_INVALID',
      `payoutMgr.descriptor must be a wsh(multi(…)) or wsh(sortedmulti(…)) multisig to build payout PSBTs, got ${descriptor.script}`,
    );
  }
  return { threshold: descriptor.threshold, keyCount: descriptor.keys.length };
}

function checkOutputs(outputs: readonly PayoutOutputSpec[]): void {
  if (outputs.length === 0) throw new PayoutMgrError('PAYOUT_STATE_CONFLICT', 'a payout PSBT needs at least one payout output');
  for (const output of outputs) {
    if (!Number.isSafeInteger(output.sats) || output.sats <= 0) {
      throw new PayoutMgrError(
        'PAYOUT_AMOUNT_INVALID',
        `the payout to ${output.address} must be a positive integer of satoshis, got ${output.sats}`,
      );
    }
    const limit = dustThreshold(output.script);
    if (output.sats < limit) {
      throw new PayoutMgrError(
        'PAYOUT_DUST_OUTPUT',
        `the payout of ${output.sats} sats to ${output.address} is below the dust limit of ${limit} sats for its script type; pay at least ${limit} sats`,
      );
    }
  }
}

function walletOutput(descriptor: OutputDescriptor, coin: SpendableCoin): DerivedOutput {
  const derived = descriptor.derive(coin.chain, coin.index);
  if (derived.scriptHex !== coin.scriptHex.toLowerCase()) {
    throw new Error(`coin ${coin.txid}:${coin.vout} is not the wallet's output at chain ${coin.chain} index ${coin.index}`);
  }
  return derived;
}

function derivations(output: DerivedOutput): [Uint8Array, { fingerprint: number; path: number[] }][] {
  return output.keyOrigins.map((origin) => [origin.pubkey, { fingerprint: origin.fingerprint, path: [...origin.path] }]);
}

/** BIP 174 PSBT_GLOBAL_XPUB: only for a key whose origin path is as long as its depth, as the BIP requires. */
function globalXpubs(keys: readonly DescriptorKey[]) {
  return keys
    .filter((key) => key.originWritten && key.origin.path.length === key.extendedKey.depth)
    .map((key) => {
      const node = key.extendedKey.node;
      if (!node.chainCode || !node.publicKey) throw new Error('unreachable: a parsed xpub has a chain code and a key');
      const xpub = {
        version: node.versions.public,
        depth: node.depth,
        parentFingerprint: node.parentFingerprint,
        childNumber: node.index,
        chainCode: node.chainCode,
        publicKey: node.publicKey,
      };
      return [xpub, { fingerprint: key.origin.fingerprint, path: [...key.origin.path] }] as [
        typeof xpub,
        { fingerprint: number; path: number[] },
      ];
    });
}

function withGlobalXpubs(psbt: Uint8Array, keys: readonly DescriptorKey[]): Uint8Array {
  const xpubs = globalXpubs(keys);
  if (xpubs.length === 0) return psbt;
  const raw = RawPSBTV0.decode(psbt);
  // micro-packed's encode type intersects the decoded and the input form of each field; the values are the decoded form.
  const xpub = xpubs as unknown as NonNullable<typeof raw.global.xpub>;
  return RawPSBTV0.encode({ ...raw, global: { ...raw.global, xpub } });
}

/** Where the change goes among the payouts: fixed by the inputs (so a rebuild gives the same PSBT), not always last. */
function changePosition(coins: readonly SpendableCoin[], outputCount: number): number {
  let mix = 0;
  for (const coin of coins) for (const char of `${coin.txid}:${coin.vout}`) mix = (mix * 31 + char.charCodeAt(0)) >>> 0;
  return mix % (outputCount + 1);
}

/**
 * Builds the unsigned payout transaction as a PSBT: coins chosen by selectCoins, version 2, nSequence 0xfffffffd
 * (RBF), every input with its witnessUtxo, witnessScript and the BIP 32 derivation of every key; the change output
 * with its witnessScript and derivations (so a hardware wallet can verify it as change); a global xpub per co-signer.
 * @throws PayoutMgrError PAYOUT_DUST_OUTPUT, PAYOUT_AMOUNT_INVALID, PAYOUT_INSUFFICIENT_FUNDS, PAYOUT_CONFIG_INVALID
 *   (not a wsh multisig descriptor or a fee rate that is no positive number).
 */
export function buildPayoutPsbt(request: BuildRequest): BuiltPsbt {
  const { descriptor, outputs, change, feeRateSatPerVb } = request;
  const shape = multisigShape(descriptor);
  checkOutputs(outputs);
  if (!Number.isFinite(feeRateSatPerVb) || feeRateSatPerVb <= 0) {
    throw new PayoutMgrError('PAYOUT_CONFIG_INVALID', `the fee rate must be a positive number of sat/vB, got ${feeRateSatPerVb}`);
  }
  if (!change.witnessScript) throw new Error('the change output must be a wsh output of the wallet');
  const unique = new Map(request.coins.map((coin) => [`${coin.txid}:${coin.vout}`, coin]));
  const selection = selectCoins({
    coins: [...unique.values()],
    shape,
    outputScripts: outputs.map((output) => output.script),
    outputSats: outputs.reduce((sum, output) => sum + output.sats, 0),
    changeScript: change.script,
    feeRateSatPerVb,
    ...(request.required ? { required: request.required } : {}),
  });

  const tx = new Transaction({ ...TX_OPTS, version: TX_VERSION, lockTime: request.locktime ?? 0 });
  for (const coin of selection.coins) {
    const owned = walletOutput(descriptor, coin);
    tx.addInput({
      txid: coin.txid,
      index: coin.vout,
      sequence: RBF_SEQUENCE,
      witnessUtxo: { script: owned.script, amount: BigInt(coin.value) },
      witnessScript: owned.witnessScript,
      bip32Derivation: derivations(owned),
    });
  }
  const changeIndex = selection.changeSats > 0 ? changePosition(selection.coins, outputs.length) : null;
  outputs.forEach((output, index) => {
    if (index === changeIndex) addChange(tx, change, selection.changeSats);
    tx.addOutput({ script: output.script, amount: BigInt(output.sats) });
  });
  if (changeIndex === outputs.length) addChange(tx, change, selection.changeSats);

  const psbt = withGlobalXpubs(tx.toPSBT(0), descriptor.keys);
  return {
    psbt,
    base64: base64.encode(psbt),
    txid: tx.id,
    inputs: selection.coins.map((coin) => ({ txid: coin.txid, vout: coin.vout, value: coin.value })),
    feeSats: selection.feeSats,
    vsize: selection.vsize,
    changeSats: selection.changeSats,
    changeIndex,
  };
}

function addChange(tx: Transaction, change: DerivedOutput, sats: number): void {
  tx.addOutput({
    script: change.script,
    amount: BigInt(sats),
    witnessScript: change.witnessScript,
    bip32Derivation: derivations(change),
  });
}

// ---- Checking, combining and finalizing signed PSBTs ----

interface InputContext {
  witnessScript: Uint8Array;
  amount: bigint;
  /** The input's keys by hex, with the co-signer's master fingerprint. */
  keys: Map<string, number>;
}

interface CheckedSignature {
  inputIndex: number;
  pubkey: Uint8Array;
  signature: Uint8Array;
  fingerprint: number;
}

function equalBytes(left: Uint8Array | undefined, right: Uint8Array | undefined): boolean {
  if (!left || !right || left.length !== right.length) return false;
  return left.every((byte, index) => byte === right[index]);
}

/** Our input's script and keys, taken from the descriptor (not from PSBT fields a co-signer could have changed). */
function ourInputContext(ours: Transaction, inputIndex: number, descriptor: OutputDescriptor): InputContext {
  const input = ours.getInput(inputIndex);
  const path = input.bip32Derivation?.[0]?.[1].path;
  const chain = path?.[path.length - 2];
  const index = path?.[path.length - 1];
  if (chain === undefined || index === undefined || !input.witnessUtxo || !input.witnessScript) {
    throw new Error(
      `our PSBT's input ${inputIndex} has no derivation, witness UTXO or witness script: not built by buildPayoutPsbt`,
    );
  }
  const derived = descriptor.derive(chain, index);
  if (!equalBytes(derived.witnessScript, input.witnessScript)) {
    throw new Error(`our PSBT's input ${inputIndex} is not the wallet's output at chain ${chain} index ${index}`);
  }
  const keys = new Map(derived.keyOrigins.map((origin) => [hex.encode(origin.pubkey), origin.fingerprint]));
  return { witnessScript: input.witnessScript, amount: input.witnessUtxo.amount, keys };
}

function sighashAll(tx: Transaction, inputIndex: number, context: InputContext): Uint8Array {
  return tx.preimageWitnessV0(inputIndex, context.witnessScript, SIGHASH_ALL, context.amount);
}

/** Whether a DER signature with its sighash byte is SIGHASH_ALL and verifies (low-S, strict DER) for `pubkey`. */
function signatureProblem(signature: Uint8Array, pubkey: Uint8Array, sighash: Uint8Array): string | undefined {
  const type = signature[signature.length - 1];
  if (type !== SIGHASH_ALL)
    return `signs with sighash type 0x${(type ?? 0).toString(16).padStart(2, '0')}, not SIGHASH_ALL (0x01)`;
  try {
    const valid = secp256k1.verify(signature.subarray(0, -1), sighash, pubkey, { prehash: false, format: 'der', lowS: true });
    return valid ? undefined : 'does not verify for this transaction and input amount';
  } catch (cause) {
    return `is not a valid DER signature (${errorText(cause)})`;
  }
}

function describeScript(script: Uint8Array, network: BitcoinNetwork): string {
  try {
    return addressFromScript(script, network);
  } catch {
    return `script ${hex.encode(script)}`;
  }
}

function transactionFee(tx: Transaction): bigint | undefined {
  try {
    return tx.fee;
  } catch {
    return undefined;
  }
}

/** Every way `theirs` is another transaction than `ours` (empty when it is the same one, with the same input amounts). */
function differences(ours: Transaction, theirs: Transaction, network: BitcoinNetwork): string[] {
  const found: string[] = [];
  if (ours.version !== theirs.version) found.push(`version ${ours.version} became ${theirs.version}`);
  if (ours.lockTime !== theirs.lockTime) found.push(`locktime ${ours.lockTime} became ${theirs.lockTime}`);
  if (ours.inputsLength !== theirs.inputsLength) {
    found.push(`inputs: ${ours.inputsLength} became ${theirs.inputsLength}`);
  } else {
    for (let index = 0; index < ours.inputsLength; index++) {
      const mine = ours.getInput(index);
      const other = theirs.getInput(index);
      const mineOutpoint = `${hex.encode(mine.txid ?? new Uint8Array())}:${mine.index}`;
      const otherOutpoint = `${hex.encode(other.txid ?? new Uint8Array())}:${other.index}`;
      if (mineOutpoint !== otherOutpoint) found.push(`input ${index}: spends ${otherOutpoint} instead of ${mineOutpoint}`);
      if ((mine.sequence ?? 0xffffffff) !== (other.sequence ?? 0xffffffff)) {
        found.push(`input ${index}: sequence ${mine.sequence} became ${other.sequence}`);
      }
      const otherAmount = other.witnessUtxo?.amount;
      if (otherAmount !== undefined && otherAmount !== mine.witnessUtxo?.amount) {
        found.push(`input ${index}: amount ${mine.witnessUtxo?.amount} sats became ${otherAmount} sats`);
      }
    }
  }
  if (ours.outputsLength !== theirs.outputsLength) {
    found.push(`outputs: ${ours.outputsLength} became ${theirs.outputsLength}`);
  } else {
    for (let index = 0; index < ours.outputsLength; index++) {
      const mine = ours.getOutput(index);
      const other = theirs.getOutput(index);
      if (mine.amount !== other.amount || !equalBytes(mine.script, other.script)) {
        const before = `${mine.amount} sats to ${mine.script ? describeScript(mine.script, network) : '?'}`;
        const after = `${other.amount} sats to ${other.script ? describeScript(other.script, network) : '?'}`;
        found.push(`output ${index}: ${before} became ${after}`);
      }
    }
  }
  if (found.length > 0) {
    const mineFee = transactionFee(ours);
    const otherFee = transactionFee(theirs);
    if (mineFee !== undefined && otherFee !== undefined && mineFee !== otherFee)
      found.push(`fee ${mineFee} sats became ${otherFee} sats`);
  }
  return found;
}

/** The signatures a co-signer's input carries: partial signatures, or those inside a final witness (matched to keys). */
function signaturesOf(theirs: Transaction, inputIndex: number, context: InputContext, sighash: Uint8Array): CheckedSignature[] {
  const input = theirs.getInput(inputIndex);
  const found = new Map<string, CheckedSignature>();
  const take = (pubkey: Uint8Array, signature: Uint8Array) => {
    const pubkeyHex = hex.encode(pubkey);
    const fingerprint = context.keys.get(pubkeyHex);
    if (fingerprint === undefined) {
      throw new PayoutMgrError(
        'PAYOUT_PSBT_FOREIGN_SIGNATURE',
        `input ${inputIndex} carries a signature from key ${pubkeyHex}, which is not a co-signer key of this wallet`,
      );
    }
    const problem = signatureProblem(signature, pubkey, sighash);
    if (problem) {
      throw new PayoutMgrError('PAYOUT_PSBT_BAD_SIGNATURE', `input ${inputIndex}: the signature of key ${pubkeyHex} ${problem}`);
    }
    if (!found.has(pubkeyHex)) found.set(pubkeyHex, { inputIndex, pubkey, signature, fingerprint });
  };
  const sighashType = input.sighashType;
  if (sighashType !== undefined && sighashType !== SIGHASH_ALL) {
    throw new PayoutMgrError(
      'PAYOUT_PSBT_BAD_SIGNATURE',
      `input ${inputIndex} asks for sighash type ${sighashType}, not SIGHASH_ALL (1)`,
    );
  }
  for (const [pubkey, signature] of input.partialSig ?? []) take(pubkey, signature);
  const witness = input.finalScriptWitness;
  if (witness && witness.length > 0) {
    if (!equalBytes(witness[witness.length - 1], context.witnessScript)) {
      throw new PayoutMgrError(
        'PAYOUT_PSBT_DIFFERENT_TX',
        `input ${inputIndex}: the final witness spends another script than the wallet's`,
      );
    }
    for (const signature of witness.slice(1, -1)) {
      if (signature.length === 0) continue;
      // A final witness has no public keys: the signature belongs to whichever of the input's keys it verifies for.
      const owner = [...context.keys.keys()]
        .map((key) => hex.decode(key))
        .find((key) => !signatureProblem(signature, key, sighash));
      if (!owner) {
        throw new PayoutMgrError(
          'PAYOUT_PSBT_BAD_SIGNATURE',
          `input ${inputIndex}: a signature in the final witness verifies for none of the input's co-signer keys`,
        );
      }
      take(owner, signature);
    }
  }
  return [...found.values()];
}

function checkAgainst(ours: Transaction, theirsText: Uint8Array | string, descriptor: OutputDescriptor): CheckedSignature[] {
  const theirs = parseTransaction(decodePsbtText(theirsText));
  const found = differences(ours, theirs, descriptor.network);
  if (found.length > 0) {
    const text = found.join('; ');
    throw new PayoutMgrError(
      'PAYOUT_PSBT_DIFFERENT_TX',
      `the signed PSBT is for another transaction: ${text.length > 600 ? `${text.slice(0, 600)}…` : text}`,
    );
  }
  const signatures: CheckedSignature[] = [];
  for (let index = 0; index < ours.inputsLength; index++) {
    const context = ourInputContext(ours, index, descriptor);
    signatures.push(...signaturesOf(theirs, index, context, sighashAll(ours, index, context)));
  }
  return signatures;
}

/**
 * Checks a co-signer's PSBT against ours: exactly the same unsigned transaction and input amounts (else
 * PAYOUT_PSBT_DIFFERENT_TX saying what differs); every partial signature from a key of that input (else
 * PAYOUT_PSBT_FOREIGN_SIGNATURE naming input and key) and valid for SIGHASH_ALL over our input data (else
 * PAYOUT_PSBT_BAD_SIGNATURE). A finalized input's signatures are taken from its final witness. A PSBT without
 * signatures passes with an empty list.
 * @throws PayoutMgrError PAYOUT_PSBT_MALFORMED, PAYOUT_PSBT_DIFFERENT_TX, PAYOUT_PSBT_FOREIGN_SIGNATURE, PAYOUT_PSBT_BAD_SIGNATURE.
 */
export function checkSignedPsbt(ours: Uint8Array, theirs: Uint8Array | string, descriptor: OutputDescriptor): SignatureFound[] {
  return checkAgainst(parseTransaction(ours), theirs, descriptor).map(foundOf);
}

function foundOf(found: CheckedSignature): SignatureFound {
  return {
    inputIndex: found.inputIndex,
    pubkeyHex: hex.encode(found.pubkey),
    fingerprint: found.fingerprint.toString(16).padStart(8, '0'),
  };
}

/** Adds the checked signatures our PSBT does not have yet; returns those it added. */
function addSignatures(tx: Transaction, signatures: readonly CheckedSignature[]): CheckedSignature[] {
  const added: CheckedSignature[] = [];
  for (const checked of signatures) {
    const present = tx.getInput(checked.inputIndex).partialSig ?? [];
    if (present.some(([key]) => equalBytes(key, checked.pubkey))) continue;
    tx.updateInput(checked.inputIndex, { partialSig: [[checked.pubkey, checked.signature]] });
    added.push(checked);
  }
  return added;
}

/**
 * Our PSBT with the partial signatures of the checked ones added (our other fields kept as they were). All are
 * checked before any is taken.
 * @throws PayoutMgrError as checkSignedPsbt, for the first PSBT that fails.
 */
export function combineSignatures(ours: Uint8Array, signed: (Uint8Array | string)[], descriptor: OutputDescriptor): Uint8Array {
  const tx = parseTransaction(ours);
  addSignatures(
    tx,
    signed.flatMap((theirs) => checkAgainst(tx, theirs, descriptor)),
  );
  return tx.toPSBT();
}

/**
 * One co-signer's PSBT taken into ours, checked once: the combined PSBT, the signatures it added, and how many it
 * carried that ours already had.
 * @throws PayoutMgrError as checkSignedPsbt.
 */
export function takeSignatures(
  ours: Uint8Array,
  theirs: Uint8Array | string,
  descriptor: OutputDescriptor,
): { psbt: Uint8Array; added: SignatureFound[]; alreadyHad: number } {
  const tx = parseTransaction(ours);
  const found = checkAgainst(tx, theirs, descriptor);
  const added = addSignatures(tx, found);
  return { psbt: tx.toPSBT(), added: added.map(foundOf), alreadyHad: found.length - added.length };
}

/** The signatures of a finalized multisig input: the items between the CHECKMULTISIG dummy and the script. */
function finalSignatureCount(items: (Uint8Array | number | string)[]): number {
  return items.slice(1, -1).filter((item) => item instanceof Uint8Array && item.length > 0).length;
}

function inputSignatureCount(input: ReturnType<Transaction['getInput']>): number {
  if (input.finalScriptWitness && input.finalScriptWitness.length > 0) return finalSignatureCount(input.finalScriptWitness);
  // A legacy P2SH multisig input (none of ours, but any PSBT may be read) carries its signatures in the scriptSig.
  if (input.finalScriptSig && input.finalScriptSig.length > 0) return finalSignatureCount(Script.decode(input.finalScriptSig));
  return input.partialSig?.length ?? 0;
}

/**
 * How many signatures each input has (partial signatures, or those in its final witness).
 * @throws PayoutMgrError PAYOUT_PSBT_MALFORMED.
 */
export function signatureCounts(psbt: Uint8Array): number[] {
  const tx = parseTransaction(psbt);
  const counts: number[] = [];
  for (let index = 0; index < tx.inputsLength; index++) counts.push(inputSignatureCount(tx.getInput(index)));
  return counts;
}

/** Re-checks every partial signature against the PSBT's own script and amount, so a damaged stored PSBT cannot go out. */
function checkOwnSignatures(tx: Transaction): void {
  for (let index = 0; index < tx.inputsLength; index++) {
    const input = tx.getInput(index);
    if (!input.witnessScript || !input.witnessUtxo || !input.partialSig) continue;
    const decoded = OutScript.decode(input.witnessScript);
    const keys = decoded.type === 'ms' ? decoded.pubkeys : [];
    const context: InputContext = { witnessScript: input.witnessScript, amount: input.witnessUtxo.amount, keys: new Map() };
    const sighash = sighashAll(tx, index, context);
    for (const [pubkey, signature] of input.partialSig) {
      const problem = keys.some((key) => equalBytes(key, pubkey))
        ? signatureProblem(signature, pubkey, sighash)
        : 'is from a key not in the input script';
      if (problem)
        throw new PayoutMgrError(
          'PAYOUT_PSBT_BAD_SIGNATURE',
          `input ${index}: the signature of key ${hex.encode(pubkey)} ${problem}`,
        );
    }
  }
}

/**
 * Finalizes (every input needs `threshold` signatures) and extracts the network transaction.
 * @throws PayoutMgrError PAYOUT_PSBT_NOT_ENOUGH_SIGNATURES naming the short inputs; PAYOUT_PSBT_BAD_SIGNATURE;
 *   PAYOUT_PSBT_MALFORMED when it cannot be finalized.
 */
export function finalizePsbt(psbt: Uint8Array, threshold: number): { rawTxHex: string; txid: string } {
  const counts = signatureCounts(psbt);
  const short = counts.map((count, index) => ({ count, index })).filter(({ count }) => count < threshold);
  if (short.length > 0) {
    const list = short.map(({ count, index }) => `input ${index} has ${count}`).join(', ');
    throw new PayoutMgrError(
      'PAYOUT_PSBT_NOT_ENOUGH_SIGNATURES',
      `${list} of the ${threshold} signatures needed; import more signed PSBTs`,
    );
  }
  const tx = parseTransaction(psbt);
  checkOwnSignatures(tx);
  try {
    for (let index = 0; index < tx.inputsLength; index++) {
      if (!tx.getInput(index).finalScriptWitness?.length) tx.finalizeIdx(index);
    }
    const raw = tx.extract();
    return { rawTxHex: hex.encode(raw), txid: tx.id };
  } catch (cause) {
    throw malformed(`it cannot be finalized: ${errorText(cause)}`, cause);
  }
}

/**
 * Our PSBT with each input's whole previous transaction (non-witness UTXO) where it is known: hardware wallets that
 * guard against the segwit v0 fee attack (amounts misstated across two signing rounds) ask for it. The unsigned
 * transaction, and so the txid, is unchanged; a previous transaction that is not the one the input spends is refused.
 */
export function withPreviousTransactions(
  psbt: Uint8Array,
  previous: ReadonlyMap<string, Uint8Array>,
  descriptor: OutputDescriptor,
): Uint8Array {
  const tx = Transaction.fromPSBT(psbt, TX_OPTS);
  for (let index = 0; index < tx.inputsLength; index++) {
    const input = tx.getInput(index);
    const raw = previous.get(hex.encode(input.txid!));
    if (raw === undefined) continue;
    if (
      Transaction.fromRaw(raw, { allowUnknownOutputs: true, allowUnknownInputs: true, disableScriptCheck: true }).id !==
      hex.encode(input.txid!)
    ) {
      throw new Error(`the previous transaction given for input ${index} is not ${hex.encode(input.txid!)}`);
    }
    tx.updateInput(index, { nonWitnessUtxo: raw }, true);
  }
  return withGlobalXpubs(tx.toPSBT(0), descriptor.keys);
}

/** Per input, the public keys (hex) of the partial signatures it carries. @throws PayoutMgrError PAYOUT_PSBT_MALFORMED. */
export function psbtSigners(psbt: Uint8Array): string[][] {
  const tx = parseTransaction(psbt);
  const signers: string[][] = [];
  for (let index = 0; index < tx.inputsLength; index++) {
    signers.push((tx.getInput(index).partialSig ?? []).map(([pubkey]) => hex.encode(pubkey)));
  }
  return signers;
}

/** The unsigned transaction's outputs: script, sats and address. @throws PayoutMgrError PAYOUT_PSBT_MALFORMED. */
export function unsignedOutputs(
  psbt: Uint8Array,
  network: BitcoinNetwork,
): { scriptHex: string; sats: number; address: string }[] {
  const tx = parseTransaction(psbt);
  const outputs: { scriptHex: string; sats: number; address: string }[] = [];
  for (let index = 0; index < tx.outputsLength; index++) {
    const output = tx.getOutput(index);
    outputs.push({
      scriptHex: hex.encode(output.script!),
      sats: Number(output.amount!),
      address: describeScript(output.script!, network),
    });
  }
  return outputs;
}

/** The unsigned transaction's txid (the final txid: every input of the wallet is segwit). */
export function unsignedTxid(psbt: Uint8Array): string {
  return parseTransaction(psbt).id;
}
