// The BIP 174 test vectors (test/payout-mgr/vectors/bip174.json, copied from the BIP): invalid PSBTs refused by our
// parser, valid ones read, and the BIP's worked example (creator → updater → signer → combiner → finalizer →
// extractor) reproduced with @scure/btc-signer, the library psbt.ts builds on.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { base64, hex } from '@scure/base';
import { HDKey } from '@scure/bip32';
import { bip32Path, PSBTCombine, TEST_NETWORK, Transaction, WIF } from '@scure/btc-signer';
import { decodePsbtText, signatureCounts } from '../../src/payout-mgr/psbt.js';
import { TEST_VERSIONS } from './keys.js';

interface Vector {
  name: string;
  hex: string;
  base64: string;
}
interface WorkedExample {
  masterTprv: string;
  outputs: { script: string; sats: number }[];
  inputs: { txid: string; index: number }[];
  creator: string;
  creatorBase64: string;
  redeemScripts: string[];
  witnessScripts: string[];
  previousTransactions: string[];
  publicKeys: { pubkey: string; path: string }[];
  updater: string;
  sighashUpdater: string;
  signers: { keys: { wif: string; path: string }[]; psbt: string }[];
  combined: string;
  finalized: string;
  extracted: string;
}
interface Vectors {
  source: string;
  invalid: Vector[];
  valid: Vector[];
  workedExample: WorkedExample;
  unknownKeysCombine: { first: string; second: string; combined: string; combinedBase64: string };
}

const vectors = JSON.parse(readFileSync(new URL('./vectors/bip174.json', import.meta.url), 'utf8')) as Vectors;
const example = vectors.workedExample;
const code = (expected: string) => (error: Error & { code?: string }) => error.code === expected && error.message.length > 20;

test('every copied vector: its hex and its base64 are the same bytes (a copying error would show here)', () => {
  for (const vector of [...vectors.invalid, ...vectors.valid]) {
    assert.equal(hex.encode(base64.decode(vector.base64)), vector.hex, vector.name);
  }
  assert.equal(hex.encode(base64.decode(example.creatorBase64)), example.creator);
  assert.equal(hex.encode(base64.decode(vectors.unknownKeysCombine.combinedBase64)), vectors.unknownKeysCombine.combined);
});

for (const vector of vectors.invalid) {
  test(`BIP 174 invalid: ${vector.name} → PAYOUT_PSBT_MALFORMED`, () => {
    assert.throws(() => decodePsbtText(hex.decode(vector.hex)), code('PAYOUT_PSBT_MALFORMED'), 'as binary');
    assert.throws(() => decodePsbtText(vector.base64), code('PAYOUT_PSBT_MALFORMED'), 'as base64');
  });
}

for (const vector of vectors.valid) {
  test(`BIP 174 valid: ${vector.name} is read`, () => {
    assert.deepEqual(decodePsbtText(vector.base64), hex.decode(vector.hex));
    assert.deepEqual(decodePsbtText(hex.decode(vector.hex)), hex.decode(vector.hex));
    assert.deepEqual(signatureCounts(hex.decode(vector.hex)), []);
  });
}

const master = HDKey.fromExtendedKey(example.masterTprv, TEST_VERSIONS);
const psbtHex = (tx: Transaction) => hex.encode(tx.toPSBT(0));
const at = (list: string[], index: number) => {
  const value = list[index];
  if (value === undefined) throw new Error(`vector field has no item ${index}`);
  return value;
};

function derivation(index: number): [Uint8Array, { fingerprint: number; path: number[] }] {
  const key = example.publicKeys[index];
  if (!key) throw new Error(`no public key ${index}`);
  return [hex.decode(key.pubkey), { fingerprint: master.fingerprint, path: bip32Path(key.path) }];
}

function created(): Transaction {
  const tx = new Transaction({ version: 2, lockTime: 0 });
  for (const input of example.inputs) tx.addInput({ txid: input.txid, index: input.index, sequence: 0xffffffff });
  for (const output of example.outputs) tx.addOutput({ script: hex.decode(output.script), amount: BigInt(output.sats) });
  return tx;
}

