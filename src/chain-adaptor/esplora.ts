// Esplora's REST API (Blockstream's electrs, mempool.space, a self-hosted explorer): blocks fetched as raw bytes
// and parsed here, as with Bitcoin Core, so both providers yield the same transactions.
import { z } from 'zod';
import { ChainAdaptorError } from './errors.js';
import { parseBlock, parseTransaction } from './raw.js';
import type { ChainAdaptor, ChainBlock, ChainTip, ChainTx, NetworkName } from './types.js';

export interface EsploraOptions {
  /** The API's base URL: https://blockstream.info/api, https://mempool.space/signet/api, http://127.0.0.1:3002. */
  url: string;
  network: NetworkName;
  timeoutMs: number;
}

/**
 * Each network's genesis block hash. Esplora has no endpoint that names its network, so `connect()` compares the
 * block at height 0 with this.
 */
export const GENESIS_HASHES: Readonly<Record<NetworkName, string>> = {
  mainnet: '000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f',
  testnet: '000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943',
  signet: '00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6',
  regtest: '0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206',
};

/** Genesis hashes of chains that are not a chain.network, only to name them when a provider serves one. */
const OTHER_GENESIS_HASHES: Readonly<Record<string, string>> = {
  '00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043': 'testnet4 (not a chain.network)',
};

const ERROR_BODY_CHARS = 300;
const HASH = /^[0-9a-f]{64}$/;

const blockSummary = z.object({ id: z.string(), height: z.int().nonnegative() });
/** `{"<target blocks>": <sat/vB>}`, as `/fee-estimates` documents. */
const feeEstimates = z.record(z.string().regex(/^[1-9][0-9]*$/), z.number().nonnegative());

export class EsploraAdaptor implements ChainAdaptor {
  readonly description: string;
  readonly network: NetworkName;
  readonly #baseUrl: string;

  constructor(private readonly options: EsploraOptions) {
    const url = new URL(options.url);
    this.#baseUrl = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
    this.description = `esplora ${this.#baseUrl}`;
    this.network = options.network;
  }

  /** @throws ChainAdaptorError WRONG_NETWORK, or CONFIG_INVALID when the URL is not an Esplora API's base. */
  async connect(): Promise<void> {
    let genesis: string;
    try {
      genesis = await this.blockHash(0);
    } catch (error) {
      if (!(error instanceof ChainAdaptorError) || error.code !== 'CHAIN_ADAPTOR_NOT_FOUND') throw error;
      throw new ChainAdaptorError(
        'CHAIN_ADAPTOR_CONFIG_INVALID',
        `${this.description} has no block at height 0, so it is not an Esplora API: chain.esplora.url must be the API's base, such as https://blockstream.info/api`,
        { cause: error },
      );
    }
    if (genesis === GENESIS_HASHES[this.network]) return;
    const served =
      Object.entries(GENESIS_HASHES).find(([, hash]) => hash === genesis)?.[0] ??
      OTHER_GENESIS_HASHES[genesis] ??
      'an unknown chain';
    throw new ChainAdaptorError(
      'CHAIN_ADAPTOR_WRONG_NETWORK',
      `${this.description} serves ${served}, but chain.network is ${this.network}: its block 0 is ${genesis}, not ${GENESIS_HASHES[this.network]}`,
    );
  }

