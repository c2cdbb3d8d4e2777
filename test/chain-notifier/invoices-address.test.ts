// Invoice addresses from the ChainWatcher on SQLite and PostgreSQL: each one fresh, never a member's, never one
// already paid, and watched at once as the invoice's.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SimulatedChain } from '../../src/chain-adaptor/index.js';
import { ChainWatcher } from '../../src/chain-notifier/watcher.js';
import { NETWORKS, parseAddress } from '../../src/core/bitcoin/index.js';
import { ManualClock } from '../../src/core/clock.js';
import type { DatabaseHandle } from '../../src/core/storage/index.js';
import { postgresFactory, sqliteFactory, type DatabaseFactory } from '../helpers/databases.js';
import { testDescriptor } from './watcher-cases.js';

function invoiceAddressCases(name: string, factory: DatabaseFactory): void {
  describe(`invoice addresses: ${name}`, () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 27));
    const chain = new SimulatedChain('regtest');
    const descriptor = testDescriptor();
    let handle: DatabaseHandle;
    let watcher: ChainWatcher;

    before(async () => {
      handle = await factory.create();
      watcher = await ChainWatcher.open(handle, clock, { adaptor: chain, descriptor, gapLimit: 3, reorgLimit: 3 });
      await watcher.sync();
    });
    after(async () => {
      await handle.close();
      await factory.cleanup();
    });

    test('each invoice takes the next unused address; members and invoices never share one', async () => {
      const ada = await watcher.depositAddress('ada');
      const first = await watcher.invoiceAddress('invoice-1');
      const second = await watcher.invoiceAddress('invoice-2');
      const bob = await watcher.depositAddress('bob');
      assert.deepEqual([ada.index, first.index, second.index, bob.index], [0, 1, 2, 3]);
      assert.equal(first.address, descriptor.derive(0, 1).address);
      assert.equal(first.scriptHex, descriptor.derive(0, 1).scriptHex);
    });

    test('an address in the lookahead that was already paid is skipped, and the invoice’s payments are its own', async () => {
      const paidEarly = descriptor.derive(0, 4);
      chain.send([{ script: parseAddress(paidEarly.address, NETWORKS.regtest).script, value: 5_000 }]);
      const [early] = await watcher.sync();
      assert.deepEqual([early?.output.owner_kind, early?.output.address], ['unassigned', paidEarly.address]);
      const invoice = await watcher.invoiceAddress('invoice-3');
      assert.notEqual(invoice.address, paidEarly.address);
      assert.equal(invoice.index, 5);
      chain.send([{ script: parseAddress(invoice.address, NETWORKS.regtest).script, value: 7_000 }]);
      const [paid] = await watcher.sync();
      assert.deepEqual([paid?.output.owner_kind, paid?.output.owner_id, paid?.output.sats], ['invoice', 'invoice-3', 7_000]);
      assert.deepEqual(
        (await watcher.outputs({ ownerKind: 'invoice', ownerId: 'invoice-3' })).map((output) => output.sats),
        [7_000],
      );
    });

    test('after a restart an invoice’s address is still watched as the invoice’s', async () => {
      const invoice = await watcher.invoiceAddress('invoice-4');
      const restarted = await ChainWatcher.open(handle, clock, { adaptor: chain, descriptor, gapLimit: 3, reorgLimit: 3 });
      chain.send([{ script: parseAddress(invoice.address, NETWORKS.regtest).script, value: 9_000 }]);
      const events = await restarted.sync();
      assert.deepEqual(
        events.map((event) => `${event.output.owner_kind}:${event.output.owner_id}`),
        ['invoice:invoice-4'],
      );
    });
  });
}

invoiceAddressCases('SQLite', sqliteFactory());
invoiceAddressCases('PostgreSQL', postgresFactory());
