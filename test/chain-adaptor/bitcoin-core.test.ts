// The Bitcoin Core RPC adaptor against a real regtest full node (bcoin): blocks, mempool, transactions,
// broadcast, a double spend and a reorg; and against servers that misbehave.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BitcoinCoreAdaptor } from '../../src/chain-adaptor/index.js';
import { startBcoin, type Bcoin } from '../helpers/bcoin.js';
import { tempDir } from '../helpers/harness.js';
import { paymentScript } from '../helpers/scripts.js';

let node: Bcoin;
let chain: BitcoinCoreAdaptor;
const code = (expected: string) => (error: Error & { code?: string }) => error.code === expected && error.message.length > 10;
const script = paymentScript;
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

before(async () => {
  node = await startBcoin();
  // Segwit activates on regtest only after a few hundred blocks; coinbase coins mature after 100.
  await node.mine(450);
  chain = new BitcoinCoreAdaptor({ url: node.url, network: 'regtest', user: 'x', password: node.password, timeoutMs: 5_000 });
  await chain.connect();
});
after(async () => {
  await node?.stop();
});

test('the tip and a block come back parsed: height, parent, and a payment to a watched script', async () => {
  const txid = await node.pay([{ script: script(1), value: 75_000 }]);
  assert.ok((await chain.mempool()).includes(txid));
  const seen = await chain.transaction(txid);
  assert.equal(seen?.outputs[0]?.value, 75_000);
  assert.equal(hex(seen.outputs[0].script), hex(script(1)));
  const [hash] = await node.mine(1);
  const tip = await chain.tip();
  assert.deepEqual(tip, { height: 451, hash });
  const block = await chain.block(hash!);
  assert.equal(block.height, 451);
  assert.equal(block.prevHash, await chain.blockHash(450));
  assert.deepEqual(
    block.txs.map((tx) => tx.txid),
    ((await node.rpc('getblock', [hash, true, false])) as { tx: string[] }).tx,
  );
  assert.ok(block.txs.some((tx) => tx.txid === txid && tx.inputs.length === 1));
  assert.ok(!(await chain.mempool()).includes(txid));
});

test('a reorg: after invalidating the tip, the best chain at that height has another block', async () => {
  const tip = await chain.tip();
  await node.rpc('invalidateblock', [tip.hash]);
  await node.mine(2);
  const after = await chain.tip();
  assert.equal(after.height, tip.height + 1);
  assert.notEqual(await chain.blockHash(tip.height), tip.hash);
  await assert.rejects(chain.block('00'.repeat(32)), code('CHAIN_ADAPTOR_NOT_FOUND'));
});

test('broadcast sends a signed transaction; a fee estimate is a number or nothing yet', async () => {
  const raw = (await node.rpc('getrawtransaction', [await node.pay([{ script: script(4), value: 20_000 }]), false])) as string;
  assert.match(await chain.broadcast(raw).catch((error: Error) => error.message), /^[0-9a-f]{64}$|already|mempool/i);
  const fee = await chain.estimateFee(6);
  assert.ok(fee === undefined || (Number.isInteger(fee) && fee >= 1));
  await assert.rejects(chain.broadcast('00'), code('CHAIN_ADAPTOR_RPC_ERROR'));
});

test('a double spend mined by a miner: the block holds the conflicting payment, the first leaves the mempool', async () => {
  const first = await node.pay([{ script: script(5), value: 40_000 }]);
  assert.ok((await chain.mempool()).includes(first));
  const [spentCoin] = (await chain.transaction(first))!.inputs;
  const { blockHash, txid: second } = await node.mineConflicting(first, [{ script: script(6), value: 39_000 }]);
  assert.equal((await chain.tip()).hash, blockHash);
  const block = await chain.block(blockHash);
  assert.deepEqual(
    block.txs.slice(1).map((tx) => tx.txid),
    [second],
  );
  assert.deepEqual(block.txs[1]!.inputs, [spentCoin]);
  assert.equal(hex(block.txs[1]!.outputs[0]!.script), hex(script(6)));
  const mempool = await chain.mempool();
  assert.ok(!mempool.includes(first) && !mempool.includes(second));
  // bcoin forgets a transaction it evicts as a double spend: out of the mempool and in no block, so its transaction
  // index has nothing either. A notifier learns of the loss only by the block, never by asking for the txid.
  assert.equal(await chain.transaction(first), undefined);
  assert.equal((await chain.transaction(second))?.txid, second);
});

test('the wrong network, wrong credentials and an unknown transaction are each named', async () => {
  const mainnet = new BitcoinCoreAdaptor({
    url: node.url,
    network: 'mainnet',
    user: 'x',
    password: node.password,
    timeoutMs: 5_000,
  });
  await assert.rejects(mainnet.connect(), code('CHAIN_ADAPTOR_WRONG_NETWORK'));
  const wrong = new BitcoinCoreAdaptor({ url: node.url, network: 'regtest', user: 'x', password: 'nope', timeoutMs: 5_000 });
  await assert.rejects(wrong.connect(), code('CHAIN_ADAPTOR_RPC_ERROR'));
  assert.equal(await chain.transaction('11'.repeat(32)), undefined);
  await assert.rejects(
    new BitcoinCoreAdaptor({ url: node.url, network: 'regtest', timeoutMs: 1_000 }).connect(),
    code('CHAIN_ADAPTOR_CONFIG_INVALID'),
  );
});

async function serve(
  handler: (respond: (status: number, body: string) => void) => void,
): Promise<{ url: string; server: Server }> {
  const server = createServer((_, response) => handler((status, body) => response.writeHead(status).end(body)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return { url: `http://127.0.0.1:${address.port}/`, server };
}

test('a node that does not answer, answers garbage, or is gone fails with a code, not a hang', async () => {
  const silent = await serve(() => undefined);
  const garbage = await serve((respond) => respond(200, '<html>proxy error</html>'));
  const shapeless = await serve((respond) => respond(200, JSON.stringify({ result: { chain: 42 } })));
  try {
    const options = { network: 'regtest' as const, user: 'x', password: 'y', timeoutMs: 300 };
    await assert.rejects(new BitcoinCoreAdaptor({ ...options, url: silent.url }).tip(), code('CHAIN_ADAPTOR_UNAVAILABLE'));
    await assert.rejects(new BitcoinCoreAdaptor({ ...options, url: garbage.url }).tip(), code('CHAIN_ADAPTOR_MALFORMED'));
    await assert.rejects(new BitcoinCoreAdaptor({ ...options, url: shapeless.url }).connect(), code('CHAIN_ADAPTOR_MALFORMED'));
    await assert.rejects(
      new BitcoinCoreAdaptor({ ...options, url: 'http://127.0.0.1:9/' }).tip(),
      code('CHAIN_ADAPTOR_UNAVAILABLE'),
    );
  } finally {
    for (const { server } of [silent, garbage, shapeless]) {
      server.closeAllConnections();
      server.close();
    }
  }
});

test('after the node restarts with a new cookie, the next call reads it and goes on', async () => {
  const cookieFile = join(tempDir(), '.cookie');
  writeFileSync(cookieFile, '__cookie__:stale');
  const cookied = new BitcoinCoreAdaptor({ url: node.url, network: 'regtest', cookieFile, timeoutMs: 5_000 });
  await assert.rejects(cookied.connect(), code('CHAIN_ADAPTOR_RPC_ERROR'));
  writeFileSync(cookieFile, `__cookie__:${node.password}`);
  assert.equal((await cookied.tip()).height, (await chain.tip()).height);
});
