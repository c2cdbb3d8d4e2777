// The BIP 174 test vectors (test/payout-mgr/vectors/bip174.json, all of the BIP's): invalid PSBTs refused by our
// parser, valid ones read, the "Fails Signer checks" PSBTs refused on import, and the BIP's worked example (creator →
// updater → signer → combiner → finalizer → extractor) reproduced with @scure/btc-signer, the library psbt.ts builds on.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { base64, hex } from '@scure/base';
import { HDKey } from '@scure/bip32';
import { bip32Path, PSBTCombine, TEST_NETWORK, Transaction, WIF } from '@scure/btc-signer';
import { buildPayoutPsbt, checkSignedPsbt, decodePsbtText, signatureCounts } from '../../src/payout-mgr/psbt.js';
import { signWithScure, TEST_VERSIONS, testWallet } from './keys.js';

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
  failsSignerChecks: Vector[];
  workedExample: WorkedExample;
  unknownKeysCombine: { first: string; second: string; combined: string; combinedBase64: string };
}

const vectors = JSON.parse(readFileSync(new URL('./vectors/bip174.json', import.meta.url), 'utf8')) as Vectors;
const example = vectors.workedExample;
const code = (expected: string) => (error: Error & { code?: string }) => error.code === expected && error.message.length > 20;

test('every copied vector: its hex and its base64 are the same bytes (a copying error would show here)', () => {
  for (const vector of [...vectors.invalid, ...vectors.valid, ...vectors.failsSignerChecks]) {
    assert.equal(hex.encode(base64.decode(vector.base64)), vector.hex, vector.name);
  }
  assert.equal(hex.encode(base64.decode(example.creatorBase64)), example.creator);
  assert.equal(hex.encode(base64.decode(vectors.unknownKeysCombine.combinedBase64)), vectors.unknownKeysCombine.combined);
});

test('every case of the BIP is copied: 19 invalid, 10 valid, 4 that fail signer checks', () => {
  assert.equal(vectors.invalid.length, 19);
  assert.equal(vectors.valid.length, 10);
  assert.equal(vectors.failsSignerChecks.length, 4);
  const names = [...vectors.invalid, ...vectors.valid, ...vectors.failsSignerChecks].map((vector) => vector.name);
  assert.equal(new Set(names).size, names.length, 'no case twice');
});

for (const vector of vectors.invalid) {
  test(`BIP 174 invalid: ${vector.name} → PAYOUT_PSBT_MALFORMED`, () => {
    assert.throws(() => decodePsbtText(hex.decode(vector.hex)), code('PAYOUT_PSBT_MALFORMED'), 'as binary');
    assert.throws(() => decodePsbtText(vector.base64), code('PAYOUT_PSBT_MALFORMED'), 'as base64');
  });
}

/** Signature counts the case titles state; the other valid cases only need one count per input. */
const STATED_SIGNATURES: Record<string, number[]> = {
  'PSBT with one P2SH-P2WSH input of a 2-of-2 multisig, redeemScript, witnessScript, and keypaths are available. Contains one signature.':
    [1],
  'PSBT with one P2WSH input of a 2-of-2 multisig. witnessScript, keypaths, and global xpubs are available. Contains no signatures. Outputs filled.':
    [0],
};

for (const vector of vectors.valid) {
  test(`BIP 174 valid: ${vector.name} is read`, () => {
    const bytes = hex.decode(vector.hex);
    assert.deepEqual(decodePsbtText(vector.base64), bytes);
    assert.deepEqual(decodePsbtText(bytes), bytes);
    // signatureCounts reads a final scriptSig as a multisig one (between the dummy and the script), as our wallet's
    // inputs are; the finalized P2PKH input of one valid case (signature, pubkey) therefore counts 0, not 1.
    const counts = signatureCounts(bytes);
    assert.equal(counts.length, Transaction.fromPSBT(bytes, { allowUnknownOutputs: true }).inputsLength);
    const stated = STATED_SIGNATURES[vector.name];
    if (stated) assert.deepEqual(counts, stated);
  });
}

