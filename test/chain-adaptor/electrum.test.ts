// The Electrum adaptor against a local server speaking protocol 1.4 over TCP (and TLS) from a simulated chain's real
// headers and transactions: answers out of order, status notifications, and servers that stall, drop or misbehave.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p2wpkh, Transaction } from '@scure/btc-signer';
import {
  createChainAdaptor,
  ElectrumAdaptor,
  GENESIS_HASHES,
  scriptHash,
  SimulatedChain,
} from '../../src/chain-adaptor/index.js';
import { configSchema } from '../../src/core/config.js';
import { tempDir } from '../helpers/harness.js';
import { freePort } from '../helpers/mosquitto.js';
import {
  answer,
  electrumScriptHash,
  electrumStatus,
  genesisHeader,
  hangUp,
  refuse,
  silent,
  startFakeElectrum,
  writeRaw,
  type Fault,
  type FakeElectrum,
} from './electrum-server.js';
import { paymentScript } from '../helpers/scripts.js';

interface ScriptHashVectors {
  vectors: { id: string; script: string; sha256: string; scriptHash: string }[];
}
const readVectors = <T>(name: string) => JSON.parse(readFileSync(new URL(`./vectors/${name}`, import.meta.url), 'utf8')) as T;
const scriptHashVectors = readVectors<ScriptHashVectors>('electrum-script-hashes.json');

const code =
  (expected: string, ...mentioning: string[]) =>
  (error: Error & { code?: string }): boolean => {
    assert.equal(error.code, expected, error.message);
    for (const words of mentioning) assert.ok(error.message.includes(words), `"${words}" in: ${error.message}`);
    assert.ok(error.message.length < 600, `a message of ${error.message.length} characters`);
    return true;
  };
const script = paymentScript;
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
/** A listener that keeps its calls: `next()` waits for the next one, `waiting()` counts those not yet taken. */
function nextCall<T>(): { listener: (value: T) => void; next: () => Promise<T>; waiting: () => number } {
  const calls: T[] = [];
  let wake: (() => void) | undefined;
  return {
    waiting: () => calls.length,
    listener: (value) => {
      calls.push(value);
      wake?.();
    },
    next: async () => {
      while (calls.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      return calls.shift()!;
    },
  };
}

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));

// A payment in block 1 and an empty block 2, made before the tests so the hostile table can name them.
const chain = new SimulatedChain('regtest');
const paidInBlockOne = chain.send([{ script: script(1), value: 75_000 }]);
const [blockOne, blockTwo] = chain.mine(2) as [string, string];
let electrum: FakeElectrum;
let adaptor: ElectrumAdaptor;
/** For the calls that never get an answer. */
let impatient: ElectrumAdaptor;

before(async () => {
  electrum = await startFakeElectrum(chain, genesisHeader('regtest'));
  const where = { host: electrum.host, port: electrum.port, tls: false, network: 'regtest' as const };
  adaptor = new ElectrumAdaptor({ ...where, timeoutMs: 5_000 });
  impatient = new ElectrumAdaptor({ ...where, timeoutMs: 300 });
});
afterEach(() => electrum.faults.clear());
after(async () => {
  await adaptor?.close();
  await impatient?.close();
  await electrum?.close();
});

describe('the script hash is the reversed SHA-256 of the output script (vectors/electrum-script-hashes.json)', () => {
  for (const vector of scriptHashVectors.vectors) {
    test(vector.id, () => assert.equal(scriptHash(Buffer.from(vector.script, 'hex')), vector.scriptHash));
  }
});

test('connect: the regtest genesis passes; a mainnet adaptor is told the server serves regtest', async () => {
  await adaptor.connect();
  assert.equal(adaptor.description, `electrum tcp://127.0.0.1:${electrum.port}`);
  const mainnet = new ElectrumAdaptor({
    host: electrum.host,
    port: electrum.port,
    tls: false,
    network: 'mainnet',
    timeoutMs: 5_000,
  });
  try {
    await assert.rejects(mainnet.connect(), code('CHAIN_ADAPTOR_WRONG_NETWORK', 'serves regtest', GENESIS_HASHES.regtest));
  } finally {
    await mainnet.close();
  }
});

