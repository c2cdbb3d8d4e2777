// The ChainWatcher against the simulated chain: every kind of payment event, reorgs, double spends, restarts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HDKey } from '@scure/bip32';
import { SimulatedChain } from '../../src/chain-adaptor/index.js';
import { NETWORKS, parseDescriptor, parseAddress } from '../../src/core/bitcoin/index.js';
import { ManualClock } from '../../src/core/clock.js';
import type { DatabaseHandle } from '../../src/core/storage/index.js';
import { ChainWatcher, type PaymentEvent } from '../../src/chain-notifier/watcher.js';
import type { DatabaseFactory } from '../helpers/databases.js';

const code = (expected: string) => (error: Error & { code?: string }) => error.code === expected && error.message.length > 10;
/** A watch-only account key for the tests; its private half stays in this test. */
export const testDescriptor = () => {
  const account = HDKey.fromMasterSeed(new Uint8Array(32).fill(9), { private: 0x04358394, public: 0x043587cf }).derive(
    "m/84'/1'/0'",
  );
  return parseDescriptor(`wpkh(${account.publicExtendedKey}/0/*)`, NETWORKS.regtest);
};
const describeEvents = (events: PaymentEvent[]) =>
  events.map((event) => `${event.kind}:${event.output.owner_id ?? '-'}:${event.output.sats}`);

