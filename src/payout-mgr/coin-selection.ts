// Coin selection for the multisig wallet: size estimates for wsh M-of-N spends, dust limits, and which coins to spend.
import { PayoutMgrError } from './errors.js';
import type { SpendableCoin } from './wallet.js';

export type { SpendableCoin } from './wallet.js';

/** The shape of the wallet's inputs: wsh(multi) with `threshold` signatures out of `keyCount` keys. */
export interface MultisigShape {
  threshold: number;
  keyCount: number;
}

export interface Selection {
  /** In the order the transaction spends them (BIP 69: txid, then vout), so the order says nothing about the selection. */
  coins: SpendableCoin[];
  feeSats: number;
  /** The estimated virtual size the fee was paid for. */
  vsize: number;
  /** 0 when the rest was below the change output's dust limit and went to the fee. */
  changeSats: number;
}

// Bitcoin Core's policy (policy.cpp GetDustThreshold) at the default dustrelayfee of 3000 sat/kvB: an output is dust
// when spending it would cost more than it is worth; the spend is 148 bytes, or 67 vbytes for a witness program.
const DUST_RELAY_SAT_PER_KVB = 3000;
const LEGACY_SPEND_BYTES = 32 + 4 + 1 + 107 + 4;
const WITNESS_SPEND_VBYTES = 32 + 4 + 1 + Math.floor(107 / 4) + 4;
const OP_RETURN = 0x6a;

/** The number of bytes of a Bitcoin CompactSize integer. */
function compactSizeLength(value: number): number {
  if (value < 0xfd) return 1;
  if (value <= 0xffff) return 3;
  if (value <= 0xffffffff) return 5;
  return 9;
}

function isWitnessProgram(script: Uint8Array): boolean {
  const [version, length] = script;
  if (version === undefined || length === undefined) return false;
  const versionOk = version === 0 || (version >= 0x51 && version <= 0x60);
  return versionOk && length >= 2 && length <= 40 && script.length === length + 2;
}

/** Serialized size of an output: 8-byte amount, script length, script. */
export function outputSize(script: Uint8Array): number {
  return 8 + compactSizeLength(script.length) + script.length;
}

/** The smallest amount an output to `script` may carry and still be relayed (0 for an unspendable OP_RETURN). */
export function dustThreshold(script: Uint8Array): number {
  if (script[0] === OP_RETURN) return 0;
  const spend = isWitnessProgram(script) ? WITNESS_SPEND_VBYTES : LEGACY_SPEND_BYTES;
  return Math.floor(((outputSize(script) + spend) * DUST_RELAY_SAT_PER_KVB) / 1000);
}

/**
 * The weight of one wsh(multi) input at its largest: 41 non-witness bytes (outpoint, empty scriptSig, sequence) and a
 * witness of the item count, the empty item CHECKMULTISIG pops, M signatures (a low-S DER signature is at most 71 bytes,
 * plus the sighash byte and its length byte) and the witness script (OP_M, N pushed 33-byte keys, OP_N, OP_CHECKMULTISIG).
 */
export function multisigInputWeight(shape: MultisigShape): number {
  const witnessScriptLength = 3 + 34 * shape.keyCount;
  const witness =
    compactSizeLength(shape.threshold + 2) +
    1 +
    shape.threshold * 73 +
    compactSizeLength(witnessScriptLength) +
    witnessScriptLength;
  return 41 * 4 + witness;
}

/** The virtual size of a segwit transaction spending `inputCount` multisig inputs to outputs of these scripts. */
export function estimateVsize(shape: MultisigShape, inputCount: number, outputScripts: readonly Uint8Array[]): number {
  const base =
    4 +
    4 +
    compactSizeLength(inputCount) +
    compactSizeLength(outputScripts.length) +
    outputScripts.reduce((sum, s) => sum + outputSize(s), 0);
  const weight = base * 4 + 2 + inputCount * multisigInputWeight(shape);
  return Math.ceil(weight / 4);
}

function compareOutpoints(left: SpendableCoin, right: SpendableCoin): number {
  if (left.txid !== right.txid) return left.txid < right.txid ? -1 : 1;
  return left.vout - right.vout;
}

/** Confirmed coins first, largest first; ties by outpoint so the same wallet state always picks the same coins. */
function candidateOrder(left: SpendableCoin, right: SpendableCoin): number {
  const leftConfirmed = left.confirmations > 0;
  const rightConfirmed = right.confirmations > 0;
  if (leftConfirmed !== rightConfirmed) return leftConfirmed ? -1 : 1;
  if (left.value !== right.value) return right.value - left.value;
  return compareOutpoints(left, right);
}

export interface SelectionRequest {
  coins: readonly SpendableCoin[];
  shape: MultisigShape;
  /** The payout outputs (scripts) and their total. */
  outputScripts: readonly Uint8Array[];
  outputSats: number;
  changeScript: Uint8Array;
  feeRateSatPerVb: number;
  /** Coins that must be spent whatever else is chosen (to conflict with an earlier transaction); taken first. */
  required?: readonly SpendableCoin[];
}

/**
 * Picks coins largest-first, confirmed before unconfirmed, until they pay the outputs and the fee for their size.
 * Change below the change script's dust limit is left to the fee rather than making an output nobody can spend.
 * @throws PayoutMgrError PAYOUT_INSUFFICIENT_FUNDS saying what was needed (with the fee for spending every coin) and
 *   what is spendable.
 */
export function selectCoins(request: SelectionRequest): Selection {
  const { shape, outputScripts, outputSats, changeScript, feeRateSatPerVb } = request;
  const fee = (vsize: number) => Math.ceil(feeRateSatPerVb * vsize);
  const withChange = [...outputScripts, changeScript];
  const changeDust = dustThreshold(changeScript);
  const required = new Set((request.required ?? []).map((coin) => `${coin.txid}:${coin.vout}`));
  const ordered = [
    ...(request.required ?? []),
    ...[...request.coins].filter((coin) => !required.has(`${coin.txid}:${coin.vout}`)).sort(candidateOrder),
  ];
  const chosen: SpendableCoin[] = [];
  let total = 0;
  for (const coin of ordered) {
    chosen.push(coin);
    total += coin.value;
    const vsizeWithout = estimateVsize(shape, chosen.length, outputScripts);
    if (total < outputSats + fee(vsizeWithout)) continue;
    const vsizeWith = estimateVsize(shape, chosen.length, withChange);
    const change = total - outputSats - fee(vsizeWith);
    const coins = chosen.sort(compareOutpoints);
    if (change >= changeDust && change > 0) return { coins, feeSats: fee(vsizeWith), vsize: vsizeWith, changeSats: change };
    return { coins, feeSats: total - outputSats, vsize: vsizeWithout, changeSats: 0 };
  }
  const needed = outputSats + fee(estimateVsize(shape, Math.max(ordered.length, 1), outputScripts));
  throw new PayoutMgrError(
    'PAYOUT_INSUFFICIENT_FUNDS',
    `needed ${needed} sats incl. fee, spendable ${total} sats in ${ordered.length} coin(s); wait for deposits or pay out less`,
  );
}