test('connect names the chain a server serves: mainnet, or one it does not know', async () => {
  electrum.faults.set('blockchain.block.header', answer(hex(genesisHeader('mainnet'))));
  await assert.rejects(adaptor.connect(), code('CHAIN_ADAPTOR_WRONG_NETWORK', 'serves mainnet'));
  electrum.faults.set('blockchain.block.header', answer('ab'.repeat(80)));
  await assert.rejects(adaptor.connect(), code('CHAIN_ADAPTOR_WRONG_NETWORK', 'an unknown chain'));
});

test('server.version, asking for protocol 1.4, is the first message on every connection', async () => {
  await adaptor.tip();
  const sessions = electrum.openSessions;
  assert.ok(sessions.length >= 1);
  for (const methods of sessions) assert.equal(methods[0], 'server.version');
});

test('the tip and every block hash are the simulated chain’s, hashed from the 80-byte headers', async () => {
  const tip = await adaptor.tip();
  assert.deepEqual(tip, await chain.tip());
  assert.equal(tip.hash, blockTwo);
  for (let height = 1; height <= tip.height; height++)
    assert.equal(await adaptor.blockHash(height), await chain.blockHash(height));
  assert.equal(await adaptor.blockHash(1), blockOne);
  assert.equal(await adaptor.blockHash(0), GENESIS_HASHES.regtest);
  await assert.rejects(adaptor.blockHash(tip.height + 5), code('CHAIN_ADAPTOR_NOT_FOUND', `height ${tip.height + 5}`));
});

test('a transaction is parsed from its raw hex and checked against its txid; an unknown one is undefined', async () => {
  assert.deepEqual(await adaptor.transaction(paidInBlockOne), await chain.transaction(paidInBlockOne));
  assert.equal((await adaptor.transaction(paidInBlockOne))?.outputs[0]?.value, 75_000);
  assert.equal(await adaptor.transaction('11'.repeat(32)), undefined);
});

test('answers arriving in reverse order each reach their own call', async () => {
  electrum.holdAnswers(3);
  const answered = electrum.answerOrder.length;
  const [tx, tip, hash] = await Promise.all([adaptor.transaction(paidInBlockOne), adaptor.tip(), adaptor.blockHash(1)]);
  assert.equal(tx?.txid, paidInBlockOne);
  assert.equal(tip.hash, blockTwo);
  assert.equal(hash, blockOne);
  const order = electrum.answerOrder.slice(answered);
  assert.deepEqual(
    order,
    [...order].sort((a, b) => b - a),
    `answer ids in reverse: ${order.join(', ')}`,
  );
});

test('block() and mempool() are UNSUPPORTED: Electrum answers by script, not by block', async () => {
  await assert.rejects(adaptor.block(blockOne), code('CHAIN_ADAPTOR_UNSUPPORTED', 'by script', blockOne));
  await assert.rejects(adaptor.mempool(), code('CHAIN_ADAPTOR_UNSUPPORTED', 'by script'));
});

test('a paid script’s history and mempool: seen waiting, then mined; a spend of its coin appears too', async () => {
  assert.deepEqual(await adaptor.scriptHistory(hex(script(1))), [{ txid: paidInBlockOne, height: 1 }]);
  assert.deepEqual(await adaptor.scriptMempool(hex(script(1))), []);
  const paid = chain.send([{ script: script(2), value: 12_345 }]);
  // Spending the payment while it waits: an input not yet confirmed, so height -1.
  const spent = chain.send([{ script: script(3), value: 12_000 }], [{ txid: paid, vout: 0 }]);
  assert.deepEqual(await adaptor.scriptMempool(hex(script(2))), [
    { txid: paid, height: 0 },
    { txid: spent, height: -1 },
  ]);
  assert.deepEqual(await adaptor.scriptHistory(hex(script(2))), await adaptor.scriptMempool(hex(script(2))));
  const [mined] = chain.mine(1);
  const height = (await adaptor.tip()).height;
  assert.equal(await adaptor.blockHash(height), mined);
  assert.deepEqual(await adaptor.scriptHistory(hex(script(2))), [
    { txid: paid, height },
    { txid: spent, height },
  ]);
  assert.deepEqual(await adaptor.scriptMempool(hex(script(2))), []);
  assert.deepEqual(await adaptor.scriptHistory(hex(script(99))), []);
  await assert.rejects(adaptor.scriptHistory('not hex'), TypeError);
});