/** Input 0 spends P2SH multisig (full previous tx), input 1 P2SH-P2WSH multisig (witness UTXO); outputs get key paths. */
function updated(): Transaction {
  const tx = created();
  const previous = example.previousTransactions.map((raw) => Transaction.fromRaw(hex.decode(raw), { allowUnknownOutputs: true }));
  const spentBy = (txid: string) => {
    const found = previous.find((candidate) => candidate.id === txid);
    if (!found) throw new Error(`no previous transaction ${txid}`);
    return found;
  };
  const [first, second] = example.inputs;
  if (!first || !second) throw new Error('two inputs expected');
  tx.updateInput(0, {
    nonWitnessUtxo: hex.decode(at(example.previousTransactions, previous.indexOf(spentBy(first.txid)))),
    redeemScript: hex.decode(at(example.redeemScripts, 0)),
    bip32Derivation: [derivation(0), derivation(1)],
  });
  const spent = spentBy(second.txid).getOutput(second.index);
  if (!spent.script || spent.amount === undefined) throw new Error('no spent output');
  tx.updateInput(1, {
    witnessUtxo: { script: spent.script, amount: spent.amount },
    redeemScript: hex.decode(at(example.redeemScripts, 1)),
    witnessScript: hex.decode(at(example.witnessScripts, 0)),
    bip32Derivation: [derivation(2), derivation(3)],
  });
  tx.updateOutput(0, { bip32Derivation: [derivation(4)] });
  tx.updateOutput(1, { bip32Derivation: [derivation(5)] });
  return tx;
}

function withSighashAll(): Transaction {
  const tx = updated();
  tx.updateInput(0, { sighashType: 1 });
  tx.updateInput(1, { sighashType: 1 });
  return tx;
}

test('BIP 174 worked example: the listed public keys are the master key’s children at the listed paths', () => {
  assert.equal(master.fingerprint, 0xd90c6a4f);
  for (const key of example.publicKeys)
    assert.equal(hex.encode(master.derive(key.path).publicKey ?? new Uint8Array()), key.pubkey);
});

test('BIP 174 worked example: creator, updater and the SIGHASH_ALL updater, byte for byte', () => {
  assert.equal(psbtHex(created()), example.creator);
  assert.equal(psbtHex(updated()), example.updater);
  assert.equal(psbtHex(withSighashAll()), example.sighashUpdater);
});

example.signers.forEach((signer, index) => {
  test(`BIP 174 worked example: signer ${index + 1} (RFC 6979 signatures), byte for byte`, () => {
    const tx = Transaction.fromPSBT(hex.decode(example.sighashUpdater));
    for (const { wif, path } of signer.keys) {
      const privateKey = WIF(TEST_NETWORK).decode(wif);
      assert.deepEqual(privateKey, master.derive(path).privateKey, `${wif} is the key at ${path}`);
      assert.equal(tx.sign(privateKey), 1, `${path} signs one input`);
    }
    assert.equal(psbtHex(tx), signer.psbt);
  });
});

test('BIP 174 worked example: combiner (same key-value pairs; partial signatures in key order), finalizer and extractor', () => {
  const combined = PSBTCombine(example.signers.map((signer) => hex.decode(signer.psbt)));
  // Bitcoin Core orders a map's partial signatures by key id (HASH160), scure by the key bytes; BIP 174 leaves the
  // order to the combiner. Same pairs: the BIP's combined PSBT, read and written again, is the same bytes.
  assert.deepEqual(combined, Transaction.fromPSBT(hex.decode(example.combined)).toPSBT(0));
  assert.deepEqual(signatureCounts(combined), [2, 2]);
  const tx = Transaction.fromPSBT(combined);
  tx.finalize();
  assert.equal(psbtHex(tx), example.finalized);
  assert.equal(hex.encode(tx.extract()), example.extracted);
  assert.deepEqual(signatureCounts(hex.decode(example.finalized)), [2, 2]);
});

test('BIP 174 unknown key-value pairs: kept and combined when asked to (scure strips them by default)', () => {
  const { first, second, combined } = vectors.unknownKeysCombine;
  const merged = PSBTCombine([hex.decode(first), hex.decode(second)], { unknown: 'ignore', allowUnknownOutputs: true });
  assert.equal(hex.encode(merged), combined);
  assert.deepEqual(decodePsbtText(hex.decode(combined)), hex.decode(combined));
});
