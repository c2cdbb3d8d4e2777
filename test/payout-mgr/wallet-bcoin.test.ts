// The payout wallet on a real regtest full node (bcoin, through the Bitcoin Core RPC adaptor): two addresses
// funded and seen in the mempool, mined, spent with two of the three test keys (change back to the wallet), and a
// reorg by invalidateblock undone and redone.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Transaction } from '@scure/btc-signer';
import { BitcoinCoreAdaptor, parseTransaction } from '../../src/chain-adaptor/index.js';
import { ManualClock } from '../../src/core/clock.js';
import type { DatabaseHandle } from '../../src/core/storage/index.js';
import { MultisigWallet, type SpendableCoin } from '../../src/payout-mgr/wallet.js';
import { startBcoin, type Bcoin } from '../helpers/bcoin.js';
import { sqliteFactory } from '../helpers/databases.js';
import { testWallet } from './wallet-cases.js';

const factory = sqliteFactory();
const clock = new ManualClock(Date.UTC(2026, 10, 27));
const keys = testWallet();
const ELSEWHERE = Uint8Array.from([0x00, 0x14, ...new Uint8Array(20).fill(0xee)]);
let node: Bcoin;
let adaptor: BitcoinCoreAdaptor;
let handle: DatabaseHandle;
let wallet: MultisigWallet;

before(async () => {
  node = await startBcoin();
  // Past segwit's activation on regtest, so the node relays a P2WSH spend.
  await node.mine(450);
  adaptor = new BitcoinCoreAdaptor({ url: node.url, network: 'regtest', user: 'x', password: node.password, timeoutMs: 10_000 });
  await adaptor.connect();
  handle = await factory.create();
  wallet = await MultisigWallet.open(handle, clock, {
    adaptor,
    descriptor: keys.descriptor,
    gapLimit: 10,
    reorgLimit: 4,
    birthHeight: (await adaptor.tip()).height,
  });
  await wallet.sync();
});
after(async () => {
  await node?.stop();
  await handle?.close();
  await factory.cleanup();
});

/** Syncs until `done` holds: bcoin takes a moment to show what it was given. */
async function syncUntil(done: () => Promise<boolean>): Promise<string[]> {
  const changed = new Set<string>();
  for (let attempt = 0; attempt < 50; attempt++) {
    for (const txid of await wallet.sync()) changed.add(txid);
    if (await done()) return [...changed];
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the wallet did not reach the expected state');
}

/** Spends `coin` with co-signers 0 and 2: `sats` elsewhere, the rest less a fee to the wallet's next change address. */
async function spendWithTwoKeys(coin: SpendableCoin, sats: number): Promise<{ hex: string; changeSats: number }> {
  const derived = keys.descriptor.derive(coin.chain, coin.index);
  const change = await wallet.nextChange();
  const changeSats = coin.value - sats - 2_000;
  const tx = new Transaction({ version: 2 });
  tx.addInput({
    txid: coin.txid,
    index: coin.vout,
    witnessUtxo: { script: derived.script, amount: BigInt(coin.value) },
    witnessScript: derived.witnessScript!,
  });
  tx.addOutput({ script: ELSEWHERE, amount: BigInt(sats) });
  tx.addOutput({ script: change.script, amount: BigInt(changeSats) });
  tx.signIdx(keys.privateKey(0, coin.chain, coin.index), 0);
  tx.signIdx(keys.privateKey(2, coin.chain, coin.index), 0);
  tx.finalize();
  return { hex: tx.hex, changeSats };
}

test('two funded addresses are seen in the mempool, then confirmed', async () => {
  const first = await wallet.nextReceive();
  const second = await wallet.nextReceive();
  const txid = await node.pay([
    { script: first.script, value: 150_000 },
    { script: second.script, value: 60_000 },
  ]);
  const seen = await syncUntil(async () => (await wallet.balance()).unconfirmedSats === 210_000);
  assert.deepEqual(seen, [txid]);
  assert.deepEqual(await wallet.balance(), { confirmedSats: 0, unconfirmedSats: 210_000, coinCount: 2 });
  assert.deepEqual(await wallet.status(txid), { state: 'mempool', height: null, confirmations: 0 });

  const [hash] = await node.mine(1);
  assert.deepEqual(await wallet.sync(), [txid]);
  assert.deepEqual(wallet.processedTip(), await adaptor.tip());
  assert.equal(wallet.processedTip()?.hash, hash);
  assert.deepEqual(await wallet.balance(), { confirmedSats: 210_000, unconfirmedSats: 0, coinCount: 2 });
  assert.deepEqual((await wallet.coins()).map((coin) => `${coin.chain}/${coin.index}:${coin.value}`).sort(), [
    '0/0:150000',
    '0/1:60000',
  ]);
});

test('a spend signed by two of the three keys: the coin is gone once noted, the change counts unconfirmed, then mined', async () => {
  const coin = (await wallet.coins()).find((candidate) => candidate.value === 150_000)!;
  const { hex, changeSats } = await spendWithTwoKeys(coin, 100_000);
  const txid = await adaptor.broadcast(hex);
  await wallet.noteSent(parseTransaction(Buffer.from(hex, 'hex')));
  assert.deepEqual((await wallet.coins({ minConfirmations: 0 })).map((c) => `${c.chain}/${c.index}:${c.value}`).sort(), [
    `0/1:60000`,
    `1/0:${changeSats}`,
  ]);
  await syncUntil(async () => (await adaptor.mempool()).includes(txid));
  assert.deepEqual(await wallet.status(txid), { state: 'mempool', height: null, confirmations: 0 });
  await node.mine(1);
  assert.deepEqual(await wallet.sync(), [txid]);
  assert.deepEqual(await wallet.balance(), { confirmedSats: 60_000 + changeSats, unconfirmedSats: 0, coinCount: 2 });
  assert.equal((await wallet.status(txid)).confirmations, 1);
});

test('a reorg by invalidateblock undoes the block; the transaction is mined again in the new chain', async () => {
  const receive = await wallet.nextReceive();
  const txid = await node.pay([{ script: receive.script, value: 33_000 }]);
  const raw = (await node.rpc('getrawtransaction', [txid, false])) as string;
  await node.mine(1);
  await wallet.sync();
  const old = wallet.processedTip()!;
  const before = await wallet.balance();
  await node.rpc('invalidateblock', [old.hash]);
  // As a wallet would after a reorg, the payment is sent again (bcoin may have put it back already).
  await node.rpc('sendrawtransaction', [raw]).catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 200));
  await node.mine(2);
  const changed = await wallet.sync();
  assert.ok(changed.includes(txid), `the reorged payment is reported: ${JSON.stringify(changed)}`);
  const status = await wallet.status(txid);
  assert.equal(status.state, 'mined');
  assert.equal(status.height, old.height);
  assert.notEqual(wallet.processedTip()?.hash, old.hash);
  assert.deepEqual(wallet.processedTip(), await adaptor.tip());
  assert.deepEqual(await wallet.balance(), before);
});
