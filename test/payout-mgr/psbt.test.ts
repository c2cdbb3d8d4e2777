// Payout PSBTs on the 2-of-3 test wallet: what is built, signing with @scure/btc-signer and bitcoinjs-lib, the checks
// on a co-signer's PSBT, combining, finalizing, and every bad input refused with its code.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { base64, hex } from '@scure/base';
import { p2pkh, p2wpkh, Transaction } from '@scure/btc-signer';
import { RawPSBTV0 } from '@scure/btc-signer/psbt.js';
import { Psbt } from 'bitcoinjs-lib';
import { addressFromScript, HARDENED_OFFSET, parseDescriptor } from '../../src/core/bitcoin/index.js';
import { estimateVsize } from '../../src/payout-mgr/coin-selection.js';
import {
  buildPayoutPsbt,
  checkSignedPsbt,
  combineSignatures,
  decodePsbtText,
  finalizePsbt,
  signatureCounts,
  type BuildRequest,
  type PayoutOutputSpec,
  type SpendableCoin,
} from '../../src/payout-mgr/psbt.js';
import { createRequire } from 'node:module';
import { COSIGNERS, OUTSIDER, signWithBitcoinjs, signWithScure, testWallet, validateWithBitcoinjs } from './keys.js';

const wallet = testWallet();
const network = wallet.network;
const SHAPE = { threshold: 2, keyCount: 3 };
const H = HARDENED_OFFSET;

/** The parts of bcoin (untyped) used to run its script interpreter over a finalized transaction. */
interface BcoinScripts {
  TX: { fromRaw(raw: Buffer): { inputs: { prevout: unknown }[]; verify(view: unknown): boolean } };
  CoinView: new () => { addOutput(prevout: unknown, output: unknown): void };
  Output: new (options: { script: unknown; value: number }) => unknown;
  Script: { fromRaw(raw: Buffer): unknown };
}
const bcoin = createRequire(import.meta.url)('bcoin') as BcoinScripts;

/** bcoin's consensus script check of every input of `rawTxHex`, given the outputs it spends. */
function verifiesWithBcoin(rawTxHex: string, spent: { script: Uint8Array; value: number }[]): boolean {
  const tx = bcoin.TX.fromRaw(Buffer.from(rawTxHex, 'hex'));
  const view = new bcoin.CoinView();
  tx.inputs.forEach((input, index) => {
    const coin = spent[index];
    if (!coin) throw new Error(`no spent output for input ${index}`);
    view.addOutput(
      input.prevout,
      new bcoin.Output({ script: bcoin.Script.fromRaw(Buffer.from(coin.script)), value: coin.value }),
    );
  });
  return tx.verify(view);
}

const code = (expected: string, text?: RegExp) => (error: Error & { code?: string }) => {
  assert.equal(error.code, expected, error.message);
  if (text) assert.match(error.message, text);
  return true;
};

function coin(index: number, value: number, confirmations = 6, chain = 0): SpendableCoin {
  const output = wallet.derive(chain, index);
  return {
    txid: hex.encode(sha256(new TextEncoder().encode(`funding ${chain}/${index}/${value}`))),
    vout: index % 3,
    value,
    chain,
    index,
    scriptHex: output.scriptHex,
    height: confirmations > 0 ? 200 - confirmations : null,
    confirmations,
  };
}

function payTo(seed: number, sats: number): PayoutOutputSpec {
  const pubkey = secp256k1.getPublicKey(
    Uint8Array.from({ length: 32 }, (_, i) => (i === 31 ? seed : 7)),
    true,
  );
  const script = p2wpkh(pubkey, network).script;
  return { script, sats, address: addressFromScript(script, network) };
}

function request(overrides: Partial<BuildRequest> = {}): BuildRequest {
  return {
    descriptor: wallet,
    coins: [coin(0, 150_000), coin(1, 80_000), coin(2, 40_000)],
    outputs: [payTo(1, 100_000)],
    feeRateSatPerVb: 5,
    change: wallet.derive(1, 0),
    locktime: 250,
    ...overrides,
  };
}

