// Bitcoin Core's JSON-RPC (and nodes that speak it, such as bcoin): blocks as raw bytes, parsed here.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ChainAdaptorError } from './errors.js';
import { hexBytes, parseBlock, parseTransaction } from './raw.js';
import type { ChainAdaptor, ChainBlock, ChainTip, ChainTx, NetworkName } from './types.js';

export interface BitcoinCoreOptions {
  url: string;
  network: NetworkName;
  user?: string | undefined;
  password?: string | undefined;
  /** Bitcoin Core's .cookie file (user:password), read at each connect so a node restart's new cookie works. */
  cookieFile?: string | undefined;
  timeoutMs: number;
}

/** What `getblockchaininfo` calls each network. */
const CHAIN_NAMES: Record<NetworkName, string> = { mainnet: 'main', testnet: 'test', signet: 'signet', regtest: 'regtest' };
const RPC_NOT_FOUND = [-5, -8];

const rpcReply = z.object({
  result: z.unknown(),
  error: z.object({ code: z.number(), message: z.string() }).nullable().optional(),
});

export class BitcoinCoreAdaptor implements ChainAdaptor {
  readonly description: string;
  readonly network: NetworkName;
  #authorization = '';
  #nextId = 1;

  constructor(private readonly options: BitcoinCoreOptions) {
    const url = new URL(options.url);
    this.description = `bitcoin-core ${url.protocol}//${url.host}`;
    this.network = options.network;
  }

  async connect(): Promise<void> {
    this.#authorization = this.#credentials();
    const info = z.object({ chain: z.string(), blocks: z.number() }).safeParse(await this.call('getblockchaininfo', []));
    if (!info.success)
      throw new ChainAdaptorError('CHAIN_ADAPTOR_MALFORMED', `${this.description}: getblockchaininfo has no chain`);
    if (info.data.chain !== CHAIN_NAMES[this.network]) {
      throw new ChainAdaptorError(
        'CHAIN_ADAPTOR_WRONG_NETWORK',
        `${this.description} serves "${info.data.chain}", but chain.network is ${this.network} ("${CHAIN_NAMES[this.network]}")`,
      );
    }
  }

  async tip(): Promise<ChainTip> {
    const height = z
      .int()
      .nonnegative()
      .parse(await this.call('getblockcount', []));
    return { height, hash: await this.blockHash(height) };
  }

  async blockHash(height: number): Promise<string> {
    return checkedHash(await this.call('getblockhash', [height]), 'getblockhash');
  }

  async block(hash: string): Promise<ChainBlock> {
    const header = z.object({ height: z.int().nonnegative() }).safeParse(await this.call('getblockheader', [hash, true]));
    if (!header.success)
      throw new ChainAdaptorError('CHAIN_ADAPTOR_MALFORMED', `${this.description}: getblockheader ${hash} has no height`);
    const raw = hexBytes(await this.call('getblock', [hash, 0]), `block ${hash}`);
    const block = parseBlock(raw, header.data.height);
    if (block.hash !== hash) throw new ChainAdaptorError('CHAIN_ADAPTOR_MALFORMED', `asked for block ${hash}, got ${block.hash}`);
    return block;
  }

  async transaction(txid: string): Promise<ChainTx | undefined> {
    try {
      const tx = parseTransaction(hexBytes(await this.call('getrawtransaction', [txid, false]), `transaction ${txid}`));
      if (tx.txid !== txid)
        throw new ChainAdaptorError('CHAIN_ADAPTOR_MALFORMED', `asked for transaction ${txid}, got ${tx.txid}`);
      return tx;
    } catch (error) {
      if (error instanceof ChainAdaptorError && error.code === 'CHAIN_ADAPTOR_NOT_FOUND') return undefined;
      throw error;
    }
  }

  async mempool(): Promise<string[]> {
    const txids = z.array(z.string()).safeParse(await this.call('getrawmempool', [false]));
    if (!txids.success)
      throw new ChainAdaptorError('CHAIN_ADAPTOR_MALFORMED', `${this.description}: getrawmempool is not a list of txids`);
    return txids.data.map((txid) => checkedHash(txid, 'getrawmempool'));
  }