  /** The best height, then the hash at that height: two calls, but never a hash of another height. */
  async tip(): Promise<ChainTip> {
    const endpoint = '/blocks/tip/height';
    const text = (await this.#text(endpoint)).trim();
    const height = /^[0-9]{1,15}$/.test(text) ? Number(text) : undefined;
    if (height === undefined) throw this.#malformed(endpoint, `expected a height, got ${quote(text)}`);
    return { height, hash: await this.blockHash(height) };
  }

  /** @throws ChainAdaptorError CHAIN_ADAPTOR_NOT_FOUND above the tip. */
  async blockHash(height: number): Promise<string> {
    const endpoint = `/block-height/${height}`;
    return this.#hash(endpoint, await this.#text(endpoint));
  }

  async block(hash: string): Promise<ChainBlock> {
    const summaryEndpoint = `/block/${encodeURIComponent(hash)}`;
    const summary = blockSummary.safeParse(await this.#json(summaryEndpoint));
    if (!summary.success) throw this.#malformed(summaryEndpoint, 'expected a block with its id and height');
    if (summary.data.id !== hash)
      throw this.#malformed(summaryEndpoint, `asked for block ${hash}, got ${quote(summary.data.id)}`);
    const rawEndpoint = `${summaryEndpoint}/raw`;
    const raw = await this.#bytes(rawEndpoint);
    const block = this.#parse(rawEndpoint, () => parseBlock(raw, summary.data.height));
    if (block.hash !== hash) throw this.#malformed(rawEndpoint, `asked for block ${hash}, got ${block.hash}`);
    return block;
  }

  async transaction(txid: string): Promise<ChainTx | undefined> {
    const endpoint = `/tx/${encodeURIComponent(txid)}/hex`;
    let text: string;
    try {
      text = (await this.#text(endpoint)).trim();
    } catch (error) {
      if (error instanceof ChainAdaptorError && error.code === 'CHAIN_ADAPTOR_NOT_FOUND') return undefined;
      throw error;
    }
    if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text))
      throw this.#malformed(endpoint, `expected hex, got ${quote(text)}`);
    const tx = this.#parse(endpoint, () => parseTransaction(Buffer.from(text, 'hex')));
    if (tx.txid !== txid) throw this.#malformed(endpoint, `asked for transaction ${txid}, got ${tx.txid}`);
    return tx;
  }

  async mempool(): Promise<string[]> {
    const endpoint = '/mempool/txids';
    const txids = z.array(z.string().regex(HASH)).safeParse(await this.#json(endpoint));
    if (!txids.success) throw this.#malformed(endpoint, 'expected a list of txids');
    return txids.data;
  }

  /** @throws ChainAdaptorError CHAIN_ADAPTOR_RPC_ERROR with the node's reason when it refuses the transaction. */
  async broadcast(rawTxHex: string): Promise<string> {
    const endpoint = '/tx';
    const text = await this.#text(endpoint, { method: 'POST', body: rawTxHex, headers: { 'content-type': 'text/plain' } });
    return this.#hash(endpoint, text);
  }

  /**
   * The rate for the shortest target the provider lists at or beyond `targetBlocks` (the API documents 2–6, 10, 20,
   * 25, 144, 504 and 1008, so 7 reads 10, as Bitcoin Core also answers a longer target when it must), or for its
   * longest when asked for more (that rate confirms sooner than asked); rounded up to whole sat/vB, at least 1.
   */
  async estimateFee(targetBlocks: number): Promise<number | undefined> {
    const endpoint = '/fee-estimates';
    const estimates = feeEstimates.safeParse(await this.#json(endpoint));
    if (!estimates.success) throw this.#malformed(endpoint, 'expected an object of target blocks to sat/vB');
    const byTarget = Object.entries(estimates.data)
      .map(([target, rate]) => ({ target: Number(target), rate }))
      .sort((a, b) => a.target - b.target);
    const chosen = byTarget.find(({ target }) => target >= targetBlocks) ?? byTarget.at(-1);
    return chosen === undefined ? undefined : Math.max(1, Math.ceil(chosen.rate));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  #hash(endpoint: string, text: string): string {
    const hash = text.trim();
    if (!HASH.test(hash)) throw this.#malformed(endpoint, `expected a 64-hex-digit hash, got ${quote(hash)}`);
    return hash;
  }

  async #json(endpoint: string): Promise<unknown> {
    const text = await this.#text(endpoint);
    try {
      return JSON.parse(text) as unknown;
    } catch (cause) {
      throw this.#malformed(endpoint, `expected JSON, got ${quote(text)}`, cause);
    }
  }

  #text(endpoint: string, init: RequestInit = {}): Promise<string> {
    return this.#request(endpoint, init, (response) => response.text());
  }

  #bytes(endpoint: string): Promise<Uint8Array> {
    // A Buffer, as the other adaptors give scripts, so blocks from any provider compare equal.
    return this.#request(endpoint, {}, async (response) => Buffer.from(await response.arrayBuffer()));
  }

  /** Runs a wire-format parser, naming the endpoint whose bytes it refused. */
  #parse<T>(endpoint: string, parse: () => T): T {
    try {
      return parse();
    } catch (cause) {
      if (!(cause instanceof ChainAdaptorError)) throw cause;
      throw this.#malformed(endpoint, cause.message, cause);
    }
  }

  /**
   * One request; the timeout covers the body too, so a server that stalls halfway is as unavailable as a silent one.
   * @throws ChainAdaptorError UNAVAILABLE, NOT_FOUND (HTTP 404) or RPC_ERROR (any other error status).
   */
  async #request<T>(endpoint: string, init: RequestInit, read: (response: Response) => Promise<T>): Promise<T> {
    const method = init.method ?? 'GET';
    const unavailable = (cause: unknown) =>
      new ChainAdaptorError('CHAIN_ADAPTOR_UNAVAILABLE', `${this.description} ${method} ${endpoint}: ${this.#failure(cause)}`, {
        cause,
      });
    let response: Response;
    try {
      response = await fetch(this.#baseUrl + endpoint, { ...init, signal: AbortSignal.timeout(this.options.timeoutMs) });
    } catch (cause) {
      throw unavailable(cause);
    }
    if (response.ok) {
      return read(response).catch((cause: unknown) => {
        throw unavailable(cause);
      });
    }
    const said = await response.text().catch((cause: unknown) => {
      throw unavailable(cause);
    });
    const code = response.status === 404 ? 'CHAIN_ADAPTOR_NOT_FOUND' : 'CHAIN_ADAPTOR_RPC_ERROR';
    throw new ChainAdaptorError(code, `${this.description} ${method} ${endpoint}: HTTP ${response.status} ${quote(said)}`);
  }

  #failure(cause: unknown): string {
    if (!(cause instanceof Error)) return String(cause);
    if (cause.name === 'TimeoutError') return `no answer within ${this.options.timeoutMs} ms`;
    // fetch says only "fetch failed"; the reason (ECONNREFUSED, a DNS failure) is its cause.
    return cause.cause instanceof Error ? `${cause.message}: ${cause.cause.message}` : cause.message;
  }

  #malformed(endpoint: string, problem: string, cause?: unknown): ChainAdaptorError {
    return new ChainAdaptorError('CHAIN_ADAPTOR_MALFORMED', `${this.description} ${endpoint}: ${problem}`, { cause });
  }
}

/** At most the first 300 characters of what a provider said, on one line. */
function quote(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(line.length > ERROR_BODY_CHARS ? `${line.slice(0, ERROR_BODY_CHARS)}…` : line);
}