test('subscribeScript: null for a fresh script, then the new status when a payment is seen and when it is mined', async () => {
  const watched = script(5);
  const { listener, next, waiting } = nextCall<string | null>();
  const subscription = await adaptor.subscribeScript(hex(watched), listener);
  assert.equal(subscription.status, null);
  const paid = chain.send([{ script: watched, value: 50_000 }]);
  await electrum.notifyStatusChanges();
  assert.equal(await next(), electrumStatus([{ tx_hash: paid, height: 0 }]));
  chain.mine(1);
  await electrum.notifyStatusChanges();
  const { height } = await adaptor.tip();
  assert.equal(await next(), electrumStatus([{ tx_hash: paid, height }]));
  assert.deepEqual(await adaptor.scriptHistory(hex(watched)), [{ txid: paid, height }]);

  subscription.unsubscribe();
  const quiet = nextCall<string | null>();
  const other = await adaptor.subscribeScript(hex(script(6)), quiet.listener);
  chain.send([{ script: watched, value: 1_000 }]);
  chain.send([{ script: script(6), value: 2_000 }]);
  await electrum.notifyStatusChanges();
  await quiet.next();
  assert.equal(waiting(), 0, 'no call after unsubscribe');
  other.unsubscribe();
});

test('a dropped connection is opened again by the next call, renewing subscriptions and reporting what changed', async () => {
  const watched = script(7);
  const { listener, next } = nextCall<string | null>();
  await adaptor.subscribeScript(hex(watched), listener);
  const connectionsBefore = electrum.connections;
  electrum.dropConnections();
  const paid = chain.send([{ script: watched, value: 7_000 }]);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal((await adaptor.tip()).hash, (await chain.tip()).hash);
  assert.equal(electrum.connections, connectionsBefore + 1);
  assert.equal(await next(), electrumStatus([{ tx_hash: paid, height: 0 }]));
  const [renewed] = electrum.openSessions.filter((methods) => methods.includes('blockchain.headers.subscribe'));
  assert.deepEqual(renewed?.slice(0, 2), ['server.version', 'blockchain.scripthash.subscribe']);
});

test('broadcast: a signed transaction’s txid; one the node refuses is RPC_ERROR with its reason', async () => {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
  const spending = p2wpkh(secp256k1.getPublicKey(key, true));
  const tx = new Transaction();
  tx.addInput({ txid: 'ab'.repeat(32), index: 0, witnessUtxo: { script: spending.script, amount: 100_000n } });
  tx.addOutput({ script: script(4), amount: 90_000n });
  tx.sign(key);
  tx.finalize();
  assert.equal(await adaptor.broadcast(tx.hex), tx.id);
  assert.deepEqual(await adaptor.scriptMempool(hex(script(4))), [{ txid: tx.id, height: 0 }]);
  assert.equal((await adaptor.transaction(tx.id))?.outputs[0]?.value, 90_000);
  await assert.rejects(adaptor.broadcast('00'), code('CHAIN_ADAPTOR_RPC_ERROR', 'TX decode failed', 'code 1'));
});

