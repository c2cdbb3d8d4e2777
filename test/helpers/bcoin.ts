// A real regtest full node for tests: bcoin in memory on a free 127.0.0.1 port, with a funding key that mines
// coinbase coins to itself and pays whatever scripts a test wants, signed with @scure/btc-signer; and a miner's
// double spend, mined in a block built here.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p2pkh, Transaction } from '@scure/btc-signer';
import { merkleRoot, parseTransaction } from '../../src/chain-adaptor/index.js';
import { freePort } from './mosquitto.js';

/** bcoin's regtest prints addresses with its own prefixes (not Bitcoin Core's bcrt/m/2): compare scripts, not strings. */
export const BCOIN_REGTEST = { bech32: 'rb', pubKeyHash: 60, scriptHash: 38, wif: 90 };
const BCOIN = 'node_modules/bcoin/bin/node';
const FEE_SATS = 10_000;
const COINBASE_MATURITY = 100;
/** Regtest halves the block subsidy every 150 blocks (mainnet: 210,000). */
const REGTEST_HALVING_BLOCKS = 150;
/** BIP9 versionbits with no deployment signalled; at least 4, as BIP34, 66 and 65 require once active. */
const BLOCK_VERSION = 0x20000000;

export interface Payment {
  script: Uint8Array;
  value: number;
}

export interface Bcoin {
  url: string;
  password: string;
  rpc(method: string, params?: unknown[]): Promise<unknown>;
  /** Mines to the funding key (or to `address`); returns the block hashes. */
  mine(count: number, address?: string): Promise<string[]>;
  /** Pays the outputs from one mature coinbase coin, change back to the funding key; returns the txid. */
  pay(outputs: readonly Payment[]): Promise<string>;
  /**
   * A miner's double spend: mines on the tip a block holding a payment to `outputs` from the same coin as the
   * unconfirmed payment `txid` (made by `pay`). bcoin's mempool refuses such a conflict (bad-txns-inputs-spent,
   * replaceable or not), so the block is built here and sent with `submitblock`. Waits until the block is the tip
   * and `txid` has left the mempool.
   */
  mineConflicting(txid: string, outputs: readonly Payment[]): Promise<{ blockHash: string; txid: string }>;
  stop(): Promise<void>;
}

interface Coin {
  txid: string;
  vout: number;
  value: number;
  raw: Uint8Array;
}

