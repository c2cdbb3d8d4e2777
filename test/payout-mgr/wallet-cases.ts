// The payout wallet against the simulated chain, run on SQLite and PostgreSQL: receipts, spends, change, the
// mempool, reorgs undone, a deep reorg that stops it, restarts that resume, and the gap limit on both chains.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { HDKey } from '@scure/bip32';
import type { Kysely } from 'kysely';
import { SimulatedChain, type ChainAdaptor, type ChainBlock, type ChainTx } from '../../src/chain-adaptor/index.js';
import { NETWORKS, parseDescriptor, type OutputDescriptor } from '../../src/core/bitcoin/index.js';
import { ManualClock } from '../../src/core/clock.js';
import type { DatabaseHandle } from '../../src/core/storage/index.js';
import { MultisigWallet, type WalletOptions } from '../../src/payout-mgr/wallet.js';
import type { WalletTables } from '../../src/payout-mgr/wallet-store.js';
import type { DatabaseFactory } from '../helpers/databases.js';
import { ACCOUNT_PATH, COSIGNERS, OUTSIDER, testWallet as keysWallet } from './keys.js';

export interface TestWallet {
  descriptor: OutputDescriptor;
  masters: HDKey[];
  /** The private key of co-signer `signer` for the output at chain/index. */
  privateKey(signer: number, chain: number, index: number): Uint8Array;
}

/** The 2-of-3 test wallet of keys.ts, with its co-signers' master keys to sign with. */
export function testWallet(): TestWallet {
  const masters = COSIGNERS.map((cosigner) => cosigner.master);
  return {
    descriptor: keysWallet(),
    masters,
    privateKey: (signer, chain, index) => masters[signer]!.derive(`${ACCOUNT_PATH}/${chain}/${index}`).privateKey!,
  };
}

const TABLES = [
  'payout_wallet_addresses',
  'payout_wallet_txs',
  'payout_wallet_outputs',
  'payout_wallet_spends',
  'payout_wallet_blocks',
  'payout_wallet_reservations',
] as const;
const ELSEWHERE = Uint8Array.from([0x00, 0x14, ...new Uint8Array(20).fill(0xee)]);
const code = (expected: string) => (error: Error & { code?: string }) => {
  assert.equal(error.code, expected, error.message);
  assert.ok(error.message.length > 20);
  return true;
};