describe('estimateFee converts bitcoin per kilobyte to whole sat/vB', () => {
  const cases: [string, number, number | undefined][] = [
    ['no estimate yet (-1)', -1, undefined],
    ['0.00001 BTC/kB, the usual floor', 0.00001, 1],
    ['0.0002 BTC/kB', 0.0002, 20],
    ['0.000015 BTC/kB rounds to 2', 0.000015, 2],
    ['a fraction of a sat/vB is at least 1', 0.000001, 1],
  ];
  for (const [name, perKilobyte, satPerVbyte] of cases) {
    test(name, async () => {
      electrum.feesPerKilobyte.set(6, perKilobyte);
      assert.equal(await adaptor.estimateFee(6), satPerVbyte);
    });
  }
});

describe('a server that stalls, drops or answers what the protocol does not say gets a code, never a hang', () => {
  const hexOfPayment = hex(chain.rawTransaction(paidInBlockOne)!);
  const header = (height: number) => hex(chain.rawBlock(height === 1 ? blockOne : blockTwo)!.subarray(0, 80));
  const hostile: {
    name: string;
    method: string;
    fault: Fault;
    call: (adaptor: ElectrumAdaptor) => Promise<unknown>;
    expected: string;
    mentioning: string[];
    /** The fault is in opening a connection, so the case starts from a closed one. */
    fresh?: true;
  }[] = [
    {
      name: 'no answer at all',
      method: 'blockchain.estimatefee',
      fault: silent,
      call: (a) => a.estimateFee(2),
      expected: 'CHAIN_ADAPTOR_UNAVAILABLE',
      mentioning: ['blockchain.estimatefee', 'no answer within 300 ms'],
    },
    {
      name: 'the connection dropped mid-request',
      method: 'blockchain.scripthash.get_history',
      fault: hangUp,
      call: (a) => a.scriptHistory(hex(script(1))),
      expected: 'CHAIN_ADAPTOR_UNAVAILABLE',
      mentioning: ['blockchain.scripthash.get_history', 'closed'],
    },
    {
      name: 'a line that is not JSON',
      method: 'blockchain.headers.subscribe',
      fault: writeRaw('<html>502 Bad Gateway</html>\n'),
      call: (a) => a.tip(),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: ['blockchain.headers.subscribe', 'not JSON', '502 Bad Gateway'],
    },
    {
      name: 'an error object',
      method: 'blockchain.transaction.get',
      fault: refuse(-101, 'excessive resource usage'),
      call: (a) => a.transaction(paidInBlockOne),
      expected: 'CHAIN_ADAPTOR_RPC_ERROR',
      mentioning: ['blockchain.transaction.get', 'excessive resource usage', 'code -101'],
    },
    {
      name: 'a 10 MB line without a newline',
      method: 'blockchain.transaction.get',
      fault: writeRaw(Buffer.alloc(10 * 1024 * 1024, 0x61)),
      call: (a) => a.transaction(paidInBlockOne),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: ['blockchain.transaction.get', 'longer than 9000000 bytes'],
    },
    {
      name: 'an answer with neither result nor error',
      method: 'blockchain.headers.subscribe',
      fault: ({ id, send }) => send({ jsonrpc: '2.0', id }),
      call: (a) => a.tip(),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: ['neither an answer nor a notification'],
    },
    {
      name: 'a notification without its params',
      method: 'blockchain.headers.subscribe',
      fault: ({ send }) => send({ jsonrpc: '2.0', method: 'blockchain.scripthash.subscribe' }),
      call: (a) => a.tip(),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: ['without a params list'],
    },
    {
      name: 'a status notification that is not [scripthash, status]',
      method: 'blockchain.headers.subscribe',
      fault: ({ send }) => send({ jsonrpc: '2.0', method: 'blockchain.scripthash.subscribe', params: ['x', 3] }),
      call: (a) => a.tip(),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: ['[scripthash, status]'],
    },
    {
      name: 'a protocol version other than the one asked',
      method: 'server.version',
      fault: answer(['OldElectrum 0.9', '1.2']),
      call: (a) => a.tip(),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: ['server.version', '"1.2"'],
      fresh: true,
    },
    {
      name: 'a server that hangs up on the version it cannot speak',
      method: 'server.version',
      fault: hangUp,
      call: (a) => a.tip(),
      expected: 'CHAIN_ADAPTOR_UNAVAILABLE',
      mentioning: ['server.version'],
      fresh: true,
    },
    {
      name: 'a tip without its height',
      method: 'blockchain.headers.subscribe',
      fault: answer({ hex: header(2) }),
      call: (a) => a.tip(),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: ['{height, hex}'],
    },
    {
      name: 'a header one byte short',
      method: 'blockchain.block.header',
      fault: answer(header(1).slice(0, -2)),
      call: (a) => a.blockHash(1),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: ['80-byte header', '79 bytes'],
    },
    {
      name: 'a header that is not hex',
      method: 'blockchain.block.header',
      fault: answer('height out of range'),
      call: (a) => a.blockHash(1),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: ['blockchain.block.header', 'not hex'],
    },
    {
      name: 'transaction hex cut short',
      method: 'blockchain.transaction.get',
      fault: answer(hexOfPayment.slice(0, -10)),
      call: (a) => a.transaction(paidInBlockOne),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: ['blockchain.transaction.get'],
    },
    {
      name: 'another transaction’s hex',
      method: 'blockchain.transaction.get',
      fault: answer(hexOfPayment),
      call: (a) => a.transaction('11'.repeat(32)),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: [paidInBlockOne],
    },
    {
      name: 'a history that is not a list',
      method: 'blockchain.scripthash.get_history',
      fault: answer({ from_height: 0, to_height: -1, history: [] }),
      call: (a) => a.scriptHistory(hex(script(1))),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: ['{tx_hash, height}'],
    },
    {
      name: 'a status that is not a hash',
      method: 'blockchain.scripthash.subscribe',
      fault: answer('ok'),
      call: (a) => a.subscribeScript(hex(script(1)), () => undefined),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: ['status'],
    },
    {
      name: 'a broadcast refused as protocol 1.0 did, in the result',
      method: 'blockchain.transaction.broadcast',
      fault: answer('258: txn-mempool-conflict'),
      call: (a) => a.broadcast(hexOfPayment),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: ['txid'],
    },
    {
      name: 'a fee estimate that is not a number',
      method: 'blockchain.estimatefee',
      fault: answer('0.0001'),
      call: (a) => a.estimateFee(2),
      expected: 'CHAIN_ADAPTOR_MALFORMED',
      mentioning: ['blockchain.estimatefee'],
    },
  ];
  for (const { name, method, fault, call, expected, mentioning, fresh } of hostile) {
    test(`${name} (${method}): ${expected}, and the next call is answered`, async () => {
      if (fresh) await impatient.close();
      electrum.faults.set(method, fault);
      const started = Date.now();
      await assert.rejects(call(impatient), code(expected, ...mentioning));
      assert.ok(Date.now() - started < 3_000, `gave up after ${Date.now() - started} ms`);
      electrum.faults.clear();
      assert.equal((await impatient.tip()).hash, (await chain.tip()).hash);
    });
  }

  test('calls in flight when one goes unanswered fail with it, naming their own method', async () => {
    electrum.faults.set('blockchain.estimatefee', silent);
    electrum.faults.set('blockchain.scripthash.get_mempool', silent);
    const [fee, mempool] = await Promise.allSettled([impatient.estimateFee(2), impatient.scriptMempool(hex(script(1)))]);
    assert.equal(fee.status, 'rejected');
    assert.equal(mempool.status, 'rejected');
    code('CHAIN_ADAPTOR_UNAVAILABLE', 'blockchain.estimatefee')(fee.reason as Error);
    code('CHAIN_ADAPTOR_UNAVAILABLE', 'blockchain.scripthash.get_mempool')(mempool.reason as Error);
  });

  test('a server that is not there: UNAVAILABLE with the reason', async () => {
    const gone = new ElectrumAdaptor({
      host: '127.0.0.1',
      port: await freePort(),
      tls: false,
      network: 'regtest',
      timeoutMs: 1_000,
    });
    await assert.rejects(gone.tip(), code('CHAIN_ADAPTOR_UNAVAILABLE', 'ECONNREFUSED'));
    await gone.close();
  });
});