// "Fails Signer checks": PSBTs a signer must refuse to sign. Our signers are external (hardware and desktop wallets),
// so psbt.ts has no signer to refuse; what it has is the import path (decodePsbtText, then checkSignedPsbt against
// the PSBT we built). Each case below says which of its checks refuses the PSBT.
const wallet = testWallet();
const ours = buildPayoutPsbt({
  descriptor: wallet,
  coins: [
    {
      txid: '11'.repeat(32),
      vout: 0,
      value: 150_000,
      chain: 0,
      index: 0,
      scriptHex: wallet.derive(0, 0).scriptHex,
      height: 100,
      confirmations: 6,
    },
  ],
  outputs: [{ script: wallet.derive(0, 5).script, sats: 50_000, address: wallet.derive(0, 5).address }],
  feeRateSatPerVb: 5,
  change: wallet.derive(1, 0),
  locktime: 250,
}).psbt;

const SIGNER_CHECK_REFUSALS: Record<string, { decodes: boolean; onImport: string; why: string }> = {
  // Input 0 spends P2PKH but carries a witness UTXO. Our parser checks a UTXO only against the input's redeem and
  // witness scripts, which this input has none of, so it reads the PSBT; the import refuses it as another
  // transaction than ours. Our own inputs' scripts come from the descriptor, never from a co-signer's UTXO fields.
  'A Witness UTXO is provided for a non-witness input': {
    decodes: true,
    onImport: 'PAYOUT_PSBT_DIFFERENT_TX',
    why: 'read, then refused by checkSignedPsbt as another transaction',
  },
  // The next three: @scure/btc-signer checks redeem and witness script hashes against the spent output while parsing,
  // so our parser refuses them already (the BIP would read them and leave the refusal to the signer).
  'redeemScript with non-witness UTXO does not match the scriptPubKey': {
    decodes: false,
    onImport: 'PAYOUT_PSBT_MALFORMED',
    why: 'wrong redeemScript hash, refused on reading',
  },
  'redeemScript with witness UTXO does not match the scriptPubKey': {
    decodes: false,
    onImport: 'PAYOUT_PSBT_MALFORMED',
    why: 'wrong redeemScript hash, refused on reading',
  },
  'witnessScript with witness UTXO does not match the redeemScript': {
    decodes: false,
    onImport: 'PAYOUT_PSBT_MALFORMED',
    why: 'wrong witnessScript hash, refused on reading',
  },
};

test('every "Fails Signer checks" case has an expected refusal (none is skipped)', () => {
  assert.deepEqual(vectors.failsSignerChecks.map((vector) => vector.name).sort(), Object.keys(SIGNER_CHECK_REFUSALS).sort());
});

for (const vector of vectors.failsSignerChecks) {
  const expected = SIGNER_CHECK_REFUSALS[vector.name];
  test(`BIP 174 fails signer checks: ${vector.name} → ${expected?.onImport ?? '?'} (${expected?.why ?? 'no expectation'})`, () => {
    if (!expected) throw new Error(`no expected refusal for "${vector.name}"`);
    const bytes = hex.decode(vector.hex);
    if (expected.decodes) {
      assert.deepEqual(decodePsbtText(vector.base64), bytes);
      assert.deepEqual(decodePsbtText(bytes), bytes);
    } else {
      assert.throws(() => decodePsbtText(bytes), code('PAYOUT_PSBT_MALFORMED'), 'as binary');
      assert.throws(() => decodePsbtText(vector.base64), code('PAYOUT_PSBT_MALFORMED'), 'as base64');
    }
    assert.throws(() => checkSignedPsbt(ours, vector.base64, wallet), code(expected.onImport), 'on import');
    assert.throws(() => checkSignedPsbt(ours, bytes, wallet), code(expected.onImport), 'on import, binary');
  });
}

test('our own payout PSBT, signed by a co-signer, passes the same import check (so the refusals above are the vectors’)', () => {
  assert.equal(checkSignedPsbt(ours, signWithScure(ours, 0), wallet).length, 1);
});

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
