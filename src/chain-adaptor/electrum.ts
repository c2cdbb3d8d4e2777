// The Electrum protocol 1.4 (ElectrumX, electrs, Fulcrum): servers that index by script, so they answer the tip,
// headers, transactions, fees and each script's history and status, but serve no whole block and no whole mempool.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ElectrumConnection, type ElectrumSend } from './electrum-connection.js';
import { ChainAdaptorError } from './errors.js';
import { GENESIS_HASHES } from './esplora.js';
import { hexBytes, parseTransaction } from './raw.js';
import type { ChainAdaptor, ChainBlock, ChainTip, ChainTx, NetworkName } from './types.js';

export interface ElectrumOptions {
  host: string;
  port: number;
  tls: boolean;
  network: NetworkName;
  /** How long opening the connection, or one call, may take; then it fails and the connection is opened anew. */
  timeoutMs: number;
  /** Certificates (PEM) to trust besides the system's, for a server whose TLS certificate is self-signed. */
  ca?: string | Buffer | undefined;
}

/** A transaction that pays a script or spends from it. */
export interface ScriptHistoryEntry {
  txid: string;
  /** Its block's height; in the mempool 0 when all its inputs are confirmed, -1 when some are not. */
  height: number;
}

export type ScriptStatusListener = (status: string | null) => void;

export interface ScriptSubscription {
  /** The script's status when subscribed: a hash of its history (protocol-basics "Status"), null when it has none. */
  readonly status: string | null;
  /** Stops calling the listener. The server is not told: protocol 1.4 has no unsubscribe. */
  unsubscribe(): void;
}

interface WatchedScript {
  /** The last status the server gave; undefined until it answered the first subscribe. */
  status: string | null | undefined;
  listeners: Set<ScriptStatusListener>;
}

const PROTOCOL_VERSION = '1.4';
const CLIENT_NAME = 'dctrl-os';
const HEADER_BYTES = 80;
const HASH = /^[0-9a-f]{64}$/;
/** Bitcoin Core's words, which ElectrumX passes on, and electrs' and Fulcrum's. */
const UNKNOWN_TRANSACTION = /no such mempool or blockchain transaction|not found/i;
const SATS_PER_BTC = 100_000_000;

const hash = z.string().regex(HASH);
const serverVersion = z.tuple([z.string(), z.string()]);
const headerAtTip = z.object({ height: z.int().nonnegative(), hex: z.string() });
const historyEntries = z.array(z.object({ tx_hash: hash, height: z.int().min(-1) }));
const scriptStatus = hash.nullable();
const statusNotification = z.tuple([hash, scriptStatus]);

/**
 * The key an Electrum server indexes an output script by: its SHA-256, byte-reversed, in hex (protocol-basics
 * "Script Hashes").
 */
export function scriptHash(script: Uint8Array): string {
  return createHash('sha256').update(script).digest().reverse().toString('hex');
}

export class ElectrumAdaptor implements ChainAdaptor {
  readonly description: string;
  readonly network: NetworkName;
  readonly #connection: ElectrumConnection;
  /** By script hash: renewed on every new connection, since a server forgets a connection's subscriptions. */
  readonly #watched = new Map<string, WatchedScript>();