/** Co-signers 0 (scure) and 2 (bitcoinjs) sign a fresh payout PSBT spending two coins. */
function signedPair() {
  const built = buildPayoutPsbt(request({ outputs: [payTo(1, 200_000)] }));
  assert.equal(built.inputs.length, 2);
  return { built, first: signWithScure(built.psbt, 0), second: signWithBitcoinjs(built.psbt, 2) };
}

/** Adds a partial signature made by hand (any key, any sighash type) to input `index`. */
function addSignature(psbt: Uint8Array, index: number, privateKey: Uint8Array, sighashType = 0x01): Uint8Array {
  const tx = Transaction.fromPSBT(psbt);
  const input = tx.getInput(index);
  if (!input.witnessScript || !input.witnessUtxo) throw new Error('no witness data');
  const hash = tx.preimageWitnessV0(index, input.witnessScript, sighashType, input.witnessUtxo.amount);
  const der = secp256k1.sign(hash, privateKey, { prehash: false, format: 'der' });
  const pubkey = secp256k1.getPublicKey(privateKey, true);
  tx.updateInput(index, { partialSig: [[pubkey, Uint8Array.from([...der, sighashType])]] }, true);
  return tx.toPSBT();
}

/** Replaces the partial signatures of input `index` through `edit`, bypassing every check. */
function editSignatures(psbt: Uint8Array, index: number, edit: (signature: Uint8Array) => Uint8Array): Uint8Array {
  const raw = RawPSBTV0.decode(psbt);
  const inputs = raw.inputs.map((input, at) =>
    at === index
      ? { ...input, partialSig: input.partialSig?.map(([key, sig]) => [key, edit(sig)] as [Uint8Array, Uint8Array]) }
      : input,
  );
  return RawPSBTV0.encode({ ...raw, inputs: inputs as typeof raw.inputs });
}

function cosignerKey(k: number, chain: number, index: number): Uint8Array {
  const key = COSIGNERS[k]?.account.deriveChild(chain).deriveChild(index).privateKey;
  if (!key) throw new Error('no key');
  return key;
}

test('a payout PSBT carries, per input, the witness UTXO, witness script and the derivation of every key', () => {
  const built = buildPayoutPsbt(request());
  const tx = Transaction.fromPSBT(built.psbt);
  assert.equal(tx.version, 2);
  assert.equal(tx.lockTime, 250);
  assert.equal(built.inputs.length, tx.inputsLength);
  const fingerprints = COSIGNERS.map((cosigner) => cosigner.master.fingerprint).sort();
  for (let index = 0; index < tx.inputsLength; index++) {
    const input = tx.getInput(index);
    assert.equal(input.sequence, 0xfffffffd);
    assert.ok(input.witnessUtxo && input.witnessScript);
    assert.equal(input.bip32Derivation?.length, 3);
    const origins = input.bip32Derivation.map(([, origin]) => origin);
    assert.deepEqual(origins.map((origin) => origin.fingerprint).sort(), fingerprints);
    for (const origin of origins) assert.deepEqual(origin.path.slice(0, 4), [48 + H, 1 + H, 0 + H, 2 + H]);
  }
  assert.equal(built.txid, tx.id);
  assert.equal(built.base64, base64.encode(built.psbt));
});