test('close fails the calls in flight, leaves no timer behind, and a later call connects again', async () => {
  const closing = new ElectrumAdaptor({
    host: electrum.host,
    port: electrum.port,
    tls: false,
    network: 'regtest',
    timeoutMs: 60_000,
  });
  await closing.tip();
  const timersBefore = process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
  electrum.faults.set('blockchain.estimatefee', silent);
  const failed = assert.rejects(closing.estimateFee(2), code('CHAIN_ADAPTOR_UNAVAILABLE', 'blockchain.estimatefee', 'closed'));
  await new Promise((resolve) => setTimeout(resolve, 20));
  await closing.close();
  await failed;
  const timersAfter = process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
  assert.ok(timersAfter <= timersBefore, `timers: ${timersBefore} before, ${timersAfter} after`);
  electrum.faults.clear();
  assert.equal((await closing.tip()).hash, (await chain.tip()).hash);
  await closing.close();
});

describe('over TLS (a self-signed certificate made by openssl)', () => {
  let overTls: FakeElectrum;
  let cert: string;

  before(async () => {
    const dir = tempDir('dctrl-electrum-tls-');
    const [certFile, keyFile] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
    execFileSync(
      'openssl',
      [
        ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1'],
        ...['-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
        ...['-keyout', keyFile, '-out', certFile],
      ],
      { stdio: 'ignore' },
    );
    cert = readFileSync(certFile, 'utf8');
    overTls = await startFakeElectrum(chain, genesisHeader('regtest'), { tls: { cert, key: readFileSync(keyFile, 'utf8') } });
  });
  after(() => overTls?.close());

  test('with the certificate trusted: connect, the tip, a transaction', async () => {
    const secure = new ElectrumAdaptor({
      host: 'localhost',
      port: overTls.port,
      tls: true,
      network: 'regtest',
      timeoutMs: 5_000,
      ca: cert,
    });
    try {
      assert.equal(secure.description, `electrum tls://localhost:${overTls.port}`);
      await secure.connect();
      assert.deepEqual(await secure.tip(), await chain.tip());
      assert.equal((await secure.transaction(paidInBlockOne))?.txid, paidInBlockOne);
    } finally {
      await secure.close();
    }
  });

  test('without it: UNAVAILABLE, saying the certificate is self-signed', async () => {
    const untrusting = new ElectrumAdaptor({
      host: 'localhost',
      port: overTls.port,
      tls: true,
      network: 'regtest',
      timeoutMs: 5_000,
    });
    await assert.rejects(untrusting.tip(), code('CHAIN_ADAPTOR_UNAVAILABLE', 'self-signed'));
    await untrusting.close();
  });
});

test('chain.provider "electrum" builds this adaptor from chain.electrum and chain.network, connecting to nothing yet', () => {
  const defaults = configSchema.parse({ chain: { provider: 'electrum' } }).chain.electrum;
  assert.deepEqual(defaults, { host: '127.0.0.1', port: 60401, tls: false, timeoutMs: 30_000 });
  const config = configSchema.parse({
    chain: { network: 'mainnet', provider: 'electrum', electrum: { host: 'electrum.example', port: 50002, tls: true } },
    priceNotifier: { sources: [{ kind: 'kraken', name: 'kraken' }] },
  });
  const built = createChainAdaptor(config);
  assert.ok(built instanceof ElectrumAdaptor);
  assert.equal(built.network, 'mainnet');
  assert.equal(built.description, 'electrum tls://electrum.example:50002');
});

test('the fake server hashes scripts as the adaptor does, and nothing was left unhandled', () => {
  assert.equal(electrumScriptHash(script(1)), scriptHash(script(1)));
  assert.deepEqual(unhandled, []);
});
