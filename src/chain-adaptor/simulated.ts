// A deterministic bitcoin chain in memory, for the demo and for fast tests: transactions and blocks in the real
// wire format (so the same parser reads them), mined on demand, with reorgs, double spends and outages on cue.
import { createHash } from 'node:crypto';
import { ChainAdaptorError } from './errors.js';
import { merkleRoot, parseBlock, parseTransaction } from './raw.js';
import type { ChainAdaptor, ChainBlock, ChainTip, ChainTx, NetworkName, TxOutput } from './types.js';

export interface Outpoint {
  txid: string;
  vout: number;
}

interface SimBlock {
  hash: string;
  raw: Uint8Array;
  txids: string[];
}

const GENESIS_TIME = 1_700_000_000;
const BLOCK_SECONDS = 600;

function sha256d(data: Uint8Array): Buffer {
  return createHash('sha256').update(createHash('sha256').update(data).digest()).digest();
}

function compactSize(value: number): Buffer {
  if (value < 0xfd) return Buffer.from([value]);
  if (value <= 0xffff) {
    const bytes = Buffer.alloc(3);
    bytes[0] = 0xfd;
    bytes.writeUInt16LE(value, 1);
    return bytes;
  }
  const bytes = Buffer.alloc(5);
  bytes[0] = 0xfe;
  bytes.writeUInt32LE(value, 1);
  return bytes;
}

function serializeTx(inputs: readonly Outpoint[], outputs: readonly TxOutput[], lockTime: number): Buffer {
  const parts: Buffer[] = [Buffer.from([2, 0, 0, 0]), compactSize(inputs.length)];
  for (const input of inputs) {
    const vout = Buffer.alloc(4);
    vout.writeUInt32LE(input.vout >>> 0);
    parts.push(Buffer.from(input.txid, 'hex').reverse(), vout, compactSize(0), Buffer.from([0xff, 0xff, 0xff, 0xfd]));
  }
  parts.push(compactSize(outputs.length));
  for (const output of outputs) {
    const value = Buffer.alloc(8);
    value.writeBigUInt64LE(BigInt(output.value));
    parts.push(value, compactSize(output.script.length), Buffer.from(output.script));
  }
  const lock = Buffer.alloc(4);
  lock.writeUInt32LE(lockTime);
  parts.push(lock);
  return Buffer.concat(parts);
}

export class SimulatedChain implements ChainAdaptor {
  readonly description = 'simulated chain';
  readonly #blocks: SimBlock[] = [];
  readonly #txs = new Map<string, Uint8Array>();
  readonly #mempool: string[] = [];
  /** Which transaction spends each outpoint, so a double spend can take the other's place. */
  readonly #spentBy = new Map<string, string>();
  #coins = 0;
  #available = true;

  constructor(readonly network: NetworkName = 'regtest') {
    this.#appendBlock([this.#coinbase(0)]);
  }

  // What a test or the demo does to the chain.

  /** A transaction paying these outputs (from a fresh coin, or spending the given outpoints) enters the mempool. */
  send(outputs: readonly TxOutput[], spends?: readonly Outpoint[]): string {
    const inputs = spends ?? [this.#freshCoin()];
    for (const input of inputs) {
      const spender = this.#spentBy.get(`${input.txid}:${input.vout}`);
      if (spender !== undefined) throw new Error(`${input.txid}:${input.vout} is already spent by ${spender}; use replace()`);
    }
    return this.#accept(inputs, outputs);
  }

  /** A double spend: a transaction spending the same coins as `txid` takes its place in the mempool. */
  replace(txid: string, outputs: readonly TxOutput[]): string {
    const original = this.#txs.get(txid);
    if (!original) throw new Error(`no transaction ${txid}`);
    if (!this.#mempool.includes(txid)) throw new Error(`${txid} is no longer in the mempool`);
    const inputs = parseTransaction(original).inputs.map((input) => ({ txid: input.prevTxid, vout: input.prevVout }));
    this.#evict(txid);
    return this.#accept(inputs, outputs);
  }

  /** Mines `count` blocks; the first takes the whole mempool. @returns the new block hashes. */
  mine(count = 1): string[] {
    const hashes: string[] = [];
    for (let index = 0; index < count; index++) {
      const txids = [this.#coinbase(this.#blocks.length), ...this.#mempool.splice(0)];
      hashes.push(this.#appendBlock(txids));
    }
    return hashes;
  }

  /**
   * Replaces the last `depth` blocks with `depth + 1` others. Their transactions return to the mempool and are
   * mined again in the new first block (or, with mineAgain false, wait there), except those listed in `drop`, which
   * vanish (as a conflicting chain would do).
   */
  reorg(depth: number, drop: readonly string[] = [], options: { mineAgain?: boolean } = {}): string[] {
    if (depth < 1 || depth >= this.#blocks.length) throw new Error(`cannot reorg ${depth} blocks of ${this.#blocks.length}`);
    const removed = this.#blocks.splice(this.#blocks.length - depth, depth);
    const returning = removed.flatMap((block) => block.txids.slice(1)).filter((txid) => !drop.includes(txid));
    for (const txid of drop) this.#evict(txid);
    this.#mempool.unshift(...returning);
    // A different coinbase makes the new blocks differ from the old even with the same transactions.
    this.#coins += 1_000;
    if (options.mineAgain === false) {
      const waiting = this.#mempool.splice(0);
      const hashes = this.mine(depth + 1);
      this.#mempool.push(...waiting);
      return hashes;
    }
    return this.mine(depth + 1);
  }

  /** A best-chain block's wire-format bytes, as a provider that serves raw blocks would send them. */
  rawBlock(hash: string): Uint8Array | undefined {
    return this.#blocks.find((block) => block.hash === hash)?.raw;
  }

  /** A known transaction's wire-format bytes. */
  rawTransaction(txid: string): Uint8Array | undefined {
    return this.#txs.get(txid);
  }

  /** The mempool forgets a transaction (evicted, expired), as nodes do under pressure. */
  evict(txid: string): void {
    this.#evict(txid);
  }

  /** While offline, every call fails as an unreachable node would. */
  setAvailable(available: boolean): void {
    this.#available = available;
  }

  // The adaptor interface.

  connect(): Promise<void> {
    return this.#answer(() => undefined);
  }

  tip(): Promise<ChainTip> {
    return this.#answer(() => ({ height: this.#blocks.length - 1, hash: this.#blocks.at(-1)!.hash }));
  }

  blockHash(height: number): Promise<string> {
    return this.#answer(() => {
      const block = this.#blocks[height];
      if (!block) throw new ChainAdaptorError('CHAIN_ADAPTOR_NOT_FOUND', `no block at height ${height}`);
      return block.hash;
    });
  }

  block(hash: string): Promise<ChainBlock> {
    return this.#answer(() => {
      const height = this.#blocks.findIndex((block) => block.hash === hash);
      if (height < 0) throw new ChainAdaptorError('CHAIN_ADAPTOR_NOT_FOUND', `no block ${hash} in the best chain`);
      return parseBlock(this.#blocks[height]!.raw, height);
    });
  }

  transaction(txid: string): Promise<ChainTx | undefined> {
    return this.#answer(() => {
      const raw = this.#txs.get(txid);
      return raw ? parseTransaction(raw) : undefined;
    });
  }