test('the change output has its witness script and key derivations on chain 1, and three global xpubs with origins', () => {
  const built = buildPayoutPsbt(request());
  assert.notEqual(built.changeIndex, null);
  const tx = Transaction.fromPSBT(built.psbt);
  const change = tx.getOutput(built.changeIndex ?? -1);
  assert.equal(hex.encode(change.script ?? new Uint8Array()), wallet.derive(1, 0).scriptHex);
  assert.equal(change.amount, BigInt(built.changeSats));
  assert.equal(change.bip32Derivation?.length, 3);
  for (const [, origin] of change.bip32Derivation ?? []) assert.deepEqual(origin.path.slice(4), [1, 0]);
  assert.ok(change.witnessScript);

  const xpubs = RawPSBTV0.decode(built.psbt).global.xpub ?? [];
  assert.equal(xpubs.length, 3);
  for (const [xpub, origin] of xpubs) {
    const cosigner = COSIGNERS.find((candidate) => candidate.master.fingerprint === origin.fingerprint);
    assert.ok(cosigner, 'each global xpub names a co-signer fingerprint');
    assert.deepEqual(origin.path, [48 + H, 1 + H, 0 + H, 2 + H]);
    assert.equal(xpub.depth, 4);
    assert.deepEqual(xpub.publicKey, cosigner.account.publicKey);
  }
  // bitcoinjs-lib reads the same fields: what a desktop or hardware wallet needs to verify the change.
  const theirs = Psbt.fromBuffer(built.psbt);
  assert.equal(theirs.data.globalMap.globalXpub?.length, 3);
  assert.equal(theirs.data.outputs[built.changeIndex ?? -1]?.bip32Derivation?.length, 3);
  assert.equal(theirs.data.inputs[0]?.bip32Derivation?.length, 3);
});

test('the fee is the rate times the estimated vsize, which is never below the size of the signed transaction', () => {
  const built = buildPayoutPsbt(request({ feeRateSatPerVb: 7.5 }));
  const inputSats = built.inputs.reduce((sum, input) => sum + input.value, 0);
  assert.equal(built.feeSats, Math.ceil(7.5 * built.vsize));
  assert.equal(inputSats - 100_000 - built.changeSats, built.feeSats);
  const scripts = [payTo(1, 1).script, wallet.derive(1, 0).script];
  assert.equal(built.vsize, estimateVsize(SHAPE, built.inputs.length, scripts));
  const combined = combineSignatures(built.psbt, [signWithScure(built.psbt, 0), signWithScure(built.psbt, 1)], wallet);
  const final = Transaction.fromRaw(hex.decode(finalizePsbt(combined, 2).rawTxHex));
  assert.ok(final.vsize <= built.vsize, `real ${final.vsize} vB ≤ estimated ${built.vsize} vB`);
  assert.ok(final.vsize >= built.vsize - built.inputs.length, 'the estimate is at most a byte or so per input too high');
});

test('coins are chosen deterministically, confirmed before unconfirmed, in BIP 69 order', () => {
  const big = coin(5, 500_000, 0);
  const confirmed = [coin(3, 70_000), coin(4, 60_000)];
  const built = buildPayoutPsbt(request({ coins: [big, ...confirmed], outputs: [payTo(1, 100_000)] }));
  assert.deepEqual(built.inputs.map((input) => input.value).sort(), [60_000, 70_000]);
  const sorted = [...built.inputs].sort((a, b) => (a.txid < b.txid ? -1 : a.txid > b.txid ? 1 : a.vout - b.vout));
  assert.deepEqual(built.inputs, sorted);
  const again = buildPayoutPsbt(request({ coins: [...confirmed].reverse().concat(big), outputs: [payTo(1, 100_000)] }));
  assert.deepEqual(again.psbt, built.psbt);
  const needsUnconfirmed = buildPayoutPsbt(request({ coins: [big, ...confirmed], outputs: [payTo(1, 200_000)] }));
  assert.ok(needsUnconfirmed.inputs.some((input) => input.value === 500_000));
});

test('change below the dust limit goes to the fee: no change output', () => {
  const fee = Math.ceil(5 * estimateVsize(SHAPE, 1, [payTo(1, 1).script]));
  const built = buildPayoutPsbt(request({ coins: [coin(7, 100_000 + fee + 200)] }));
  assert.equal(built.changeSats, 0);
  assert.equal(built.changeIndex, null);
  assert.equal(built.feeSats, fee + 200);
  assert.equal(Transaction.fromPSBT(built.psbt).outputsLength, 1);
});