  constructor(options: ElectrumOptions) {
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    this.description = `electrum ${options.tls ? 'tls' : 'tcp'}://${host}:${options.port}`;
    this.network = options.network;
    this.#connection = new ElectrumConnection(options, this.description, {
      opened: (send) => this.#opened(send),
      notified: (method, params) => this.#notified(method, params),
    });
  }

  /** @throws ChainAdaptorError WRONG_NETWORK when the server's block 0 is not chain.network's genesis block. */
  async connect(): Promise<void> {
    const genesis = await this.blockHash(0);
    const expected = GENESIS_HASHES[this.network];
    if (genesis === expected) return;
    const served = Object.entries(GENESIS_HASHES).find(([, known]) => known === genesis)?.[0] ?? 'an unknown chain';
    throw new ChainAdaptorError(
      'CHAIN_ADAPTOR_WRONG_NETWORK',
      `${this.description} serves ${served}, but chain.network is ${this.network}: its block 0 is ${genesis}, not ${expected}`,
    );
  }

  /** The best block, height and hash from one answer. */
  async tip(): Promise<ChainTip> {
    const method = 'blockchain.headers.subscribe';
    const answer = headerAtTip.safeParse(await this.#call(method, []));
    if (!answer.success) throw this.#malformed(method, 'expected the tip as {height, hex}');
    return { height: answer.data.height, hash: this.#headerHash(method, answer.data.hex) };
  }

  /** @throws ChainAdaptorError NOT_FOUND above the tip. */
  async blockHash(height: number): Promise<string> {
    const method = 'blockchain.block.header';
    let header: unknown;
    try {
      header = await this.#call(method, [height]);
    } catch (error) {
      if (!(error instanceof ChainAdaptorError) || error.code !== 'CHAIN_ADAPTOR_RPC_ERROR') throw error;
      // Each server words "no such height" its own way, so the tip decides whether that is what it meant.
      const tip = await this.tip();
      if (height <= tip.height) throw error;
      throw new ChainAdaptorError(
        'CHAIN_ADAPTOR_NOT_FOUND',
        `${this.description} ${method}: no block at height ${height}, the tip is at ${tip.height}`,
        { cause: error },
      );
    }
    return this.#headerHash(method, header);
  }

  /** @throws ChainAdaptorError UNSUPPORTED: an Electrum server serves headers, never whole blocks. */
  block(hash: string): Promise<ChainBlock> {
    return Promise.reject(this.#unsupported(`block ${hash}`));
  }

  async transaction(txid: string): Promise<ChainTx | undefined> {
    const method = 'blockchain.transaction.get';
    let raw: unknown;
    try {
      raw = await this.#call(method, [txid]);
    } catch (error) {
      const refused = error instanceof ChainAdaptorError && error.code === 'CHAIN_ADAPTOR_RPC_ERROR';
      if (refused && UNKNOWN_TRANSACTION.test(error.message)) return undefined;
      throw error;
    }
    const tx = this.#parse(method, () => parseTransaction(hexBytes(raw, `transaction ${txid}`)));
    if (tx.txid !== txid) throw this.#malformed(method, `asked for transaction ${txid}, got ${tx.txid}`);
    return tx;
  }

  /** @throws ChainAdaptorError UNSUPPORTED: an Electrum server lists the mempool by script only (scriptMempool). */
  mempool(): Promise<string[]> {
    return Promise.reject(this.#unsupported('the whole mempool'));
  }

  /** @throws ChainAdaptorError RPC_ERROR with the node's reason when it refuses the transaction. */
  async broadcast(rawTxHex: string): Promise<string> {
    const method = 'blockchain.transaction.broadcast';
    const txid = hash.safeParse(await this.#call(method, [rawTxHex]));
    if (!txid.success) throw this.#malformed(method, 'expected the txid, a 64-hex-digit hash');
    return txid.data;
  }

  async estimateFee(targetBlocks: number): Promise<number | undefined> {
    const method = 'blockchain.estimatefee';
    const perKilobyte = z.number().safeParse(await this.#call(method, [targetBlocks]));
    if (!perKilobyte.success) throw this.#malformed(method, 'expected bitcoin per kilobyte, a number');
    // -1 when the node has no estimate yet.
    if (perKilobyte.data <= 0) return undefined;
    return Math.max(1, Math.round((perKilobyte.data * SATS_PER_BTC) / 1000));
  }

  /** Closes the connection and ends every script subscription. */
  async close(): Promise<void> {
    this.#watched.clear();
    await this.#connection.close();
  }

  // What only an Electrum server answers: by script.

  /** Every transaction paying or spending the script (hex), confirmed ones in block order, then the mempool's. */
  async scriptHistory(scriptHex: string): Promise<ScriptHistoryEntry[]> {
    return this.#history('blockchain.scripthash.get_history', scriptHex);
  }

  /** The script's (hex) transactions waiting in the mempool. */
  async scriptMempool(scriptHex: string): Promise<ScriptHistoryEntry[]> {
    return this.#history('blockchain.scripthash.get_mempool', scriptHex);
  }

  /**
   * Watches a script (hex): `onStatusChange` is called with its new status each time its history changes (a payment
   * seen, mined or reorged out), then fetch it with scriptHistory. Subscriptions are renewed when a dropped connection
   * is opened again by the next call, and a status that changed meanwhile is reported then. The listener is called
   * on its own (a throw from it is an uncaught exception, as from an event listener).
   */
  async subscribeScript(scriptHex: string, onStatusChange: ScriptStatusListener): Promise<ScriptSubscription> {
    const method = 'blockchain.scripthash.subscribe';
    const key = scriptHash(scriptBytes(scriptHex));
    const watched = this.#watched.get(key) ?? { status: undefined, listeners: new Set() };
    this.#watched.set(key, watched);
    // Its own function, so the same callback subscribed twice is two subscriptions.
    const listener: ScriptStatusListener = (status) => onStatusChange(status);
    // Listening before asking: a notification may follow the answer in the same packet.
    watched.listeners.add(listener);
    const unsubscribe = () => {
      watched.listeners.delete(listener);
      if (watched.listeners.size === 0 && this.#watched.get(key) === watched) this.#watched.delete(key);
    };
    let status: string | null;
    try {
      status = this.#status(method, await this.#call(method, [key]));
    } catch (error) {
      unsubscribe();
      throw error;
    }
    watched.status ??= status;
    return { status, unsubscribe };
  }

  async #history(method: string, scriptHex: string): Promise<ScriptHistoryEntry[]> {
    const entries = historyEntries.safeParse(await this.#call(method, [scriptHash(scriptBytes(scriptHex))]));
    if (!entries.success) throw this.#malformed(method, 'expected a list of {tx_hash, height}');
    return entries.data.map((entry) => ({ txid: entry.tx_hash, height: entry.height }));
  }

  async #opened(send: ElectrumSend): Promise<void> {
    // server.version must be the first message (protocol-methods "server.version").
    const method = 'server.version';
    const version = serverVersion.safeParse(await send(method, [CLIENT_NAME, PROTOCOL_VERSION]));
    if (!version.success) throw this.#malformed(method, 'expected [server software, protocol version]');
    if (version.data[1] !== PROTOCOL_VERSION) {
      throw this.#malformed(
        method,
        `asked for protocol ${PROTOCOL_VERSION}, the server chose ${JSON.stringify(version.data[1])}`,
      );
    }
    const renewing = [...this.#watched].filter(([, watched]) => watched.status !== undefined);
    await Promise.all(
      renewing.map(async ([key]) => {
        const subscribe = 'blockchain.scripthash.subscribe';
        this.#statusSeen(key, this.#status(subscribe, await send(subscribe, [key])));
      }),
    );
  }

  #notified(method: string, params: readonly unknown[]): void {
    // blockchain.headers.subscribe notifications are left unread: tip() asks each time.
    if (method !== 'blockchain.scripthash.subscribe') return;
    const notification = statusNotification.safeParse(params);
    if (!notification.success) throw this.#malformed(method, 'expected a notification of [scripthash, status]');
    this.#statusSeen(...notification.data);
  }

  #statusSeen(key: string, status: string | null): void {
    const watched = this.#watched.get(key);
    if (watched === undefined || watched.status === status) return;
    watched.status = status;
    for (const listener of watched.listeners) queueMicrotask(() => listener(status));
  }

  #status(method: string, answer: unknown): string | null {
    const status = scriptStatus.safeParse(answer);
    if (!status.success) throw this.#malformed(method, 'expected the script status, a 64-hex-digit hash or null');
    return status.data;
  }

  #call(method: string, params: readonly unknown[]): Promise<unknown> {
    return this.#connection.request(method, params);
  }

  /** A block's hash from its 80-byte header: the double SHA-256, byte-reversed. */
  #headerHash(method: string, header: unknown): string {
    const bytes = this.#parse(method, () => hexBytes(header, 'the block header'));
    if (bytes.length !== HEADER_BYTES) throw this.#malformed(method, `expected an 80-byte header, got ${bytes.length} bytes`);
    const once = createHash('sha256').update(bytes).digest();
    return createHash('sha256').update(once).digest().reverse().toString('hex');
  }

  /** Runs a parser, naming the method whose answer it refused. */
  #parse<T>(method: string, parse: () => T): T {
    try {
      return parse();
    } catch (cause) {
      if (!(cause instanceof ChainAdaptorError)) throw cause;
      throw this.#malformed(method, cause.message, cause);
    }
  }

  #malformed(method: string, problem: string, cause?: unknown): ChainAdaptorError {
    return new ChainAdaptorError('CHAIN_ADAPTOR_MALFORMED', `${this.description} ${method}: ${problem}`, { cause });
  }

  #unsupported(what: string): ChainAdaptorError {
    return new ChainAdaptorError(
      'CHAIN_ADAPTOR_UNSUPPORTED',
      `${this.description} cannot serve ${what}: Electrum answers by script, not by block (scriptHistory, scriptMempool, subscribeScript); read blocks with chain.provider bitcoin-core or esplora`,
    );
  }
}

/** @throws TypeError when the script is not hex: a caller's mistake, not the server's. */
function scriptBytes(scriptHex: string): Uint8Array {
  if (scriptHex.length === 0 || scriptHex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(scriptHex)) {
    throw new TypeError(`expected an output script as hex, got ${JSON.stringify(scriptHex.slice(0, 80))}`);
  }
  return Buffer.from(scriptHex, 'hex');
}
