// A real regtest full node for tests: bcoin in memory on a free 127.0.0.1 port, with a funding key that mines
// coinbase coins to itself and pays whatever scripts a test wants, signed with @scure/btc-signer.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p2pkh, Transaction } from '@scure/btc-signer';
import { parseTransaction } from '../../src/chain-adaptor/index.js';
import { freePort } from './mosquitto.js';

/** bcoin's regtest prints addresses with its own prefixes (not Bitcoin Core's bcrt/m/2): compare scripts, not strings. */
export const BCOIN_REGTEST = { bech32: 'rb', pubKeyHash: 60, scriptHash: 38, wif: 90 };
const BCOIN = 'node_modules/bcoin/bin/node';
const FEE_SATS = 10_000;
const COINBASE_MATURITY = 100;

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
      const coin = coins.shift();
      const tx = build(coin!, outputs, FEE_SATS);
      return sent(tx.hex);
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