test('batched payouts keep their order, with the change among them', () => {
  const outputs = [payTo(1, 30_000), payTo(2, 40_000), payTo(3, 50_000)];
  const built = buildPayoutPsbt(request({ outputs }));
  const tx = Transaction.fromPSBT(built.psbt);
  assert.equal(tx.outputsLength, 4);
  const payouts = [0, 1, 2, 3].filter((index) => index !== built.changeIndex).map((index) => tx.getOutput(index));
  assert.deepEqual(
    payouts.map((output) => [hex.encode(output.script ?? new Uint8Array()), output.amount]),
    outputs.map((output) => [hex.encode(output.script), BigInt(output.sats)]),
  );
});

test('a payout below the dust limit of its script type is refused', () => {
  const legacy = p2pkh(
    secp256k1.getPublicKey(
      Uint8Array.from({ length: 32 }, () => 9),
      true,
    ),
    network,
  ).script;
  const dust = { script: legacy, sats: 545, address: addressFromScript(legacy, network) };
  assert.throws(() => buildPayoutPsbt(request({ outputs: [dust] })), code('PAYOUT_DUST_OUTPUT', /545 sats .* 546 sats/));
  assert.throws(() => buildPayoutPsbt(request({ outputs: [payTo(1, 293)] })), code('PAYOUT_DUST_OUTPUT', /294 sats/));
  assert.doesNotThrow(() => buildPayoutPsbt(request({ outputs: [{ ...dust, sats: 546 }, payTo(1, 294)] })));
});

test('not enough coins: PAYOUT_INSUFFICIENT_FUNDS says what is needed and what is spendable', () => {
  assert.throws(
    () => buildPayoutPsbt(request({ outputs: [payTo(1, 300_000)] })),
    code('PAYOUT_INSUFFICIENT_FUNDS', /needed 30\d{4} sats incl\. fee, spendable 270000 sats/),
  );
  assert.throws(() => buildPayoutPsbt(request({ coins: [] })), code('PAYOUT_INSUFFICIENT_FUNDS', /spendable 0 sats/));
});

test('scure and bitcoinjs-lib signatures are checked, combined and finalized into a valid transaction', () => {
  const { built, first, second } = signedPair();
  const inputs = built.inputs.length;
  const fromFirst = checkSignedPsbt(built.psbt, first, wallet);
  assert.equal(fromFirst.length, inputs);
  assert.ok(fromFirst.every((found) => found.fingerprint === COSIGNERS[0]?.fingerprint));
  const fromSecond = checkSignedPsbt(built.psbt, base64.encode(second), wallet);
  assert.ok(fromSecond.every((found) => found.fingerprint === COSIGNERS[2]?.fingerprint));

  const half = combineSignatures(built.psbt, [first], wallet);
  assert.deepEqual(signatureCounts(half), Array(inputs).fill(1));
  assert.throws(
    () => finalizePsbt(half, 2),
    code('PAYOUT_PSBT_NOT_ENOUGH_SIGNATURES', /input 0 has 1, input 1 has 1 of the 2 signatures/),
  );

  const combined = combineSignatures(half, [base64.encode(second)], wallet);
  assert.deepEqual(signatureCounts(combined), Array(inputs).fill(2));
  assert.ok(validateWithBitcoinjs(combined), 'bitcoinjs-lib verifies every signature too');
  // Our other fields are kept: the global xpubs survive combining.
  assert.equal(RawPSBTV0.decode(combined).global.xpub?.length, 3);

  const { rawTxHex, txid } = finalizePsbt(combined, 2);
  assert.equal(txid, built.txid, 'segwit: the unsigned txid is the final one');
  const spent = built.inputs.map((input) => {
    const owned = request().coins.find((candidate) => candidate.txid === input.txid);
    return { script: hex.decode(owned?.scriptHex ?? ''), value: input.value };
  });
  assert.ok(verifiesWithBcoin(rawTxHex, spent), 'bcoin runs the scripts: the transaction is valid');
  const [firstSpent, ...rest] = spent;
  if (firstSpent) assert.equal(verifiesWithBcoin(rawTxHex, [{ ...firstSpent, value: firstSpent.value + 1 }, ...rest]), false);
  const theirs = Psbt.fromBuffer(combined);
  theirs.finalizeAllInputs();
  assert.equal(theirs.extractTransaction().toHex(), rawTxHex, 'bitcoinjs-lib finalizes to the same bytes');
  const final = Transaction.fromRaw(hex.decode(rawTxHex));
  for (let index = 0; index < final.inputsLength; index++) {
    const witness = final.getInput(index).finalScriptWitness ?? [];
    assert.equal(witness.length, 4, 'empty item, two signatures, witness script');
  }
});

