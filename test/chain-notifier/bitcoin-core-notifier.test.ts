// The ChainWatcher on a real regtest full node (bcoin, through the Bitcoin Core RPC adaptor): a payment seen,
// mined, reorged out and back in, double spent by a miner, and a watcher that dies mid-scan and resumes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BitcoinCoreAdaptor, type ChainAdaptor } from '../../src/chain-adaptor/index.js';
import { ChainWatcher, type PaymentEvent } from '../../src/chain-notifier/watcher.js';
import { NETWORKS, parseAddress } from '../../src/core/bitcoin/index.js';
import { ManualClock } from '../../src/core/clock.js';
import type { DatabaseHandle } from '../../src/core/storage/index.js';
import { startBcoin, type Bcoin } from '../helpers/bcoin.js';
import { sqliteFactory } from '../helpers/databases.js';
import { testDescriptor } from './watcher-cases.js';

const factory = sqliteFactory();
const clock = new ManualClock(Date.UTC(2026, 10, 27));
let node: Bcoin;
let adaptor: BitcoinCoreAdaptor;
let handle: DatabaseHandle;
let watcher: ChainWatcher;
let adaScript: Uint8Array;
let bobScript: Uint8Array;
const options = () => ({ adaptor, descriptor: testDescriptor(), gapLimit: 5, reorgLimit: 4 });
const kinds = (events: PaymentEvent[]) => events.map((event) => `${event.kind}:${event.output.owner_id}:${event.output.sats}`);

before(async () => {
  node = await startBcoin();
  await node.mine(450);
  adaptor = new BitcoinCoreAdaptor({ url: node.url, network: 'regtest', user: 'x', password: node.password, timeoutMs: 10_000 });
  await adaptor.connect();
  handle = await factory.create();
  watcher = await ChainWatcher.open(handle, clock, options());
  await watcher.sync();
  // The node prints addresses with its own regtest prefixes; scripts are what both sides agree on.
  adaScript = parseAddress((await watcher.depositAddress('ada')).address, NETWORKS.regtest).script;
  bobScript = parseAddress((await watcher.depositAddress('bob')).address, NETWORKS.regtest).script;
});
after(async () => {
  await node?.stop();
  await handle?.close();
  await factory.cleanup();
});

test('a real payment is seen in the mempool, then mined; one transaction paying two members gives each theirs', async () => {
  await node.pay([
    { script: adaScript, value: 150_000 },
    { script: bobScript, value: 60_000 },
  ]);
  assert.deepEqual(kinds(await watcher.sync()), ['seen:ada:150000', 'seen:bob:60000']);
  await node.mine(1);
  assert.deepEqual(kinds(await watcher.sync()), ['mined:ada:150000', 'mined:bob:60000']);
});

test('a reorg by invalidateblock undoes the block; the payment is mined again in the new chain', async () => {
  const txid = await node.pay([{ script: adaScript, value: 33_000 }]);
  const raw = (await node.rpc('getrawtransaction', [txid, false])) as string;
  await node.mine(1);
  await watcher.sync();
  const tip = await adaptor.tip();
  await node.rpc('invalidateblock', [tip.hash]);
  // As a wallet would after a reorg, the payment is sent again; the new chain mines it.
  await node.rpc('sendrawtransaction', [raw]).catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 200));
  await node.mine(2);
  const events = kinds(await watcher.sync());
  assert.deepEqual(events, ['reorged:ada:33000', 'mined:ada:33000']);
  const [row] = (await watcher.outputs({ ownerId: 'ada' })).filter((output) => output.sats === 33_000);
  assert.equal(row?.state, 'confirmed');
  assert.notEqual(row?.block_hash, tip.hash);
});

test('a miner double spends an unconfirmed payment: it is marked replaced', async () => {
  const first = await node.pay([{ script: bobScript, value: 45_000 }]);
  assert.deepEqual(kinds(await watcher.sync()), ['seen:bob:45000']);
  const elsewhere = Uint8Array.from([0x00, 0x14, ...new Uint8Array(20).fill(0xee)]);
  await node.mineConflicting(first, [{ script: elsewhere, value: 40_000 }]);
  assert.deepEqual(kinds(await watcher.sync()), ['replaced:bob:45000']);
});

test('a watcher that dies mid-scan resumes after the last block it finished: nothing lost, nothing twice', async () => {
  for (let n = 0; n < 6; n++) {
    await node.pay([{ script: adaScript, value: 1_000 + n }]);
    await node.mine(1);
  }
  let blocksLeft = 3;
  // The real node, with the process "killed" after three blocks.
  const dying: ChainAdaptor = {
    description: adaptor.description,
    network: adaptor.network,
    connect: () => adaptor.connect(),
    tip: () => adaptor.tip(),
    blockHash: (height) => adaptor.blockHash(height),
    block: async (hash) => {
      if (blocksLeft-- <= 0) throw new Error('the process was killed');
      return adaptor.block(hash);
    },
    transaction: (txid) => adaptor.transaction(txid),
    mempool: () => adaptor.mempool(),
    broadcast: (raw) => adaptor.broadcast(raw),
    estimateFee: (target) => adaptor.estimateFee(target),
    close: () => adaptor.close(),
  };
  const doomed = await ChainWatcher.open(handle, clock, { ...options(), adaptor: dying });
  await assert.rejects(doomed.sync(), /killed/);
  const resumed = await ChainWatcher.open(handle, clock, options());
  const events = kinds(await resumed.sync());
  assert.equal(events.length, 3, events.join(', '));
  const small = (await resumed.outputs({ ownerId: 'ada' })).filter((output) => output.sats < 2_000);
  assert.deepEqual(small.map((output) => output.sats).sort(), [1_000, 1_001, 1_002, 1_003, 1_004, 1_005]);
  assert.ok(small.every((output) => output.state === 'confirmed'));
});