  async broadcast(rawTxHex: string): Promise<string> {
    return checkedHash(await this.call('sendrawtransaction', [rawTxHex]), 'sendrawtransaction');
  }

  async estimateFee(targetBlocks: number): Promise<number | undefined> {
    const estimate = z
      .object({ feerate: z.number().positive().optional() })
      .safeParse(await this.call('estimatesmartfee', [targetBlocks]));
    if (!estimate.success || estimate.data.feerate === undefined) return undefined;
    // BTC per kvB → sat/vB.
    return Math.max(1, Math.round((estimate.data.feerate * 100_000_000) / 1000));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** One JSON-RPC call. @throws ChainAdaptorError UNAVAILABLE, RPC_ERROR, NOT_FOUND or MALFORMED. */
  async call(method: string, params: unknown[]): Promise<unknown> {
    try {
      return await this.#callOnce(method, params);
    } catch (error) {
      // Bitcoin Core writes a new cookie each time it starts: a refusal after a restart is retried once with it.
      if (!(
        error instanceof ChainAdaptorError &&
        error.code === 'CHAIN_ADAPTOR_RPC_ERROR' &&
        this.options.cookieFile !== undefined &&
        /credentials/.test(error.message)
      )) {
        throw error;
      }
      this.#authorization = this.#credentials();
      return this.#callOnce(method, params);
    }
  }

  async #callOnce(method: string, params: unknown[]): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(this.options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: this.#authorization || this.#credentials() },
        body: JSON.stringify({ jsonrpc: '1.0', id: this.#nextId++, method, params }),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (cause) {
      const reason =
        (cause as Error).name === 'TimeoutError' ? `no answer within ${this.options.timeoutMs} ms` : (cause as Error).message;
      throw new ChainAdaptorError('CHAIN_ADAPTOR_UNAVAILABLE', `${this.description} ${method}: ${reason}`, { cause });
    }
    if (response.status === 401 || response.status === 403) {
      throw new ChainAdaptorError(
        'CHAIN_ADAPTOR_RPC_ERROR',
        `${this.description} refused the RPC credentials (HTTP ${response.status})`,
      );
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch (cause) {
      throw new ChainAdaptorError(
        'CHAIN_ADAPTOR_MALFORMED',
        `${this.description} ${method}: HTTP ${response.status} with a body that is not JSON`,
        { cause },
      );
    }
    const reply = rpcReply.safeParse(body);
    if (!reply.success)
      throw new ChainAdaptorError('CHAIN_ADAPTOR_MALFORMED', `${this.description} ${method}: not a JSON-RPC reply`);
    const { error, result } = reply.data;
    if (error) {
      // Bitcoin Core says -5 or -8; bcoin says -1 with "not found".
      const notFound = RPC_NOT_FOUND.includes(error.code) || /not found/i.test(error.message);
      const code = notFound ? 'CHAIN_ADAPTOR_NOT_FOUND' : 'CHAIN_ADAPTOR_RPC_ERROR';
      throw new ChainAdaptorError(code, `${this.description} ${method}: ${error.message.slice(0, 300)} (RPC ${error.code})`);
    }
    return result;
  }

  #credentials(): string {
    const { user, password, cookieFile } = this.options;
    let pair: string;
    if (cookieFile !== undefined) {
      try {
        pair = readFileSync(cookieFile, 'utf8').trim();
      } catch (cause) {
        throw new ChainAdaptorError(
          'CHAIN_ADAPTOR_CONFIG_INVALID',
          `cannot read the RPC cookie file ${cookieFile}: ${(cause as Error).message}`,
          { cause },
        );
      }
    } else if (user !== undefined || password !== undefined) pair = `${user ?? ''}:${password ?? ''}`;
    else
      throw new ChainAdaptorError(
        'CHAIN_ADAPTOR_CONFIG_INVALID',
        'Bitcoin Core RPC needs chain.bitcoinCore.cookieFile or a user and password',
      );
    return `Basic ${Buffer.from(pair).toString('base64')}`;
  }
}

function checkedHash(value: unknown, method: string): string {
  if (typeof value !== 'string' || !/^[0-9a-f]{64}$/.test(value)) {
    throw new ChainAdaptorError('CHAIN_ADAPTOR_MALFORMED', `${method} did not answer with a 64-hex-digit hash`);
  }
  return value;
}