test('combining the same co-signer twice counts its signature once', () => {
  const { built, first } = signedPair();
  const again = signWithBitcoinjs(built.psbt, 0);
  const combined = combineSignatures(built.psbt, [first, again], wallet);
  assert.deepEqual(signatureCounts(combined), Array(built.inputs.length).fill(1));
});

test('a signer that returns a finalized PSBT: the signatures are taken out of the final witness', () => {
  const { built, first, second } = signedPair();
  const theirs = Psbt.fromBuffer(combineSignatures(built.psbt, [first, second], wallet));
  theirs.finalizeAllInputs();
  const found = checkSignedPsbt(built.psbt, theirs.toBuffer(), wallet);
  assert.equal(found.length, built.inputs.length * 2);
  const fingerprints = new Set(found.map((signature) => signature.fingerprint));
  assert.deepEqual([...fingerprints].sort(), [COSIGNERS[0]?.fingerprint, COSIGNERS[2]?.fingerprint].sort());
  const combined = combineSignatures(built.psbt, [theirs.toBuffer()], wallet);
  assert.deepEqual(signatureCounts(combined), Array(built.inputs.length).fill(2));
  assert.equal(finalizePsbt(combined, 2).txid, built.txid);
  assert.deepEqual(signatureCounts(theirs.toBuffer()), Array(built.inputs.length).fill(2));
});

test('a signed PSBT for a different transaction is refused', () => {
  const built = buildPayoutPsbt(request());
  const other = buildPayoutPsbt(request({ outputs: [payTo(1, 90_000)] }));
  assert.throws(
    () => checkSignedPsbt(built.psbt, signWithScure(other.psbt, 0), wallet),
    code('PAYOUT_PSBT_DIFFERENT_TX', /output \d: 100000 sats to bcrt1\w+ became 90000 sats/),
  );
  const relocked = buildPayoutPsbt(request({ locktime: 251 }));
  assert.throws(
    () => checkSignedPsbt(built.psbt, signWithScure(relocked.psbt, 0), wallet),
    code('PAYOUT_PSBT_DIFFERENT_TX', /locktime 250 became 251/),
  );
  const fewer = buildPayoutPsbt(request({ coins: [coin(9, 400_000)] }));
  assert.throws(
    () => checkSignedPsbt(built.psbt, signWithScure(fewer.psbt, 0), wallet),
    code('PAYOUT_PSBT_DIFFERENT_TX', /input/),
  );
});

test('a changed output is refused and named: which one, old and new amount and address', () => {
  const built = buildPayoutPsbt(request());
  const payoutIndex = built.changeIndex === 0 ? 1 : 0;
  const thief = payTo(99, 100_000);
  const tampered = Transaction.fromPSBT(built.psbt);
  tampered.updateOutput(payoutIndex, { script: thief.script });
  assert.throws(
    () => checkSignedPsbt(built.psbt, signWithScure(tampered.toPSBT(), 1), wallet),
    code(
      'PAYOUT_PSBT_DIFFERENT_TX',
      new RegExp(`output ${payoutIndex}: 100000 sats to ${payTo(1, 1).address} became 100000 sats to ${thief.address}`),
    ),
  );
});

test('a changed fee (an input amount changed under the signer) is refused', () => {
  const built = buildPayoutPsbt(request());
  const tx = Transaction.fromPSBT(built.psbt);
  const input = tx.getInput(0);
  const amount = (input.witnessUtxo?.amount ?? 0n) + 50_000n;
  tx.updateInput(0, { witnessUtxo: { script: input.witnessUtxo?.script ?? new Uint8Array(), amount } });
  assert.throws(
    () => checkSignedPsbt(built.psbt, signWithScure(tx.toPSBT(), 0), wallet),
    code('PAYOUT_PSBT_DIFFERENT_TX', /input 0: amount \d+ sats became \d+ sats/),
  );
});