export function runWalletCases(name: string, factory: DatabaseFactory): void {
  describe(`payout wallet: ${name}`, () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 27));
    const { descriptor } = testWallet();
    let handle: DatabaseHandle;
    let chain: SimulatedChain;
    let wallet: MultisigWallet;
    const options = (overrides: Partial<WalletOptions> = {}): WalletOptions => ({
      adaptor: chain,
      descriptor,
      gapLimit: 5,
      reorgLimit: 3,
      birthHeight: 1,
      ...overrides,
    });
    const receive = (index: number) => descriptor.derive(0, index).script;
    const change = (index: number) => descriptor.derive(1, index).script;
    const coinKeys = async (minConfirmations?: number) =>
      (await wallet.coins({ minConfirmations })).map((coin) => `${coin.chain}/${coin.index}:${coin.value}`);
    /** Pays `value` to the receive address and mines it; returns the coin's outpoint. */
    const fund = async (index: number, value: number) => {
      const txid = chain.send([{ script: receive(index), value }]);
      chain.mine(1);
      await wallet.sync();
      return { txid, vout: 0 };
    };

    before(async () => {
      handle = await factory.create();
      chain = new SimulatedChain('regtest');
      await MultisigWallet.open(handle, clock, options()); // creates the tables the cases empty
    });
    after(async () => {
      await handle.close();
      await factory.cleanup();
    });
    beforeEach(async () => {
      // Each case its own chain and an empty wallet on the same database.
      for (const table of TABLES) await (handle.db as Kysely<WalletTables>).deleteFrom(table).execute();
      chain = new SimulatedChain('regtest');
      wallet = await MultisigWallet.open(handle, clock, options());
    });

    test('addresses are the descriptor’s: 2-of-3 P2WSH, receive on chain 0, change on chain 1', async () => {
      const first = await wallet.nextReceive();
      assert.equal(first.address, descriptor.derive(0, 0).address);
      assert.match(first.address, /^bcrt1q[a-z0-9]{58}$/);
      assert.equal(first.keyOrigins.length, 3);
      assert.deepEqual(first.keyOrigins[0]!.path.slice(-2), [0, 0]);
      assert.equal((await wallet.nextChange()).address, descriptor.derive(1, 0).address);
    });

    test('received: a payment is seen in the mempool, then mined; balance, coins and status follow it', async () => {
      const address = await wallet.nextReceive();
      const txid = chain.send([
        { script: address.script, value: 100_000 },
        { script: ELSEWHERE, value: 5_000 },
      ]);
      assert.deepEqual(await wallet.sync(), [txid]);
      assert.deepEqual(await wallet.sync(), [], 'nothing changed the second time');
      assert.deepEqual(await wallet.balance(), { confirmedSats: 0, unconfirmedSats: 100_000, coinCount: 1 });
      assert.deepEqual(await coinKeys(), [], 'unconfirmed is not spendable by default');
      assert.deepEqual(await coinKeys(0), [], 'another’s unconfirmed payment is never spendable');
      assert.deepEqual(await wallet.status(txid), { state: 'mempool', height: null, confirmations: 0 });

      const [blockHash] = chain.mine(1);
      assert.deepEqual(await wallet.sync(), [txid]);
      assert.deepEqual(wallet.processedTip(), { height: 1, hash: blockHash });
      assert.deepEqual(await wallet.balance(), { confirmedSats: 100_000, unconfirmedSats: 0, coinCount: 1 });
      const [coin] = await wallet.coins();
      assert.deepEqual(coin, {
        txid,
        vout: 0,
        value: 100_000,
        chain: 0,
        index: 0,
        scriptHex: address.scriptHex,
        height: 1,
        confirmations: 1,
      });
      chain.mine(2);
      assert.deepEqual(await wallet.sync(), []);
      assert.deepEqual(await wallet.status(txid), { state: 'mined', height: 1, confirmations: 3 });
      assert.deepEqual(await coinKeys(3), ['0/0:100000']);
      assert.deepEqual(await coinKeys(4), []);
      assert.deepEqual(await wallet.status('ab'.repeat(32)), { state: 'unknown', height: null, confirmations: 0 });
    });

    test('nothing before birthHeight is looked at', async () => {
      chain.send([{ script: receive(0), value: 1_000 }]);
      chain.mine(1);
      chain.send([{ script: receive(0), value: 2_000 }]);
      chain.mine(1);
      const late = await MultisigWallet.open(handle, clock, options({ birthHeight: 2 }));
      await late.sync();
      assert.deepEqual(await late.balance(), { confirmedSats: 2_000, unconfirmedSats: 0, coinCount: 1 });
    });

    test('spent, with change: our spend hides the coin as soon as it is noted; the change is spendable unconfirmed only at minConfirmations 0', async () => {
      const paid = await fund(0, 100_000);
      await fund(1, 50_000);
      const changeAddress = await wallet.nextChange();
      const spend = chain.send(
        [
          { script: ELSEWHERE, value: 30_000 },
          { script: changeAddress.script, value: 69_000 },
        ],
        [paid],
      );
      await wallet.noteSent((await chain.transaction(spend))!);
      assert.deepEqual(await wallet.status(spend), { state: 'mempool', height: null, confirmations: 0 });
      assert.deepEqual(await coinKeys(), ['0/1:50000'], 'the spent coin is gone before any node shows the spend');
      assert.deepEqual((await coinKeys(0)).sort(), ['0/1:50000', '1/0:69000']);
      assert.deepEqual(await wallet.balance(), { confirmedSats: 50_000, unconfirmedSats: 69_000, coinCount: 2 });

      assert.deepEqual(await wallet.sync(), [spend], 'noted, then seen in the mempool');
      chain.mine(1);
      assert.deepEqual(await wallet.sync(), [spend]);
      assert.deepEqual((await coinKeys()).sort(), ['0/1:50000', '1/0:69000']);
      assert.equal((await wallet.coins()).find((coin) => coin.chain === 1)?.height, 3);
      assert.deepEqual(await wallet.balance(), { confirmedSats: 119_000, unconfirmedSats: 0, coinCount: 2 });
      assert.equal((await wallet.nextChange()).index, 1, 'a change address is handed out once');
    });

    test('a spend of our coin by a co-signer outside this wallet is found in the mempool and in blocks', async () => {
      const coin = await fund(0, 80_000);
      const spend = chain.send([{ script: ELSEWHERE, value: 79_000 }], [coin]);
      assert.deepEqual(await wallet.sync(), [spend]);
      assert.deepEqual(await coinKeys(), []);
      assert.deepEqual(await wallet.balance(), { confirmedSats: 0, unconfirmedSats: 0, coinCount: 0 });
      chain.mine(1);
      assert.deepEqual(await wallet.sync(), [spend]);
      assert.deepEqual(await wallet.status(spend), { state: 'mined', height: 2, confirmations: 1 });
    });

    test('a chain of unconfirmed transactions listed child first is still understood', async () => {
      const coin = await fund(0, 60_000);
      const parent = chain.send([{ script: change(0), value: 59_000 }], [coin]);
      const child = chain.send([{ script: ELSEWHERE, value: 58_000 }], [{ txid: parent, vout: 0 }]);
      const listing = { ...chainView(chain), mempool: () => Promise.resolve([child, parent]) };
      const viewer = await MultisigWallet.open(handle, clock, options({ adaptor: listing }));
      assert.deepEqual((await viewer.sync()).sort(), [child, parent].sort());
      assert.deepEqual(await viewer.balance(), { confirmedSats: 0, unconfirmedSats: 0, coinCount: 0 });
    });

    test('mempool: a receipt the mempool forgets is dropped after two passes without it', async () => {
      const txid = chain.send([{ script: receive(0), value: 3_333 }]);
      assert.deepEqual(await wallet.sync(), [txid]);
      chain.evict(txid);
      assert.deepEqual(await wallet.sync(), [], 'one pass without it could be a block in between');
      assert.equal((await wallet.balance()).unconfirmedSats, 3_333);
      assert.deepEqual(await wallet.sync(), [txid]);
      assert.deepEqual(await wallet.balance(), { confirmedSats: 0, unconfirmedSats: 0, coinCount: 0 });
      assert.equal((await wallet.status(txid)).state, 'unknown');
    });

    test('mempool: a noted spend that never shows up gives its coin back after two passes', async () => {
      const coin = await fund(0, 40_000);
      const ghost: ChainTx = { txid: 'cd'.repeat(32), inputs: [{ prevTxid: coin.txid, prevVout: 0 }], outputs: [] };
      await wallet.noteSent(ghost);
      assert.deepEqual(await coinKeys(), []);
      await wallet.sync();
      assert.deepEqual(await coinKeys(), []);
      assert.deepEqual(await wallet.sync(), [ghost.txid]);
      assert.deepEqual(await coinKeys(), ['0/0:40000']);
    });

    test('a double spend that is mined drops the rival and its change at once', async () => {
      const coin = await fund(0, 90_000);
      const first = chain.send([{ script: change(0), value: 89_000 }], [coin]);
      assert.deepEqual(await wallet.sync(), [first]);
      assert.deepEqual(await coinKeys(0), ['1/0:89000']);
      const second = chain.replace(first, [{ script: ELSEWHERE, value: 88_000 }]);
      chain.mine(1);
      assert.deepEqual((await wallet.sync()).sort(), [first, second].sort());
      assert.equal((await wallet.status(first)).state, 'unknown');
      assert.equal((await wallet.status(second)).state, 'mined');
      assert.deepEqual(await wallet.balance(), { confirmedSats: 0, unconfirmedSats: 0, coinCount: 0 });
    });

    test('reorg: a dropped block loses its receipt and its spend (the coin is spendable again); a kept one is mined anew', async () => {
      const coin = await fund(0, 70_000);
      const spend = chain.send([{ script: ELSEWHERE, value: 69_000 }], [coin]);
      const receipt = chain.send([{ script: receive(1), value: 12_000 }]);
      const kept = chain.send([{ script: receive(2), value: 5_000 }]);
      const [oldBlock] = chain.mine(1);
      await wallet.sync();
      assert.deepEqual((await coinKeys()).sort(), ['0/1:12000', '0/2:5000']);

      chain.reorg(1, [spend, receipt]);
      assert.deepEqual((await wallet.sync()).sort(), [kept, receipt, spend].sort());
      assert.deepEqual((await coinKeys()).sort(), ['0/0:70000', '0/2:5000']);
      assert.equal((await wallet.status(spend)).state, 'unknown');
      const keptStatus = await wallet.status(kept);
      assert.deepEqual(keptStatus, { state: 'mined', height: 2, confirmations: 2 });
      assert.notEqual(wallet.processedTip()?.hash, oldBlock);
      assert.deepEqual(wallet.processedTip(), await chain.tip());
    });

    test('reorg: a spend put back into the mempool keeps its coin spent', async () => {
      const coin = await fund(0, 70_000);
      const spend = chain.send([{ script: change(0), value: 69_000 }], [coin]);
      chain.mine(1);
      await wallet.sync();
      chain.reorg(1, [], { mineAgain: false });
      assert.deepEqual(await wallet.sync(), [spend], 'reorged out, then seen in the mempool');
      assert.deepEqual(await wallet.status(spend), { state: 'mempool', height: null, confirmations: 0 });
      assert.deepEqual(await coinKeys(0), ['1/0:69000']);
      assert.deepEqual(await wallet.balance(), { confirmedSats: 0, unconfirmedSats: 69_000, coinCount: 1 });
    });

    test('a reorg deeper than reorgLimit changes nothing and stops the wallet following the chain', async () => {
      await fund(0, 10_000);
      chain.mine(4);
      await wallet.sync();
      const tip = wallet.processedTip();
      const balance = await wallet.balance();
      chain.reorg(4);
      await assert.rejects(wallet.sync(), code('PAYOUT_WALLET_DEEP_REORG'));
      assert.deepEqual(wallet.processedTip(), tip);
      assert.deepEqual(await wallet.balance(), balance);
      assert.equal(wallet.stoppedBy()?.code, 'PAYOUT_WALLET_DEEP_REORG');
      chain.setAvailable(false);
      await assert.rejects(wallet.sync(), code('PAYOUT_WALLET_DEEP_REORG'), 'stopped: the node is not even asked');
      chain.setAvailable(true);
      await wallet.rescan();
      await wallet.sync();
      assert.deepEqual(wallet.processedTip(), await chain.tip());
      assert.deepEqual(await wallet.balance(), balance, 'the same coin, found again in the new chain');
    });

    test('a reorg exactly at reorgLimit is undone on its own', async () => {
      chain.mine(3);
      await wallet.sync();
      const txid = chain.send([{ script: receive(0), value: 4_000 }]);
      chain.mine(1);
      await wallet.sync();
      chain.reorg(3);
      assert.deepEqual(await wallet.sync(), [txid]);
      assert.deepEqual(await wallet.status(txid), { state: 'mined', height: 2, confirmations: 4 });
    });

    test('a reorg of the birth block itself is undone: nothing before birthHeight needs to match', async () => {
      const txid = chain.send([{ script: receive(0), value: 6_000 }]);
      const [old] = chain.mine(1);
      assert.deepEqual(await wallet.sync(), [txid]);
      chain.reorg(1);
      assert.deepEqual(await wallet.sync(), [txid]);
      assert.deepEqual(await wallet.status(txid), { state: 'mined', height: 1, confirmations: 2 });
      assert.notEqual(wallet.processedTip()?.hash, old);
    });

    test('a node behind us is waited for, not taken for a reorg', async () => {
      chain.mine(3);
      await wallet.sync();
      const tip = wallet.processedTip()!;
      const behind = { ...chainView(chain), tip: async () => ({ height: 1, hash: await chain.blockHash(1) }) };
      const waiting = await MultisigWallet.open(handle, clock, options({ adaptor: behind }));
      assert.deepEqual(await waiting.sync(), []);
      assert.deepEqual(waiting.processedTip(), tip);
    });

    test('restart: a scan that dies mid-way resumes after the last whole block and counts nothing twice', async () => {
      const paid: string[] = [];
      for (let n = 0; n < 5; n++) {
        paid.push(chain.send([{ script: receive(n), value: 1_000 * (n + 1) }]));
        chain.mine(1);
      }
      let blocksServed = 0;
      const dying: ChainAdaptor = {
        ...chainView(chain),
        block: async (hash: string) => {
          const block = await chain.block(hash);
          blocksServed += 1;
          // The second block fails after its transactions were written, before the block row: nothing of it may stay.
          if (blocksServed === 2) return failingAtTheEnd(block);
          if (blocksServed === 4) throw new Error('connection reset');
          return block;
        },
      };
      const first = await MultisigWallet.open(handle, clock, options({ adaptor: dying }));
      await assert.rejects(first.sync(), /crashed mid-block/);
      assert.equal(first.processedTip()?.height, 1);
      assert.deepEqual(await first.balance(), { confirmedSats: 1_000, unconfirmedSats: 0, coinCount: 1 });
      await assert.rejects(first.sync(), /connection reset/);
      assert.equal(first.processedTip()?.height, 2);
      assert.deepEqual(await first.balance(), { confirmedSats: 3_000, unconfirmedSats: 0, coinCount: 2 });

      const restarted = await MultisigWallet.open(handle, clock, options());
      assert.deepEqual((await restarted.sync()).sort(), paid.slice(2).sort());
      assert.deepEqual(await restarted.sync(), []);
      assert.deepEqual(await restarted.balance(), { confirmedSats: 15_000, unconfirmedSats: 0, coinCount: 5 });
      assert.deepEqual(await first.sync(), [], 'the first wallet finds everything already recorded');
      assert.deepEqual(await first.balance(), await restarted.balance());
    });

    test('restart: handed-out addresses and the watched range are kept', async () => {
      await wallet.nextReceive();
      await wallet.nextReceive();
      await wallet.nextChange();
      const restarted = await MultisigWallet.open(handle, clock, options());
      assert.equal((await restarted.nextReceive()).index, 2);
      assert.equal((await restarted.nextChange()).index, 1);
    });

    test('nextReceive skips an address already paid; concurrent callers each get their own', async () => {
      chain.send([{ script: receive(1), value: 2_000 }]);
      chain.mine(1);
      await wallet.sync();
      const given = await Promise.all([wallet.nextReceive(), wallet.nextReceive(), wallet.nextReceive()]);
      assert.deepEqual(
        given.map((output) => output.index),
        [0, 2, 3],
      );
    });

    test('gap limit: a used address extends the watched range on both chains; one beyond the gap stays unseen', async () => {
      // gapLimit 5: receive 0..4 and change 0..4 are watched at first.
      const beyond = chain.send([{ script: receive(5), value: 999 }]);
      chain.mine(1);
      assert.deepEqual(await wallet.sync(), [], 'index 5 is beyond the gap of an unused wallet');
      chain.send([{ script: receive(4), value: 400 }]);
      chain.send([{ script: receive(9), value: 900 }]); // found in the same block once index 4 extends the range
      chain.send([{ script: change(4), value: 40 }]);
      chain.mine(1);
      await wallet.sync();
      chain.send([{ script: receive(14), value: 1_400 }]);
      chain.send([{ script: change(9), value: 90 }]);
      chain.send([{ script: change(15), value: 150 }]); // beyond 9 + 5
      chain.mine(1);
      await wallet.sync();
      assert.deepEqual((await coinKeys()).sort(), ['0/14:1400', '0/4:400', '0/9:900', '1/4:40', '1/9:90']);
      assert.equal((await wallet.status(beyond)).state, 'unknown', 'blocks already scanned are not scanned again');
      assert.equal((await wallet.nextReceive()).index, 0);
      assert.equal((await wallet.nextChange()).index, 0);
      const restarted = await MultisigWallet.open(handle, clock, options());
      chain.send([{ script: receive(19), value: 1_900 }]);
      await restarted.sync();
      assert.equal((await restarted.balance()).unconfirmedSats, 1_900, 'the extended range is kept across a restart');
    });

    test('handing out addresses extends the watched range too', async () => {
      for (let n = 0; n < 8; n++) await wallet.nextReceive();
      chain.send([{ script: receive(12), value: 1_200 }]);
      await wallet.sync();
      assert.equal((await wallet.balance()).unconfirmedSats, 1_200);
    });

    test('reserved coins are held back from coins() except for their holder', async () => {
      const a = await fund(0, 10_000);
      await fund(1, 20_000);
      await wallet.reserve('batch-1', [a]);
      assert.deepEqual(await coinKeys(), ['0/1:20000']);
      assert.equal((await wallet.coins({ reservedFor: 'batch-1' })).length, 2);
      await assert.rejects(wallet.reserve('batch-2', [a]), code('PAYOUT_STATE_CONFLICT'));
      await assert.rejects(wallet.reserve('batch-2', [{ txid: 'ef'.repeat(32), vout: 0 }]), code('PAYOUT_STATE_CONFLICT'));
      assert.equal((await wallet.balance()).coinCount, 2, 'reserved coins are still the wallet’s');
      await wallet.release('batch-1');
      assert.equal((await wallet.coins()).length, 2);
    });

    test('bad options and another wallet’s database are refused', async () => {
      const single = parseDescriptor(descriptor.chainDescriptor(0), NETWORKS.regtest);
      await assert.rejects(MultisigWallet.open(handle, clock, options({ descriptor: single })), code('PAYOUT_CONFIG_INVALID'));
      await assert.rejects(MultisigWallet.open(handle, clock, options({ gapLimit: 0 })), code('PAYOUT_CONFIG_INVALID'));
      await assert.rejects(MultisigWallet.open(handle, clock, options({ birthHeight: -1 })), code('PAYOUT_CONFIG_INVALID'));
      const other = OUTSIDER.tpub;
      const otherDescriptor = parseDescriptor(`wsh(sortedmulti(1,${other}/<0;1>/*))`, NETWORKS.regtest);
      await assert.rejects(
        MultisigWallet.open(handle, clock, options({ descriptor: otherDescriptor })),
        code('PAYOUT_CONFIG_INVALID'),
      );
      await assert.rejects(wallet.coins({ minConfirmations: -1 }), code('PAYOUT_CONFIG_INVALID'));
    });
  });
}

/** The simulated chain's adaptor methods as a plain object, so a case can replace one. */
function chainView(chain: SimulatedChain): ChainAdaptor {
  return {
    description: chain.description,
    network: chain.network,
    connect: () => chain.connect(),
    tip: () => chain.tip(),
    blockHash: (height) => chain.blockHash(height),
    block: (hash) => chain.block(hash),
    transaction: (txid) => chain.transaction(txid),
    mempool: () => chain.mempool(),
    broadcast: (raw) => chain.broadcast(raw),
    estimateFee: () => chain.estimateFee(),
    close: () => chain.close(),
  };
}

/** The block, whose transaction list breaks after its last entry, as a process killed mid-write would. */
function failingAtTheEnd(block: ChainBlock): ChainBlock {
  const txs = block.txs;
  const breaking = {
    *[Symbol.iterator]() {
      yield* txs;
      throw new Error('crashed mid-block');
    },
  };
  return { ...block, txs: breaking as unknown as ChainTx[] };
}
