// The Esplora adaptor against a local server that answers in Esplora's documented formats (API.md) from a simulated
// chain's real blocks and transactions, and against endpoints that fail, stall, or answer what the API does not say.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { after, afterEach, before, describe, test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p2wpkh, Transaction } from '@scure/btc-signer';
import {
  createChainAdaptor,
  EsploraAdaptor,
  GENESIS_HASHES,
  parseBlock,
  parseTransaction,
  SimulatedChain,
  type ChainAdaptor,
  type NetworkName,
} from '../../src/chain-adaptor/index.js';
import { configSchema } from '../../src/core/config.js';
import { freePort } from '../helpers/mosquitto.js';
import { paymentScript } from '../helpers/scripts.js';

interface GenesisVectors {
  header: { version: number; prevHash: string; merkleRootWire: string };
  coinbaseTx: string;
  networks: { network: NetworkName; time: number; bits: string; nonce: number; hash: string }[];
}
const vectors = JSON.parse(readFileSync(new URL('./vectors/genesis-blocks.json', import.meta.url), 'utf8')) as GenesisVectors;

function genesisBlock(network: NetworkName): Buffer {
  const vector = vectors.networks.find((candidate) => candidate.network === network)!;
  const header = Buffer.alloc(80);
  header.writeUInt32LE(vectors.header.version, 0);
  Buffer.from(vectors.header.prevHash, 'hex').copy(header, 4);
  Buffer.from(vectors.header.merkleRootWire, 'hex').copy(header, 36);
  header.writeUInt32LE(vector.time, 68);
  header.writeUInt32LE(Number.parseInt(vector.bits, 16), 72);
  header.writeUInt32LE(vector.nonce, 76);
  return Buffer.concat([header, Buffer.from([1]), Buffer.from(vectors.coinbaseTx, 'hex')]);
}

const REGTEST_GENESIS = genesisBlock('regtest');
/** The fee estimates of API.md's example, as Esplora answers `/fee-estimates`. */
const DOCUMENTED_FEE_ESTIMATES = {
  '2': 87.882,
  '3': 87.882,
  '4': 87.882,
  '5': 81.129,
  '6': 68.285,
  '10': 1.027,
  '20': 1.027,
  '25': 1.027,
  '144': 1.027,
  '504': 1.027,
  '1008': 1.027,
};

type Fault = (response: ServerResponse) => void;
const reply =
  (status: number, body: string | Uint8Array): Fault =>
  (response) =>
    response.writeHead(status).end(body);
const silent: Fault = () => undefined;
/** Sends the headers and half the body, then nothing more. */
const stallHalfway =
  (body: Uint8Array): Fault =>
  (response) => {
    response.writeHead(200, { 'content-length': body.length });
    response.write(body.subarray(0, body.length >> 1));
  };

/**
 * Esplora over a simulated chain, under /api as the public ones are. Height 0 is the real regtest genesis block, which
 * connect() checks; the simulated chain's own genesis is synthetic, so here block 1's parent is not block 0.
 * An endpoint in `faults` answers with its fault instead.
 */