test('a signature from a key outside the wallet is refused, naming input and key', () => {
  const { built, first } = signedPair();
  const foreignKey = OUTSIDER.account.deriveChild(0).deriveChild(0).privateKey;
  if (!foreignKey) throw new Error('no key');
  const withForeign = addSignature(first, 0, foreignKey);
  const pubkeyHex = hex.encode(secp256k1.getPublicKey(foreignKey, true));
  assert.throws(
    () => checkSignedPsbt(built.psbt, withForeign, wallet),
    code('PAYOUT_PSBT_FOREIGN_SIGNATURE', new RegExp(`input 0 .*${pubkeyHex}`)),
  );
  assert.throws(() => combineSignatures(built.psbt, [first, withForeign], wallet), code('PAYOUT_PSBT_FOREIGN_SIGNATURE'));
});

test('a garbled signature, a high-S one and one over other data are refused as bad signatures', () => {
  const { built, first } = signedPair();
  const garbled = editSignatures(first, 0, (signature) => {
    const copy = Uint8Array.from(signature);
    copy[10] = (copy[10] ?? 0) ^ 0x01;
    return copy;
  });
  assert.throws(() => checkSignedPsbt(built.psbt, garbled, wallet), code('PAYOUT_PSBT_BAD_SIGNATURE', /input 0/));

  const highS = editSignatures(first, 0, (signature) => {
    const parsed = secp256k1.Signature.fromBytes(signature.subarray(0, -1), 'der');
    const flipped = new secp256k1.Signature(parsed.r, secp256k1.Point.CURVE().n - parsed.s);
    return Uint8Array.from([...flipped.toBytes('der'), 0x01]);
  });
  assert.throws(() => checkSignedPsbt(built.psbt, highS, wallet), code('PAYOUT_PSBT_BAD_SIGNATURE'));

  const notDer = editSignatures(first, 0, () => Uint8Array.from([0x30, 0x02, 0x01, 0x01]));
  assert.throws(() => checkSignedPsbt(built.psbt, notDer, wallet), code('PAYOUT_PSBT_BAD_SIGNATURE', /DER|verify/));

  // Co-signer 0's own key on input 0, but signing another transaction (other locktime): the right key over other data.
  const elsewhere = buildPayoutPsbt(request({ locktime: 999 }));
  const signedElsewhere = Transaction.fromPSBT(signWithScure(elsewhere.psbt, 0)).getInput(0).partialSig?.[0];
  const replayed = editSignatures(first, 0, (signature) => signedElsewhere?.[1] ?? signature);
  assert.throws(() => checkSignedPsbt(built.psbt, replayed, wallet), code('PAYOUT_PSBT_BAD_SIGNATURE', /does not verify/));

  // A valid signature copied onto another input, whose keys are other derivations: not a key of that input.
  const tx = Transaction.fromPSBT(first);
  const [pubkey, signature] = tx.getInput(0).partialSig?.[0] ?? [];
  const raw = RawPSBTV0.decode(first);
  const moved = raw.inputs.map((input, index) =>
    index === 1 && pubkey && signature ? { ...input, partialSig: [[pubkey, signature]] } : input,
  );
  const swapped = RawPSBTV0.encode({ ...raw, inputs: moved as typeof raw.inputs });
  assert.throws(() => checkSignedPsbt(built.psbt, swapped, wallet), code('PAYOUT_PSBT_FOREIGN_SIGNATURE', /input 1/));
});