export function runWatcherCases(name: string, factory: DatabaseFactory): void {
  describe(`chain watcher: ${name}`, () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 27));
    const chain = new SimulatedChain('regtest');
    const descriptor = testDescriptor();
    const options = { adaptor: chain, descriptor, gapLimit: 5, reorgLimit: 3 };
    let handle: DatabaseHandle;
    let watcher: ChainWatcher;
    const scriptOf = (address: string) => parseAddress(address, NETWORKS.regtest).script;

    before(async () => {
      handle = await factory.create();
      chain.mine(3);
      watcher = await ChainWatcher.open(handle, clock, options);
      assert.deepEqual(await watcher.sync(), []);
    });
    after(async () => {
      await handle.close();
      await factory.cleanup();
    });

    test('each member gets one deposit address, always the same, in derivation order', async () => {
      const ada = await watcher.depositAddress('ada');
      const bob = await watcher.depositAddress('bob');
      assert.deepEqual(await watcher.depositAddress('ada'), ada);
      assert.deepEqual([ada.index, bob.index], [0, 1]);
      assert.equal(ada.address, descriptor.derive(0, 0).address);
      assert.match(ada.address, /^bcrt1q/);
    });

    test('a payment is seen in the mempool, then mined; one transaction paying two members credits each', async () => {
      const ada = await watcher.depositAddress('ada');
      const bob = await watcher.depositAddress('bob');
      chain.send([
        { script: scriptOf(ada.address), value: 75_000 },
        { script: scriptOf(bob.address), value: 40_000 },
        { script: Uint8Array.from([0x51]), value: 1_000 },
      ]);
      assert.deepEqual(describeEvents(await watcher.sync()), ['seen:ada:75000', 'seen:bob:40000']);
      assert.deepEqual(await watcher.sync(), [], 'each mempool transaction is looked at once');
      chain.mine(1);
      assert.deepEqual(describeEvents(await watcher.sync()), ['mined:ada:75000', 'mined:bob:40000']);
      const [adaOutput] = await watcher.outputs({ ownerId: 'ada' });
      assert.equal(await watcher.confirmations(adaOutput!), 1);
      chain.mine(2);
      await watcher.sync();
      assert.equal(await watcher.confirmations((await watcher.outputs({ ownerId: 'ada' }))[0]!), 3);
    });

    test('a reorg within the limit undoes the block and redoes it in the new chain; a dropped payment stays reorged', async () => {
      const ada = await watcher.depositAddress('ada');
      const kept = chain.send([{ script: scriptOf(ada.address), value: 1_111 }]);
      const dropped = chain.send([{ script: scriptOf(ada.address), value: 2_222 }]);
      chain.mine(1);
      await watcher.sync();
      chain.reorg(2, [dropped]);
      const events = describeEvents(await watcher.sync());
      assert.deepEqual(events, ['reorged:ada:1111', 'reorged:ada:2222', 'mined:ada:1111']);
      const rows = await watcher.outputs({ ownerId: 'ada' });
      assert.equal(rows.find((row) => row.txid === kept)?.state, 'confirmed');
      assert.equal(rows.find((row) => row.txid === dropped)?.state, 'reorged');
      assert.equal((await watcher.processedTip())?.hash, (await chain.tip()).hash);
    });

    test('a double spend marks the first payment replaced', async () => {
      const bob = await watcher.depositAddress('bob');
      const first = chain.send([{ script: scriptOf(bob.address), value: 5_000 }]);
      assert.deepEqual(describeEvents(await watcher.sync()), ['seen:bob:5000']);
      chain.replace(first, [{ script: Uint8Array.from([0x51]), value: 4_000 }]);
      chain.mine(1);
      assert.deepEqual(describeEvents(await watcher.sync()), ['replaced:bob:5000']);
    });

    test('an unconfirmed payment the mempool forgets is dropped after two passes without it', async () => {
      const dave = await watcher.depositAddress('dave');
      const txid = chain.send([{ script: scriptOf(dave.address), value: 3_333 }]);
      assert.deepEqual(describeEvents(await watcher.sync()), ['seen:dave:3333']);
      chain.evict(txid);
      assert.deepEqual(await watcher.sync(), [], 'one pass without it could be a block in between');
      assert.deepEqual(describeEvents(await watcher.sync()), ['reorged:dave:3333']);
    });

    test('after downtime every missed block is caught up; a second watcher on the same database records nothing twice', async () => {
      const carol = await watcher.depositAddress('carol');
      for (let n = 0; n < 12; n++) {
        chain.send([{ script: scriptOf(carol.address), value: 100 + n }]);
        chain.mine(1);
      }
      const restarted = await ChainWatcher.open(handle, clock, options);
      assert.equal((await restarted.sync()).length, 12);
      assert.deepEqual(await restarted.sync(), []);
      assert.deepEqual(await watcher.sync(), [], 'the first watcher finds everything already recorded');
      assert.equal((await restarted.outputs({ ownerId: 'carol' })).length, 12);
    });

    test('a node that goes away fails the pass with a code; nothing is lost when it returns', async () => {
      const dave = await watcher.depositAddress('dave');
      chain.send([{ script: scriptOf(dave.address), value: 777 }]);
      chain.mine(1);
      chain.setAvailable(false);
      await assert.rejects(watcher.sync(), code('CHAIN_ADAPTOR_UNAVAILABLE'));
      chain.setAvailable(true);
      assert.deepEqual(describeEvents(await watcher.sync()), ['mined:dave:777']);
    });

    test('a reorg deeper than the limit raises the alarm and changes nothing', async () => {
      const before = await watcher.outputs();
      const tip = await watcher.processedTip();
      chain.reorg(5);
      await assert.rejects(watcher.sync(), code('CHAIN_NOTIFIER_DEEP_REORG'));
      assert.deepEqual(await watcher.outputs(), before);
      assert.deepEqual(await watcher.processedTip(), tip);
    });

    test('a simulated chain that began again (the demo restarted) is scanned from its tip once processed blocks are forgotten', async () => {
      await watcher.forgetProcessedBlocks();
      const fresh = new SimulatedChain('regtest');
      const again = await ChainWatcher.open(handle, clock, { ...options, adaptor: fresh });
      assert.deepEqual(await again.sync(), []);
      const erin = await again.depositAddress('erin');
      fresh.send([{ script: scriptOf(erin.address), value: 4_242 }]);
      fresh.mine(1);
      assert.deepEqual(describeEvents(await again.sync()), ['mined:erin:4242']);
    });
  });
}