async function startEsplora(chain: SimulatedChain) {
  const faults = new Map<string, Fault>();

  const blockBytes = async (hash: string): Promise<{ raw: Uint8Array; height: number } | undefined> => {
    if (hash === GENESIS_HASHES.regtest) return { raw: REGTEST_GENESIS, height: 0 };
    const raw = chain.rawBlock(hash);
    return raw && { raw, height: (await chain.block(hash)).height };
  };

  const answer = async (method: string, path: string, body: string): Promise<[number, string | Uint8Array]> => {
    let match: RegExpExecArray | null;
    if (method === 'POST' && path === '/tx') {
      try {
        parseTransaction(Buffer.from(body, 'hex'));
      } catch {
        return [400, 'sendrawtransaction RPC error: {"code":-22,"message":"TX decode failed"}'];
      }
      return [200, await chain.broadcast(body)];
    }
    if (path === '/blocks/tip/height') return [200, String((await chain.tip()).height)];
    if (path === '/blocks/tip/hash') return [200, (await chain.tip()).hash];
    if ((match = /^\/block-height\/([0-9]+)$/.exec(path))) {
      const height = Number(match[1]);
      if (height === 0) return [200, GENESIS_HASHES.regtest];
      if (height > (await chain.tip()).height) return [404, 'Block not found'];
      return [200, await chain.blockHash(height)];
    }
    if ((match = /^\/block\/([0-9a-f]{64})(\/raw)?$/.exec(path))) {
      const found = await blockBytes(match[1]!);
      if (!found) return [404, 'Block not found'];
      if (match[2]) return [200, found.raw];
      const header = Buffer.from(found.raw.subarray(0, 80));
      const block = parseBlock(found.raw, found.height);
      const summary = {
        id: block.hash,
        height: found.height,
        version: header.readUInt32LE(0),
        timestamp: block.time,
        tx_count: block.txs.length,
        size: found.raw.length,
        weight: found.raw.length * 4,
        merkle_root: Buffer.from(header.subarray(36, 68)).reverse().toString('hex'),
        previousblockhash: found.height === 0 ? null : block.prevHash,
        nonce: header.readUInt32LE(76),
        bits: header.readUInt32LE(72),
      };
      return [200, JSON.stringify(summary)];
    }
    if ((match = /^\/tx\/([0-9a-f]{64})\/hex$/.exec(path))) {
      const raw = chain.rawTransaction(match[1]!);
      return raw ? [200, Buffer.from(raw).toString('hex')] : [404, 'Transaction not found'];
    }
    if (path === '/mempool/txids') return [200, JSON.stringify(await chain.mempool())];
    if (path === '/fee-estimates') return [200, JSON.stringify(DOCUMENTED_FEE_ESTIMATES)];
    return [404, 'Not found'];
  };

  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const url = request.url ?? '';
      if (!url.startsWith('/api/')) return void response.writeHead(404).end('Not found');
      const path = url.slice('/api'.length);
      const fault = faults.get(path);
      if (fault) return fault(response);
      answer(request.method ?? 'GET', path, body).then(
        ([status, answered]) => response.writeHead(status).end(answered),
        (error: Error) => response.writeHead(500).end(error.message),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/api/`,
    faults,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

const code =
  (expected: string, mentioning?: string) =>
  (error: Error & { code?: string }): boolean => {
    assert.equal(error.code, expected, error.message);
    if (mentioning !== undefined) assert.ok(error.message.includes(mentioning), `"${mentioning}" in: ${error.message}`);
    assert.ok(error.message.length < 600, `a message of ${error.message.length} characters`);
    return true;
  };
const script = paymentScript;

// A chain with a payment in block 1 and an empty block 2, built before the tests so the hostile table can name them.
const chain = new SimulatedChain('regtest');
const paidInBlockOne = chain.send([{ script: script(1), value: 75_000 }]);
const [blockOne, blockTwo] = chain.mine(2) as [string, string];
let esplora: Awaited<ReturnType<typeof startEsplora>>;
let adaptor: EsploraAdaptor;
/** For the endpoints that never answer. */
let impatient: EsploraAdaptor;

before(async () => {
  esplora = await startEsplora(chain);
  adaptor = new EsploraAdaptor({ url: esplora.url, network: 'regtest', timeoutMs: 5_000 });
  impatient = new EsploraAdaptor({ url: esplora.url, network: 'regtest', timeoutMs: 300 });
});
afterEach(() => esplora.faults.clear());
after(() => esplora?.close());

describe('each network’s genesis hash is its genesis header’s (vectors/genesis-blocks.json)', () => {
  for (const vector of vectors.networks) {
    test(vector.network, () => {
      const block = parseBlock(genesisBlock(vector.network), 0);
      assert.equal(block.hash, vector.hash);
      assert.equal(GENESIS_HASHES[vector.network], vector.hash);
    });
  }
});

test('connect: the regtest genesis passes; a mainnet adaptor is told the provider serves regtest', async () => {
  await adaptor.connect();
  const mainnet = new EsploraAdaptor({ url: esplora.url, network: 'mainnet', timeoutMs: 5_000 });
  await assert.rejects(mainnet.connect(), code('CHAIN_ADAPTOR_WRONG_NETWORK', 'serves regtest'));
  assert.equal(adaptor.description, `esplora ${esplora.url.slice(0, -1)}`);
});

test('connect names the chain a provider serves: mainnet, testnet4, or one it does not know', async () => {
  const served: [string, string][] = [
    [GENESIS_HASHES.mainnet, 'serves mainnet'],
    ['00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043', 'testnet4'],
    ['ab'.repeat(32), 'an unknown chain'],
  ];
  for (const [genesis, named] of served) {
    esplora.faults.set('/block-height/0', reply(200, genesis));
    await assert.rejects(adaptor.connect(), code('CHAIN_ADAPTOR_WRONG_NETWORK', named));
  }
});

test('connect: a URL that is not the API’s base (no /api) is CONFIG_INVALID, saying what the URL should be', async () => {
  const withoutApi = new EsploraAdaptor({ url: esplora.url.replace(/api\/$/, ''), network: 'regtest', timeoutMs: 5_000 });
  await assert.rejects(withoutApi.connect(), code('CHAIN_ADAPTOR_CONFIG_INVALID', 'chain.esplora.url'));
});

test('the tip, every block hash and every block are the simulated chain’s own, parsed from the raw bytes', async () => {
  const tip = await adaptor.tip();
  assert.deepEqual(tip, await chain.tip());
  assert.equal(tip.hash, blockTwo);
  for (let height = 1; height <= tip.height; height++) {
    const hash = await adaptor.blockHash(height);
    assert.equal(hash, await chain.blockHash(height));
    assert.deepEqual(await adaptor.block(hash), await chain.block(hash));
  }
  const first = await adaptor.block(blockOne);
  assert.equal(first.height, 1);
  assert.ok(first.txs.some((tx) => tx.txid === paidInBlockOne && tx.outputs[0]?.value === 75_000));
  const genesis = await adaptor.block(await adaptor.blockHash(0));
  assert.equal(genesis.height, 0);
  assert.equal(genesis.txs[0]?.txid, '4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b');
});

test('an unknown block or a height above the tip is NOT_FOUND; an unknown transaction is undefined', async () => {
  await assert.rejects(adaptor.block('00'.repeat(32)), code('CHAIN_ADAPTOR_NOT_FOUND', 'Block not found'));
  const { height } = await adaptor.tip();
  await assert.rejects(adaptor.blockHash(height + 5), code('CHAIN_ADAPTOR_NOT_FOUND', `/block-height/${height + 5}`));
  assert.equal(await adaptor.transaction('11'.repeat(32)), undefined);
});

test('the mempool: a payment waits, is found by txid, is replaced by a double spend, and stays known once mined', async () => {
  const waiting = chain.send([{ script: script(2), value: 12_345 }]);
  assert.deepEqual(await adaptor.mempool(), [waiting]);
  assert.deepEqual(await adaptor.transaction(waiting), await chain.transaction(waiting));
  const replacement = chain.replace(waiting, [{ script: script(3), value: 12_000 }]);
  assert.deepEqual(await adaptor.mempool(), [replacement]);
  const [mined] = chain.mine(1);
  assert.deepEqual(await adaptor.mempool(), []);
  assert.ok((await adaptor.block(mined!)).txs.some((tx) => tx.txid === replacement));
  assert.equal((await adaptor.transaction(replacement))?.outputs[0]?.value, 12_000);
});

test('broadcast: a signed transaction enters the mempool; one the node refuses is RPC_ERROR with its reason', async () => {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
  const spending = p2wpkh(secp256k1.getPublicKey(key, true));
  const tx = new Transaction();
  tx.addInput({ txid: 'ab'.repeat(32), index: 0, witnessUtxo: { script: spending.script, amount: 100_000n } });
  tx.addOutput({ script: script(4), amount: 90_000n });
  tx.sign(key);
  tx.finalize();
  assert.equal(await adaptor.broadcast(tx.hex), tx.id);
  assert.ok((await adaptor.mempool()).includes(tx.id));
  assert.equal((await adaptor.transaction(tx.id))?.outputs[0]?.value, 90_000);
  await assert.rejects(adaptor.broadcast('00'), code('CHAIN_ADAPTOR_RPC_ERROR', 'TX decode failed'));
});

describe('estimateFee reads the shortest listed target at or beyond the one asked, rounded up (API.md example)', () => {
  const cases: [number, number][] = [
    [1, 88],
    [2, 88],
    [5, 82],
    [6, 69],
    [7, 2],
    [1008, 2],
    [5000, 2],
  ];
  for (const [target, satPerVbyte] of cases) {
    test(`${target} blocks: ${satPerVbyte} sat/vB`, async () => {
      assert.equal(await adaptor.estimateFee(target), satPerVbyte);
    });
  }
  test('no estimates yet (a fresh regtest): undefined; a fraction of a sat/vB: 1', async () => {
    esplora.faults.set('/fee-estimates', reply(200, '{}'));
    assert.equal(await adaptor.estimateFee(6), undefined);
    esplora.faults.set('/fee-estimates', reply(200, '{"6": 0.25}'));
    assert.equal(await adaptor.estimateFee(6), 1);
  });
});

describe('a provider that fails, stalls or answers what the API does not document gets a code, not a hang', () => {
  const rawBlockOne = chain.rawBlock(blockOne)!;
  const hexOfPayment = Buffer.from(chain.rawTransaction(paidInBlockOne)!).toString('hex');
  const hostile: {
    name: string;
    endpoint: string;
    fault: Fault;
    call: (adaptor: ChainAdaptor) => Promise<unknown>;
    expected: string;
    mentioning?: string;
  }[] = [
    {
      name: 'HTTP 500 with a long page',
      endpoint: '/blocks/tip/height',
      fault: reply(500, `<html>${'upstream error '.repeat(400)}</html>`),
      call: (a) => a.tip(),
      expected: 'CHAIN_ADAPTOR_RPC_ERROR',
      mentioning: 'HTTP 500',
    },
    {
      name: 'HTTP 429 (rate limited)',
      endpoint: '/mempool/txids',
      fault: reply(429, 'Too Many Requests'),
      call: (a) => a.mempool(),
      expected: 'CHAIN_ADAPTOR_RPC_ERROR',
      mentioning: 'Too Many Requests',
    },
    {
      name: 'no answer at all',
      endpoint: '/blocks/tip/height',
      fault: silent,
      call: (a) => a.tip(),
      expected: 'CHAIN_ADAPTOR_UNAVAILABLE',
      mentioning: 'no answer within 300 ms',
    },
    {
      name: 'a raw block that stops halfway and hangs',
      endpoint: `/block/${blockOne}/raw`,
      fault: stallHalfway(rawBlockOne),
      call: (a) => a.block(blockOne),
      expected: 'CHAIN_ADAPTOR_UNAVAILABLE',
      mentioning: 'no answer within 300 ms',
    },
    {
      name: 'the connection dropped',
      endpoint: '/mempool/txids',
      fault: (response) => response.socket?.destroy(),
      call: (a) => a.mempool(),
      expected: 'CHAIN_ADAPTOR_UNAVAILABLE',
      mentioning: '/mempool/txids',
    },
    {
      name: 'a tip height that is a web page',
      endpoint: '/blocks/tip/height',
      fault: reply(200, '<html>maintenance</html>'),
      call: (a) => a.tip(),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: '/blocks/tip/height',
    },
    {
      name: 'a block hash that is not a hash',
      endpoint: '/block-height/1',
      fault: reply(200, 'deadbeef'),
      call: (a) => a.blockHash(1),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: '/block-height/1',
    },
    {
      name: 'a genesis hash that is not a hash',
      endpoint: '/block-height/0',
      fault: reply(200, ''),
      call: (a) => a.connect(),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: '/block-height/0',
    },
    {
      name: 'a block summary that is not JSON',
      endpoint: `/block/${blockOne}`,
      fault: reply(200, '{"id": "'),
      call: (a) => a.block(blockOne),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: `/block/${blockOne}`,
    },
    {
      name: 'a block summary without a height',
      endpoint: `/block/${blockOne}`,
      fault: reply(200, JSON.stringify({ id: blockOne })),
      call: (a) => a.block(blockOne),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: 'height',
    },
    {
      name: 'the summary of another block',
      endpoint: `/block/${blockOne}`,
      fault: reply(200, JSON.stringify({ id: blockTwo, height: 2 })),
      call: (a) => a.block(blockOne),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: blockTwo,
    },
    {
      name: 'a raw block cut short',
      endpoint: `/block/${blockOne}/raw`,
      fault: reply(200, rawBlockOne.subarray(0, rawBlockOne.length - 7)),
      call: (a) => a.block(blockOne),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: `/block/${blockOne}/raw`,
    },
    {
      name: 'a raw block with bytes after it',
      endpoint: `/block/${blockOne}/raw`,
      fault: reply(200, Buffer.concat([rawBlockOne, Buffer.from([0])])),
      call: (a) => a.block(blockOne),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: `/block/${blockOne}/raw`,
    },
    {
      name: 'another block’s raw bytes',
      endpoint: `/block/${blockOne}/raw`,
      fault: reply(200, chain.rawBlock(blockTwo)!),
      call: (a) => a.block(blockOne),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: blockTwo,
    },
    {
      name: 'transaction hex that is not hex',
      endpoint: `/tx/${paidInBlockOne}/hex`,
      fault: reply(200, 'Transaction pending'),
      call: (a) => a.transaction(paidInBlockOne),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: `/tx/${paidInBlockOne}/hex`,
    },
    {
      name: 'transaction hex cut short',
      endpoint: `/tx/${paidInBlockOne}/hex`,
      fault: reply(200, hexOfPayment.slice(0, -10)),
      call: (a) => a.transaction(paidInBlockOne),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: `/tx/${paidInBlockOne}/hex`,
    },
    {
      name: 'another transaction’s hex',
      endpoint: `/tx/${'11'.repeat(32)}/hex`,
      fault: reply(200, hexOfPayment),
      call: (a) => a.transaction('11'.repeat(32)),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: paidInBlockOne,
    },
    {
      name: 'a mempool that lists something else than txids',
      endpoint: '/mempool/txids',
      fault: reply(200, '["abc"]'),
      call: (a) => a.mempool(),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: '/mempool/txids',
    },
    {
      name: 'mempool statistics instead of txids',
      endpoint: '/mempool/txids',
      fault: reply(200, '{"count": 3}'),
      call: (a) => a.mempool(),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: '/mempool/txids',
    },
    {
      name: 'fee estimates keyed by words',
      endpoint: '/fee-estimates',
      fault: reply(200, '{"six": 3}'),
      call: (a) => a.estimateFee(6),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: '/fee-estimates',
    },
    {
      name: 'a negative fee estimate',
      endpoint: '/fee-estimates',
      fault: reply(200, '{"6": -1}'),
      call: (a) => a.estimateFee(6),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: '/fee-estimates',
    },
    {
      name: 'fee estimates as a list',
      endpoint: '/fee-estimates',
      fault: reply(200, '[5, 3, 1]'),
      call: (a) => a.estimateFee(6),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: '/fee-estimates',
    },
    {
      name: 'a broadcast answered with something else than a txid',
      endpoint: '/tx',
      fault: reply(200, 'ok'),
      call: (a) => a.broadcast(hexOfPayment),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: '/tx',
    },
  ];
  for (const { name, endpoint, fault, call, expected, mentioning } of hostile) {
    test(`${name} (${endpoint}): ${expected}`, async () => {
      esplora.faults.set(endpoint, fault);
      const started = Date.now();
      await assert.rejects(call(impatient), code(expected, mentioning));
      assert.ok(Date.now() - started < 3_000, `gave up after ${Date.now() - started} ms`);
    });
  }
  test('a provider that is not there: UNAVAILABLE with the reason', async () => {
    const gone = new EsploraAdaptor({ url: `http://127.0.0.1:${await freePort()}/api`, network: 'regtest', timeoutMs: 1_000 });
    await assert.rejects(gone.tip(), code('CHAIN_ADAPTOR_UNAVAILABLE', 'ECONNREFUSED'));
  });
});

test('chain.provider "esplora" builds this adaptor from chain.esplora and chain.network', () => {
  const config = configSchema.parse({
    chain: { network: 'signet', provider: 'esplora', esplora: { url: 'https://mempool.space/signet/api' } },
  });
  const built = createChainAdaptor(config);
  assert.ok(built instanceof EsploraAdaptor);
  assert.equal(built.network, 'signet');
  assert.equal(built.description, 'esplora https://mempool.space/signet/api');
});