test('a signature with another sighash type than SIGHASH_ALL is refused', () => {
  const built = buildPayoutPsbt(request({ coins: [coin(0, 150_000)] }));
  const anyoneCanPay = addSignature(built.psbt, 0, cosignerKey(0, 0, 0), 0x81);
  assert.throws(() => checkSignedPsbt(built.psbt, anyoneCanPay, wallet), code('PAYOUT_PSBT_BAD_SIGNATURE', /sighash type 0x81/));
  const single = addSignature(built.psbt, 0, cosignerKey(1, 0, 0), 0x03);
  assert.throws(() => checkSignedPsbt(built.psbt, single, wallet), code('PAYOUT_PSBT_BAD_SIGNATURE', /0x03/));
  const asked = Transaction.fromPSBT(built.psbt);
  asked.updateInput(0, { sighashType: 0x83 });
  assert.throws(() => checkSignedPsbt(built.psbt, asked.toPSBT(), wallet), code('PAYOUT_PSBT_BAD_SIGNATURE', /sighash type 131/));
  const good = addSignature(built.psbt, 0, cosignerKey(1, 0, 0));
  assert.equal(checkSignedPsbt(built.psbt, good, wallet).length, 1);
});

test('malformed PSBT text or bytes are refused with PAYOUT_PSBT_MALFORMED', () => {
  const built = buildPayoutPsbt(request());
  const hostile: [string, string | Uint8Array][] = [
    ['empty text', ''],
    ['whitespace', '  \n'],
    ['not base64', 'this is not a psbt!'],
    ['base64 of something else', base64.encode(new TextEncoder().encode('hello world, no psbt'))],
    ['truncated base64', built.base64.slice(0, 120)],
    ['truncated bytes', built.psbt.subarray(0, built.psbt.length - 5)],
    ['magic only', hex.decode('70736274ff')],
    ['a raw transaction', hex.decode('0200000000000000000000')],
    ['random bytes', sha256(new Uint8Array([1]))],
    ['trailing garbage', Uint8Array.from([...built.psbt, 0x01, 0x02])],
  ];
  for (const [name, input] of hostile) {
    assert.throws(() => decodePsbtText(input), code('PAYOUT_PSBT_MALFORMED'), name);
    assert.throws(() => checkSignedPsbt(built.psbt, input, wallet), code('PAYOUT_PSBT_MALFORMED'), name);
  }
  assert.throws(() => signatureCounts(hex.decode('70736274ff00')), code('PAYOUT_PSBT_MALFORMED'));
  assert.throws(() => finalizePsbt(new Uint8Array(10), 2), code('PAYOUT_PSBT_MALFORMED'));
});

test('decodePsbtText takes base64 (with line breaks), hex, binary, and a .psbt file holding base64 text', () => {
  const built = buildPayoutPsbt(request());
  const wrapped = built.base64.replace(/(.{64})/g, '$1\n');
  assert.deepEqual(decodePsbtText(wrapped), built.psbt);
  assert.deepEqual(decodePsbtText(hex.encode(built.psbt)), built.psbt);
  assert.deepEqual(decodePsbtText(built.psbt), built.psbt);
  assert.deepEqual(decodePsbtText(new TextEncoder().encode(`${built.base64}\n`)), built.psbt);
});

test('finalizing refuses a stored PSBT whose signature was damaged', () => {
  const { built, first, second } = signedPair();
  const combined = combineSignatures(built.psbt, [first, second], wallet);
  const damaged = editSignatures(combined, 0, (signature) => {
    const copy = Uint8Array.from(signature);
    copy[12] = (copy[12] ?? 0) ^ 0x40;
    return copy;
  });
  assert.throws(() => finalizePsbt(damaged, 2), code('PAYOUT_PSBT_BAD_SIGNATURE', /input 0/));
});

test('a descriptor that is no wsh multisig cannot build payout PSBTs', () => {
  const cosigner = COSIGNERS[0];
  if (!cosigner) throw new Error('no co-signer');
  const single = parseDescriptor(`wpkh([${cosigner.fingerprint}/48h/1h/0h/2h]${cosigner.tpub}/<0;1>/*)`, network);
  assert.throws(() => buildPayoutPsbt(request({ descriptor: single })), code('PAYOUT_CONFIG_INVALID', /wsh/));
});
