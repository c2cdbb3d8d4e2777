// The wire-format parser against the genesis block and @scure/btc-signer, and the simulated chain's cues.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p2wpkh, Transaction } from '@scure/btc-signer';
import { parseBlock, parseTransaction, SimulatedChain } from '../../src/chain-adaptor/index.js';

const code = (expected: string) => (error: Error & { code?: string }) => error.code === expected && error.message.length > 10;

// Bitcoin's mainnet genesis block, as every node serves it.
const GENESIS =
  '0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c0101000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000';

test('the genesis block: its hash, its one transaction, 50 bitcoin', () => {
  const block = parseBlock(Buffer.from(GENESIS, 'hex'), 0);
  assert.equal(block.hash, '000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f');
  assert.equal(block.prevHash, '00'.repeat(32));
  assert.equal(block.time, 1231006505);
  assert.equal(block.txs.length, 1);
  assert.equal(block.txs[0]!.txid, '4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b');
  assert.equal(block.txs[0]!.outputs[0]!.value, 5_000_000_000);
  assert.deepEqual(block.txs[0]!.inputs, [{ prevTxid: '00'.repeat(32), prevVout: 0xffffffff }]);
});

test('a segwit transaction signed by @scure/btc-signer: same txid (witness left out), inputs and outputs', () => {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
  const spending = p2wpkh(secp256k1.getPublicKey(key, true));
  const tx = new Transaction({ allowUnknownOutputs: true });
  tx.addInput({ txid: 'ab'.repeat(32), index: 3, witnessUtxo: { script: spending.script, amount: 100_000n } });
  tx.addOutput({ script: spending.script, amount: 60_000n });
  tx.addOutput({ script: Uint8Array.from([0x6a, 0x01, 0x2a]), amount: 0n });
  tx.sign(key);
  tx.finalize();
  const parsed = parseTransaction(tx.extract());
  assert.equal(parsed.txid, tx.id);
  assert.deepEqual(parsed.inputs, [{ prevTxid: 'ab'.repeat(32), prevVout: 3 }]);
  assert.deepEqual(
    parsed.outputs.map((output) => [output.value, Buffer.from(output.script).toString('hex')]),
    [
      [60_000, Buffer.from(spending.script).toString('hex')],
      [0, '6a012a'],
    ],
  );
});

test('bytes that stop early, run on, or claim absurd counts are refused, naming where', () => {
  const genesis = Buffer.from(GENESIS, 'hex');
  assert.throws(() => parseBlock(genesis.subarray(0, 120), 0), code('CHAIN_ADAPTOR_MALFORMED'));
  assert.throws(() => parseBlock(Buffer.concat([genesis, Buffer.from([0])]), 0), code('CHAIN_ADAPTOR_MALFORMED'));
  assert.throws(() => parseBlock(genesis.subarray(0, 60), 0), code('CHAIN_ADAPTOR_MALFORMED'));
  const absurd = Buffer.from(genesis);
  absurd[80] = 0xff;
  assert.throws(() => parseBlock(absurd, 0), code('CHAIN_ADAPTOR_MALFORMED'));
  assert.throws(() => parseTransaction(Buffer.from('0200000001', 'hex')), code('CHAIN_ADAPTOR_MALFORMED'));
});

test('the simulated chain: a payment waits in the mempool, is mined, survives a reorg or vanishes with it', async () => {
  const chain = new SimulatedChain('regtest');
  const script = Uint8Array.from([0x00, 0x14, ...new Uint8Array(20).fill(7)]);
  const kept = chain.send([{ script, value: 75_000 }]);
  const dropped = chain.send([{ script, value: 1_000 }]);
  assert.deepEqual(await chain.mempool(), [kept, dropped]);
  const [first] = chain.mine(1);
  const block = await chain.block(first!);
  assert.deepEqual(
    block.txs.slice(1).map((tx) => tx.txid),
    [kept, dropped],
  );
  assert.equal(block.prevHash, await chain.blockHash(0));
  chain.reorg(1, [dropped]);
  const tip = await chain.tip();
  assert.equal(tip.height, 2);
  assert.notEqual(await chain.blockHash(1), first);
  const replayed = await chain.block(await chain.blockHash(1));
  assert.ok(replayed.txs.some((tx) => tx.txid === kept));
  assert.ok(!replayed.txs.some((tx) => tx.txid === dropped));
  await assert.rejects(chain.block(first!), code('CHAIN_ADAPTOR_NOT_FOUND'));
});

test('the simulated chain: a double spend takes the first payment’s place; offline, every call fails with a code', async () => {
  const chain = new SimulatedChain('regtest');
  const script = Uint8Array.from([0x51]);
  const first = chain.send([{ script, value: 5_000 }]);
  const second = chain.replace(first, [{ script, value: 4_000 }]);
  assert.deepEqual(await chain.mempool(), [second]);
  const [spentBoth] = (await chain.transaction(second))!.inputs;
  assert.deepEqual((await chain.transaction(first))!.inputs[0], spentBoth);
  chain.setAvailable(false);
  await assert.rejects(chain.tip(), code('CHAIN_ADAPTOR_UNAVAILABLE'));
  chain.setAvailable(true);
  assert.equal((await chain.tip()).height, 0);
});