export async function startBcoin(): Promise<Bcoin> {
  const port = await freePort();
  const prefix = mkdtempSync(join(tmpdir(), 'dctrl-bcoin-'));
  const password = randomBytes(16).toString('hex');
  const child: ChildProcess = spawn(
    process.execPath,
    [
      BCOIN,
      '--network=regtest',
      '--memory=true',
      // Only the node's RPC is used; its wallet server would take a fixed port and stop a second node starting.
      '--no-wallet=true',
      `--prefix=${prefix}`,
      '--http-host=127.0.0.1',
      `--http-port=${port}`,
      `--api-key=${password}`,
      '--index-tx=true',
      '--listen=false',
      '--only=127.0.0.1:1',
      '--workers=false',
      '--log-level=error',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = `http://127.0.0.1:${port}/`;
  let id = 0;
  const rpc = async (method: string, params: unknown[] = []): Promise<unknown> => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`x:${password}`).toString('base64')}` },
      body: JSON.stringify({ method, params, id: ++id }),
    });
    const body = (await response.json()) as { result: unknown; error: { message: string } | null };
    if (body.error) throw new Error(`bcoin ${method}: ${body.error.message}`);
    return body.result;
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await rpc('getblockcount');
      break;
    } catch (error) {
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`bcoin did not start: ${stderr || String(error)}`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  const key = createHash('sha256').update('dctrl test funder').digest();
  const funder = p2pkh(secp256k1.getPublicKey(key, true), BCOIN_REGTEST);
  const coins: Coin[] = [];
  /** The coin each payment spent, for a double spend of it. */
  const paidFrom = new Map<string, Coin>();

  const mine = async (count: number, address = funder.address): Promise<string[]> => {
    const hashes = (await rpc('generatetoaddress', [count, address])) as string[];
    if (address === funder.address) {
      for (const hash of hashes) {
        const block = (await rpc('getblock', [hash, true, false])) as { tx: string[] };
        const txid = block.tx[0]!;
        const raw = Buffer.from((await rpc('getrawtransaction', [txid, false])) as string, 'hex');
        coins.push({ txid, vout: 0, value: parseTransaction(raw).outputs[0]!.value, raw });
      }
    }
    return hashes;
  };

  const build = (coin: Coin, outputs: readonly Payment[], fee: number): Transaction => {
    // bcoin treats version-2 transactions as never replaceable (BIP125 signalling is read on version 1 only).
    const tx = new Transaction({ version: 1 });
    tx.addInput({ txid: coin.txid, index: coin.vout, nonWitnessUtxo: coin.raw });
    let paid = 0;
    for (const output of outputs) {
      tx.addOutput({ script: output.script, amount: BigInt(output.value) });
      paid += output.value;
    }
    const change = coin.value - paid - fee;
    if (change < 0) throw new Error(`a coin of ${coin.value} sats cannot pay ${paid} + ${fee}`);
    if (change > 0) tx.addOutputAddress(funder.address, BigInt(change), BCOIN_REGTEST);
    tx.sign(key);
    tx.finalize();
    return tx;
  };

  /** bcoin's sendrawtransaction returns before the mempool has decided; wait until it took the transaction. */
  const sent = async (hex: string): Promise<string> => {
    const txid = (await rpc('sendrawtransaction', [hex])) as string;
    const until = Date.now() + 5_000;
    while (!((await rpc('getrawmempool')) as string[]).includes(txid)) {
      if (Date.now() > until) throw new Error(`bcoin did not take ${txid} into its mempool`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return txid;
  };

  return {
    url,
    password,
    rpc,
    mine,
    async pay(outputs) {
      // Coins are kept in the order mined: the oldest has matured once a hundred more were mined after it.
      if (coins.length <= COINBASE_MATURITY) throw new Error('no mature coin: mine more blocks first');
      const coin = coins.shift()!;
      const txid = await sent(build(coin, outputs, FEE_SATS).hex);
      paidFrom.set(txid, coin);
      return txid;
    },
    async mineConflicting(paid, outputs) {
      const coin = paidFrom.get(paid);
      if (!coin) throw new Error(`${paid} was not paid by pay(): no coin to spend twice`);
      const conflicting = build(coin, outputs, FEE_SATS);
      if (conflicting.id === paid) throw new Error(`pay other outputs than ${paid} does, or it is the same transaction`);
      const tipHash = (await rpc('getbestblockhash')) as string;
      const tip = (await rpc('getblockheader', [tipHash, true])) as { height: number; bits: number; mediantime: number };
      const height = tip.height + 1;
      const coinbase = coinbaseTransaction(height, blockSubsidy(height) + FEE_SATS, funder.script);
      const coinbaseTxid = parseTransaction(coinbase).txid;
      const header = Buffer.alloc(80);
      header.writeUInt32LE(BLOCK_VERSION, 0);
      Buffer.from(tipHash, 'hex').reverse().copy(header, 4);
      merkleRoot([coinbaseTxid, conflicting.id]).copy(header, 36);
      header.writeUInt32LE(Math.max(tip.mediantime + 1, Math.floor(Date.now() / 1000)), 68);
      header.writeUInt32LE(tip.bits, 72);
      const blockHash = grindNonce(header, tip.bits);
      const block = Buffer.concat([header, Buffer.from([2]), coinbase, conflicting.extract()]);
      const refused = await rpc('submitblock', [block.toString('hex')]);
      // submitblock answers null when the block is taken, "rejected: <reason>" otherwise.
      if (refused !== null) throw new Error(`bcoin refused the block: ${JSON.stringify(refused)}`);
      const until = Date.now() + 5_000;
      while ((await rpc('getbestblockhash')) !== blockHash || ((await rpc('getrawmempool')) as string[]).includes(paid)) {
        if (Date.now() > until) throw new Error(`block ${blockHash} did not become the tip and evict ${paid}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      coins.push({ txid: coinbaseTxid, vout: 0, value: parseTransaction(coinbase).outputs[0]!.value, raw: coinbase });
      return { blockHash, txid: conflicting.id };
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

function sha256d(data: Uint8Array): Buffer {
  return createHash('sha256').update(createHash('sha256').update(data).digest()).digest();
}

function compactSize(value: number): Buffer {
  if (value < 0xfd) return Buffer.from([value]);
  const bytes = Buffer.alloc(3);
  bytes[0] = 0xfd;
  bytes.writeUInt16LE(value, 1);
  return bytes;
}

function blockSubsidy(height: number): number {
  const halvings = Math.floor(height / REGTEST_HALVING_BLOCKS);
  return halvings >= 64 ? 0 : Number(5_000_000_000n >> BigInt(halvings));
}

/** The push of a number as script writes it (CScriptNum): OP_0, OP_1–OP_16, else minimal little-endian bytes. */
function scriptNumberPush(value: number): Buffer {
  if (value === 0) return Buffer.from([0x00]);
  if (value <= 16) return Buffer.from([0x50 + value]);
  const bytes: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.push(rest % 256);
  if (bytes.at(-1)! & 0x80) bytes.push(0);
  return Buffer.from([bytes.length, ...bytes]);
}

/** A coinbase paying `value` to `script`; its script starts with the height (BIP34), then a tag (at least 2 bytes). */
function coinbaseTransaction(height: number, value: number, script: Uint8Array): Buffer {
  const tag = Buffer.from('dctrl test miner');
  const scriptSig = Buffer.concat([scriptNumberPush(height), Buffer.from([tag.length]), tag]);
  const amount = Buffer.alloc(8);
  amount.writeBigUInt64LE(BigInt(value));
  return Buffer.concat([
    Buffer.from([1, 0, 0, 0]),
    compactSize(1),
    Buffer.alloc(32),
    Buffer.from([0xff, 0xff, 0xff, 0xff]),
    compactSize(scriptSig.length),
    scriptSig,
    Buffer.from([0xff, 0xff, 0xff, 0xff]),
    compactSize(1),
    amount,
    compactSize(script.length),
    Buffer.from(script),
    Buffer.alloc(4),
  ]);
}

/** Sets the header's nonce until its hash meets the target its compact `bits` encode; returns the block hash. */
function grindNonce(header: Buffer, bits: number): string {
  const exponent = bits >>> 24;
  const target = BigInt(bits & 0x007fffff) << BigInt(8 * (exponent - 3));
  for (let nonce = 0; nonce <= 0xffffffff; nonce++) {
    header.writeUInt32LE(nonce, 76);
    const hash = sha256d(header).reverse().toString('hex');
    if (BigInt(`0x${hash}`) <= target) return hash;
  }
  throw new Error(`no nonce meets bits ${bits.toString(16)}: bump the time and try again`);
}