  mempool(): Promise<string[]> {
    return this.#answer(() => [...this.#mempool]);
  }

  broadcast(rawTxHex: string): Promise<string> {
    return this.#answer(() => {
      const raw = Buffer.from(rawTxHex, 'hex');
      const tx = parseTransaction(raw);
      this.#txs.set(tx.txid, raw);
      this.#mempool.push(tx.txid);
      return tx.txid;
    });
  }

  estimateFee(): Promise<number | undefined> {
    return this.#answer(() => 2);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Answers as a remote node would: asynchronously, and not at all while offline. */
  async #answer<T>(work: () => T): Promise<T> {
    await Promise.resolve();
    if (!this.#available) throw new ChainAdaptorError('CHAIN_ADAPTOR_UNAVAILABLE', 'the simulated node is offline');
    return work();
  }

  #freshCoin(): Outpoint {
    this.#coins += 1;
    return { txid: createHash('sha256').update(`simulated coin ${this.#coins}`).digest('hex'), vout: 0 };
  }

  #accept(inputs: readonly Outpoint[], outputs: readonly TxOutput[]): string {
    const raw = serializeTx(inputs, outputs, 0);
    const txid = parseTransaction(raw).txid;
    this.#txs.set(txid, raw);
    this.#mempool.push(txid);
    for (const input of inputs) this.#spentBy.set(`${input.txid}:${input.vout}`, txid);
    return txid;
  }

  #evict(txid: string): void {
    const at = this.#mempool.indexOf(txid);
    if (at >= 0) this.#mempool.splice(at, 1);
    for (const [outpoint, spender] of this.#spentBy) if (spender === txid) this.#spentBy.delete(outpoint);
  }

  #coinbase(height: number): string {
    const marker = createHash('sha256').update(`coinbase ${height} ${this.#coins}`).digest();
    const raw = serializeTx(
      [{ txid: '00'.repeat(32), vout: 0xffffffff }],
      [{ value: 0, script: Uint8Array.from([0x6a, 0x20, ...marker]) }],
      height,
    );
    const txid = parseTransaction(raw).txid;
    this.#txs.set(txid, raw);
    return txid;
  }

  #appendBlock(txids: readonly string[]): string {
    const header = Buffer.alloc(80);
    header.writeUInt32LE(0x20000000, 0);
    const prev = this.#blocks.at(-1);
    if (prev) Buffer.from(prev.hash, 'hex').reverse().copy(header, 4);
    merkleRoot(txids).copy(header, 36);
    header.writeUInt32LE(GENESIS_TIME + this.#blocks.length * BLOCK_SECONDS, 68);
    header.writeUInt32LE(0x207fffff, 72);
    const body = txids.map((txid) => this.#txs.get(txid)!);
    const raw = Buffer.concat([header, compactSize(txids.length), ...body]);
    const hash = Buffer.from(sha256d(header)).reverse().toString('hex');
    this.#blocks.push({ hash, raw, txids: [...txids] });
    return hash;
  }
}
