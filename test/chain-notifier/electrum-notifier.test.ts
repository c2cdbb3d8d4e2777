// The ChainWatcher over an Electrum server (a fake one speaking protocol 1.4 over a simulated chain): no whole
// blocks, only each watched script's history, and the server's notifications when a script's status changes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ElectrumAdaptor, SimulatedChain } from '../../src/chain-adaptor/index.js';
import { ChainWatcher, type PaymentEvent } from '../../src/chain-notifier/watcher.js';
import { NETWORKS, parseAddress } from '../../src/core/bitcoin/index.js';
import { ManualClock } from '../../src/core/clock.js';
import type { DatabaseHandle } from '../../src/core/storage/index.js';
import { genesisHeader, startFakeElectrum, type FakeElectrum } from '../chain-adaptor/electrum-server.js';
import { sqliteFactory } from '../helpers/databases.js';
import { testDescriptor } from './watcher-cases.js';

const factory = sqliteFactory();
const chain = new SimulatedChain('regtest');
let electrum: FakeElectrum;
let adaptor: ElectrumAdaptor;
let handle: DatabaseHandle;
let watcher: ChainWatcher;
let adaScript: Uint8Array;
let bobScript: Uint8Array;
const kinds = (events: PaymentEvent[]) => events.map((event) => `${event.kind}:${event.output.owner_id}:${event.output.sats}`);

/** A pass after the server has told its subscribers what changed, as a real one does after each block. */
async function pass(): Promise<PaymentEvent[]> {
  await electrum.notifyStatusChanges();
  await new Promise((resolve) => setTimeout(resolve, 50));
  return watcher.sync();
}

before(async () => {
  chain.mine(2);
  electrum = await startFakeElectrum(chain, genesisHeader('regtest'));
  adaptor = new ElectrumAdaptor({ host: electrum.host, port: electrum.port, tls: false, network: 'regtest', timeoutMs: 5_000 });
  await adaptor.connect();
  handle = await factory.create();
  watcher = await ChainWatcher.open(handle, new ManualClock(Date.UTC(2026, 10, 27)), {
    adaptor,
    descriptor: testDescriptor(),
    gapLimit: 3,
    reorgLimit: 3,
  });
  adaScript = parseAddress((await watcher.depositAddress('ada')).address, NETWORKS.regtest).script;
  bobScript = parseAddress((await watcher.depositAddress('bob')).address, NETWORKS.regtest).script;
  assert.deepEqual(await watcher.sync(), []);
});
after(async () => {
  await adaptor?.close();
  await electrum?.close();
  await handle?.close();
  await factory.cleanup();
});

test('a payment is seen in the mempool, then mined, with its confirmations from the tip', async () => {
  chain.send([
    { script: adaScript, value: 80_000 },
    { script: bobScript, value: 20_000 },
  ]);
  assert.deepEqual(kinds(await pass()), ['seen:ada:80000', 'seen:bob:20000']);
  assert.deepEqual(await pass(), [], 'nothing changed, nothing reported');
  chain.mine(1);
  assert.deepEqual(kinds(await pass()), ['mined:ada:80000', 'mined:bob:20000']);
  chain.mine(2);
  await pass();
  const [ada] = await watcher.outputs({ ownerId: 'ada' });
  assert.equal(await watcher.confirmations(ada!), 3);
});

test('a reorg that drops a payment: it is reorged; one mined again moves to its new block', async () => {
  const kept = chain.send([{ script: adaScript, value: 1_500 }]);
  const dropped = chain.send([{ script: bobScript, value: 2_500 }]);
  chain.mine(1);
  await pass();
  chain.reorg(1, [dropped]);
  const events = kinds(await pass());
  assert.ok(events.includes('reorged:bob:2500'), events.join(', '));
  assert.ok(events.includes('mined:ada:1500'), events.join(', '));
  const rows = await watcher.outputs();
  assert.equal(rows.find((row) => row.txid === kept)?.block_hash, await chain.blockHash((await chain.tip()).height - 1));
  assert.equal(rows.find((row) => row.txid === dropped)?.state, 'reorged');
});

test('a confirmed payment that a reorg sends back to the mempool is unconfirmed again', async () => {
  chain.send([{ script: bobScript, value: 6_600 }]);
  chain.mine(1);
  assert.deepEqual(kinds(await pass()), ['mined:bob:6600']);
  chain.reorg(1, [], { mineAgain: false });
  assert.deepEqual(kinds(await pass()), ['reorged:bob:6600']);
  const row = (await watcher.outputs({ ownerId: 'bob' })).find((output) => output.sats === 6_600)!;
  assert.deepEqual([row.state, await watcher.confirmations(row)], ['seen', 0]);
  chain.mine(1);
  assert.deepEqual(kinds(await pass()), ['mined:bob:6600']);
});

test('a double spend paying elsewhere leaves the payment out of the script history: it is no longer counted', async () => {
  const first = chain.send([{ script: adaScript, value: 9_000 }]);
  assert.deepEqual(kinds(await pass()), ['seen:ada:9000']);
  chain.replace(first, [{ script: Uint8Array.from([0x00, 0x14, ...new Uint8Array(20).fill(5)]), value: 8_000 }]);
  chain.mine(1);
  const events = kinds(await pass());
  assert.deepEqual(events, ['reorged:ada:9000']);
});

test('the server dropping the connection loses nothing: the next pass reconnects and catches up', async () => {
  electrum.dropConnections();
  chain.send([{ script: bobScript, value: 4_444 }]);
  chain.mine(1);
  const events = await pass().catch(async (error: Error & { code?: string }) => {
    assert.equal(error.code, 'CHAIN_ADAPTOR_UNAVAILABLE');
    return pass();
  });
  assert.ok(kinds(events).includes('mined:bob:4444'), kinds(events).join(', '));
});
