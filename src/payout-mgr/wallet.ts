// The payout wallet: a watch-only M-of-N multisig that follows the chain block by block (each block committed in
// one database transaction with the processed-block row, so a crash resumes after the last whole block and counts
// nothing twice), undoes reorgs up to a limit, and looks at the mempool for receipts and for its coins being spent.
import type { Kysely, Transaction } from 'kysely';
import type { ChainAdaptor, ChainBlock, ChainTip, ChainTx } from '../chain-adaptor/index.js';
import type { DerivedOutput, OutputDescriptor } from '../core/bitcoin/index.js';
import type { Clock } from '../core/clock.js';
import { migrate, type DatabaseHandle } from '../core/storage/index.js';
import { PayoutMgrError } from './errors.js';
import {
  LIVE_TX_STATES,
  UNCONFIRMED_TX_STATES,
  WALLET_MIGRATIONS,
  WALLET_MIGRATION_NAMESPACE,
  type WalletTables,
  type WalletTxRow,
  type WalletTxState,
} from './wallet-store.js';

export interface WalletCoin {
  txid: string;
  vout: number;
  /** Satoshis. */
  value: number;
  /** Derivation: chain 0 receive, 1 change. */
  chain: number;
  index: number;
  scriptHex: string;
  /** null while only in the mempool. */
  height: number | null;
}

/** A coin with its confirmations at the processed tip (0 while unconfirmed). */
export interface SpendableCoin extends WalletCoin {
  confirmations: number;
}

export interface WalletOptions {
  adaptor: ChainAdaptor;
  /** The wallet's descriptor with two chains (`/<0;1>/*`): 0 receive, 1 change. */
  descriptor: OutputDescriptor;
  /** Unused addresses watched beyond the last used (or handed out) one, per chain. */
  gapLimit: number;
  /** The deepest reorg undone on its own; a deeper one throws PAYOUT_WALLET_DEEP_REORG and stops following. */
  reorgLimit: number;
  /** The first block scanned: the wallet cannot have coins before it. */
  birthHeight: number;
}

export interface TxStatus {
  state: 'unknown' | 'mempool' | 'mined';
  height: number | null;
  confirmations: number;
}

export interface Outpoint {
  txid: string;
  vout: number;
}

type Db = Kysely<WalletTables>;
type Trx = Transaction<WalletTables>;
type Placement = { state: 'mined'; height: number; hash: string } | { state: 'mempool' } | { state: 'sent' };

const RECEIVE_CHAIN = 0;
const CHANGE_CHAIN = 1;
/** How many processed blocks are kept beyond the reorg limit. */
const BLOCKS_KEPT_BEYOND_LIMIT = 10;
/**
 * An unconfirmed transaction counts as gone only after this many passes in a row without it in the mempool: one
 * mined between the block scan and the mempool listing is missing from both for one pass.
 */
const MISSING_PASSES_BEFORE_DROP = 2;
const MAX_GAP_LIMIT = 10_000;

const outpointKey = (txid: string, vout: number) => `${txid}:${vout}`;
const toHex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

export class MultisigWallet {
  readonly #db: Db;
  /** Every derived script of both chains → its slot. */
  readonly #watched = new Map<string, { chain: number; index: number }>();
  /** Per chain: the highest index derived, and the highest used or handed out. */
  readonly #derivedUpTo = [-1, -1];
  readonly #lastTaken = [-1, -1];
  /** Every output ever paid to the wallet ("txid:vout"), to spot inputs that spend one. */
  readonly #coinOutpoints = new Set<string>();
  /** Every transaction the wallet has a row for. */
  readonly #knownTxids = new Set<string>();
  #tip: ChainTip | undefined;
  /** Set by a deep reorg: every later sync throws it without touching the chain. */
  #halted: PayoutMgrError | undefined;
  /** The memory above may be ahead of the database after a failed write: reload before the next step. */
  #stale = false;
  #queue: Promise<unknown> = Promise.resolve();
  /** Mempool transactions already looked at, so each is fetched once while it waits. */
  readonly #mempoolChecked = new Set<string>();
  readonly #missingFromMempool = new Map<string, number>();

  private constructor(
    handle: DatabaseHandle,
    private readonly clock: Clock,
    private readonly options: WalletOptions,
  ) {
    this.#db = handle.db as Db;
  }

  /**
   * Migrates the wallet's tables and loads what it has processed.
   * @throws PayoutMgrError PAYOUT_CONFIG_INVALID for a descriptor without two chains, bad limits, or a database
   * that holds another descriptor's wallet.
   */
  static async open(handle: DatabaseHandle, clock: Clock, options: WalletOptions): Promise<MultisigWallet> {
    checkOptions(options);
    await migrate(handle, WALLET_MIGRATION_NAMESPACE, WALLET_MIGRATIONS);
    const wallet = new MultisigWallet(handle, clock, options);
    await wallet.#exclusive(() => wallet.#load());
    return wallet;
  }

  /**
   * Follows the chain from the last processed block to the tip (undoing reorgs) and looks at the mempool.
   * @returns the txids whose status changed (mined, reorged out, seen, left the mempool), so the caller can re-check
   * payouts. When it throws, blocks committed before the failure stay processed: re-check everything then.
   * @throws PayoutMgrError PAYOUT_WALLET_DEEP_REORG (nothing changed; thrown again by every later call) when the fork
   * is deeper than reorgLimit; a ChainAdaptorError or StorageError when the node or the database fails.
   */
  sync(): Promise<string[]> {
    return this.#exclusive(async () => {
      if (this.#halted) throw this.#halted;
      // Another process on the same database may have moved on: start from what is committed.
      const committed = await this.#readTip();
      if (committed?.hash !== this.#tip?.hash) await this.#load();
      const changed = new Set<string>();
      await this.#followBlocks(changed);
      await this.#scanMempool(changed);
      return [...changed];
    });
  }

  /** The last block whose transactions are recorded. */
  processedTip(): { height: number; hash: string } | undefined {
    return this.#tip ? { ...this.#tip } : undefined;
  }

  /** The deep-reorg error that stopped the wallet following the chain, if one did. */
  stoppedBy(): PayoutMgrError | undefined {
    return this.#halted;
  }

  /**
   * Unspent coins: not spent by any transaction the wallet knows (mined, in the mempool or noted as sent), nor
   * reserved (except for `reservedFor`). minConfirmations defaults to 1; with 0, unconfirmed outputs of our own
   * transactions (change) count too, but never another's unconfirmed payment, which its sender could still undo.
   * @throws PayoutMgrError PAYOUT_CONFIG_INVALID for a minConfirmations that is no non-negative integer.
   */
  async coins(options: { minConfirmations?: number; reservedFor?: string } = {}): Promise<SpendableCoin[]> {
    const minConfirmations = options.minConfirmations ?? 1;
    if (!Number.isSafeInteger(minConfirmations) || minConfirmations < 0) {
      throw new PayoutMgrError('PAYOUT_CONFIG_INVALID', `minConfirmations expected an integer >= 0, got ${minConfirmations}`);
    }
    const reserved = new Map(
      (await this.#db.selectFrom('payout_wallet_reservations').select(['outpoint', 'holder']).execute()).map((row) => [
        row.outpoint,
        row.holder,
      ]),
    );
    return (await this.#unspent())
      .filter((coin) => {
        const holder = reserved.get(outpointKey(coin.txid, coin.vout));
        if (holder !== undefined && holder !== options.reservedFor) return false;
        if (coin.height === null && !coin.own) return false;
        return coin.confirmations >= minConfirmations;
      })
      .map(({ own: _own, ...coin }) => coin);
  }

  /** Confirmed: unspent coins in blocks; unconfirmed: unspent coins still in the mempool (received or change). */
  async balance(): Promise<{ confirmedSats: number; unconfirmedSats: number; coinCount: number }> {
    const coins = await this.#unspent();
    const sum = (list: SpendableCoin[]) => list.reduce((total, coin) => total + coin.value, 0);
    return {
      confirmedSats: sum(coins.filter((coin) => coin.height !== null)),
      unconfirmedSats: sum(coins.filter((coin) => coin.height === null)),
      coinCount: coins.length,
    };
  }

  /** The first receive address not yet handed out or used; hands it out (persisted) so the next call moves on. */
  nextReceive(): Promise<DerivedOutput> {
    return this.#handOut(RECEIVE_CHAIN);
  }

  /** The first change address never used nor handed out; hands it out. */
  nextChange(): Promise<DerivedOutput> {
    return this.#handOut(CHANGE_CHAIN);
  }

  /**
   * Where a transaction the wallet knows stands, by the processed tip. A transaction noted as sent counts as in the
   * mempool until two passes in a row find it in neither a block nor the mempool; then it is unknown again.
   */
  async status(txid: string): Promise<TxStatus> {
    const row = await this.#db.selectFrom('payout_wallet_txs').selectAll().where('txid', '=', txid).executeTakeFirst();
    if (!row || row.state === 'dropped') return { state: 'unknown', height: null, confirmations: 0 };
    if (row.state === 'mined' && row.block_height !== null) {
      return { state: 'mined', height: row.block_height, confirmations: this.#confirmations(row.block_height) };
    }
    return { state: 'mempool', height: null, confirmations: 0 };
  }

  /**
   * The whole transaction that paid a coin of the wallet (what a PSBT carries as its non-witness UTXO): as the wallet
   * kept it, else asked of the node; undefined when neither has it (Bitcoin Core without txindex, for a coin found
   * before the wallet kept transactions).
   */
  async previousTransaction(txid: string): Promise<Uint8Array | undefined> {
    const row = await this.#db.selectFrom('payout_wallet_txs').select('raw').where('txid', '=', txid).executeTakeFirst();
    if (row?.raw) return Buffer.from(row.raw, 'hex');
    return (await this.options.adaptor.transaction(txid).catch(() => undefined))?.raw;
  }

  /** Whether a script is one of the wallet's own (receive or change) within the watched range. */
  ownsScript(scriptHex: string): boolean {
    return this.#watched.has(scriptHex);
  }

  /** The sats of a coin the wallet received (spent or not); undefined for a coin that is not the wallet's. */
  async coinValue(outpoint: Outpoint): Promise<number | undefined> {
    const row = await this.#db
      .selectFrom('payout_wallet_outputs')
      .select('sats')
      .where('outpoint', '=', `${outpoint.txid}:${outpoint.vout}`)
      .executeTakeFirst();
    return row?.sats;
  }

  /** The transaction the wallet knows (in a block, the mempool, or noted as sent) that spends this coin, if any. */
  async spenderOf(outpoint: Outpoint): Promise<string | undefined> {
    const row = await this.#db
      .selectFrom('payout_wallet_spends')
      .innerJoin('payout_wallet_txs', 'payout_wallet_txs.txid', 'payout_wallet_spends.spender_txid')
      .select('payout_wallet_spends.spender_txid')
      .where('payout_wallet_spends.outpoint', '=', `${outpoint.txid}:${outpoint.vout}`)
      .where('payout_wallet_txs.state', 'in', [...LIVE_TX_STATES])
      .executeTakeFirst();
    return row?.spender_txid;
  }

  /** Remembers a transaction we broadcast, so its spends (and its change) count before a block or the mempool shows it. */
  noteSent(tx: ChainTx): Promise<void> {
    return this.#exclusive(() => this.#write((trx) => this.#record(trx, tx, { state: 'sent' }, new Set())));
  }

  /**
   * Holds coins back from coins() while a PSBT spending them is out for signing; replaces what `holder` held before.
   * @throws PayoutMgrError PAYOUT_STATE_CONFLICT when a coin is held by another holder or is no unspent coin of the
   * wallet (nothing is reserved then).
   */
  reserve(holder: string, outpoints: readonly Outpoint[]): Promise<void> {
    return this.#exclusive(async () => {
      const unspent = new Set((await this.#unspent()).map((coin) => outpointKey(coin.txid, coin.vout)));
      await this.#write(async (trx) => {
        await trx.deleteFrom('payout_wallet_reservations').where('holder', '=', holder).execute();
        for (const { txid, vout } of outpoints) {
          const outpoint = outpointKey(txid, vout);
          if (!unspent.has(outpoint)) {
            throw new PayoutMgrError('PAYOUT_STATE_CONFLICT', `coin ${outpoint} is no unspent coin of the wallet`);
          }
          const other = await trx
            .selectFrom('payout_wallet_reservations')
            .select('holder')
            .where('outpoint', '=', outpoint)
            .executeTakeFirst();
          if (other) {
            throw new PayoutMgrError('PAYOUT_STATE_CONFLICT', `coin ${outpoint} is reserved for ${other.holder}, not ${holder}`);
          }
          await trx
            .insertInto('payout_wallet_reservations')
            .values({ outpoint, holder, reserved_at: this.clock.now() })
            .execute();
        }
      });
    });
  }

  /** Lets go of every coin `holder` reserved. */
  release(holder: string): Promise<void> {
    return this.#exclusive(() =>
      this.#write(async (trx) => {
        await trx.deleteFrom('payout_wallet_reservations').where('holder', '=', holder).execute();
      }),
    );
  }

  /**
   * Forgets everything learned from the chain (transactions, coins, processed blocks; addresses handed out and
   * reservations stay) and lifts a deep-reorg stop: the next sync scans again from birthHeight. For an operator
   * after a deep reorg, and for the simulated chain, which begins again at each start.
   */
  rescan(): Promise<void> {
    return this.#exclusive(async () => {
      await this.#write(async (trx) => {
        await trx.deleteFrom('payout_wallet_spends').execute();
        await trx.deleteFrom('payout_wallet_outputs').execute();
        await trx.deleteFrom('payout_wallet_txs').execute();
        await trx.deleteFrom('payout_wallet_blocks').execute();
      });
      this.#halted = undefined;
      this.#missingFromMempool.clear();
      await this.#load();
    });
  }

  // Following the chain.

  async #followBlocks(changed: Set<string>): Promise<void> {
    const { adaptor } = this.options;
    const tip = await adaptor.tip();
    let processed = this.#tip;
    if (processed && tip.height < processed.height) {
      // A node that is merely behind us (restarted, or another behind a load balancer): wait rather than undo.
      if ((await this.#storedHash(tip.height)) === tip.hash) return;
    }
    if (processed) {
      const fork = await this.#forkPoint(processed, tip);
      if (fork < processed.height) {
        await this.#disconnectAfter(fork, changed);
        processed = this.#tip;
      }
    }
    for (let height = processed ? processed.height + 1 : this.options.birthHeight; height <= tip.height; height++) {
      const block = await adaptor.block(await adaptor.blockHash(height));
      // The chain moved under us mid-scan; the next pass finds the fork.
      if (processed && block.prevHash !== processed.hash) return;
      await this.#connect(block, changed);
      processed = this.#tip;
    }
  }

  /** The highest processed height still in the best chain (below birthHeight every block counts as shared). */
  async #forkPoint(processed: ChainTip, tip: ChainTip): Promise<number> {
    const lowest = processed.height - this.options.reorgLimit;
    const stored = new Map(
      (await this.#db.selectFrom('payout_wallet_blocks').selectAll().where('height', '>=', lowest).execute()).map((row) => [
        row.height,
        row.hash,
      ]),
    );
    for (let height = processed.height; height >= lowest; height--) {
      if (height < this.options.birthHeight) return height;
      const hash = stored.get(height);
      if (hash === undefined) break;
      if (height <= tip.height && (await this.options.adaptor.blockHash(height)) === hash) return height;
    }
    this.#halted = new PayoutMgrError(
      'PAYOUT_WALLET_DEEP_REORG',
      `the best chain (tip ${tip.height}) no longer holds any of the last ${this.options.reorgLimit + 1} blocks the wallet processed (up to height ${processed.height}); nothing was changed and the wallet stopped following the chain: an operator must check the node, then raise payoutMgr.reorgLimit and restart`,
    );
    throw this.#halted;
  }

  /** Undoes every block after `fork`: its transactions are dropped until the mempool or a new block shows them again. */
  async #disconnectAfter(fork: number, changed: Set<string>): Promise<void> {
    const moved = await this.#write(async (trx) => {
      const rows = await trx.selectFrom('payout_wallet_txs').select('txid').where('block_height', '>', fork).execute();
      await trx
        .updateTable('payout_wallet_txs')
        .set({ state: 'dropped', block_height: null, block_hash: null })
        .where('block_height', '>', fork)
        .execute();
      await trx.deleteFrom('payout_wallet_blocks').where('height', '>', fork).execute();
      return rows;
    });
    for (const row of moved) changed.add(row.txid);
    this.#tip = await this.#readTip();
    // What the reorg put back into the mempool is looked at again.
    this.#mempoolChecked.clear();
  }

  async #connect(block: ChainBlock, changed: Set<string>): Promise<void> {
    const found = new Set<string>();
    await this.#write(async (trx) => {
      const placement = { state: 'mined' as const, height: block.height, hash: block.hash };
      for (const tx of block.txs) await this.#record(trx, tx, placement, found);
      await trx.insertInto('payout_wallet_blocks').values({ height: block.height, hash: block.hash }).execute();
      await trx
        .deleteFrom('payout_wallet_blocks')
        .where('height', '<', block.height - this.options.reorgLimit - BLOCKS_KEPT_BEYOND_LIMIT)
        .execute();
    });
    this.#tip = { height: block.height, hash: block.hash };
    for (const txid of found) {
      changed.add(txid);
      this.#missingFromMempool.delete(txid);
    }
  }

  async #scanMempool(changed: Set<string>): Promise<void> {
    const { adaptor } = this.options;
    const listing = await adaptor.mempool();
    const waiting = new Set(listing);
    for (const txid of this.#mempoolChecked) if (!waiting.has(txid)) this.#mempoolChecked.delete(txid);
    const fresh: ChainTx[] = [];
    for (const txid of listing) {
      if (this.#mempoolChecked.has(txid)) continue;
      const tx = await adaptor.transaction(txid);
      if (tx) fresh.push(tx);
    }
    const watchedBefore = this.#watched.size;
    const found = new Set<string>();
    await this.#write(async (trx) => {
      for (const tx of parentsFirst(fresh)) await this.#record(trx, tx, { state: 'mempool' }, found);
    });
    for (const tx of fresh) this.#mempoolChecked.add(tx.txid);
    // Newly watched addresses may be paid by transactions already looked at: look again next pass.
    if (this.#watched.size !== watchedBefore) this.#mempoolChecked.clear();
    for (const txid of found) changed.add(txid);
    await this.#dropVanished(waiting, changed);
  }

  /** Unconfirmed transactions missing from the mempool for two passes in a row are gone, with their descendants. */
  async #dropVanished(waiting: ReadonlySet<string>, changed: Set<string>): Promise<void> {
    const unconfirmed = await this.#db
      .selectFrom('payout_wallet_txs')
      .select('txid')
      .where('state', 'in', UNCONFIRMED_TX_STATES)
      .execute();
    const missing = new Set(unconfirmed.map((row) => row.txid).filter((txid) => !waiting.has(txid)));
    for (const txid of this.#missingFromMempool.keys()) if (!missing.has(txid)) this.#missingFromMempool.delete(txid);
    const gone: string[] = [];
    for (const txid of missing) {
      const passes = (this.#missingFromMempool.get(txid) ?? 0) + 1;
      this.#missingFromMempool.set(txid, passes);
      if (passes >= MISSING_PASSES_BEFORE_DROP) gone.push(txid);
    }
    if (gone.length === 0) return;
    const dropped = new Set<string>();
    await this.#write(async (trx) => {
      for (const txid of gone) await this.#dropWithDescendants(trx, txid, dropped);
    });
    for (const txid of gone) this.#missingFromMempool.delete(txid);
    for (const txid of dropped) changed.add(txid);
  }

  // Recording transactions.

  /**
   * Records a transaction that pays the wallet, spends its coins, or is already known, where `placement` puts it.
   * A mined transaction drops the unconfirmed ones that spent the same coins (a double spend won).
   */
  async #record(trx: Trx, tx: ChainTx, placement: Placement, changed: Set<string>): Promise<void> {
    const paid: { vout: number; value: number; scriptHex: string; chain: number; index: number }[] = [];
    tx.outputs.forEach((output, vout) => {
      const scriptHex = toHex(output.script);
      const slot = this.#watched.get(scriptHex);
      if (slot) paid.push({ vout, value: output.value, scriptHex, ...slot });
    });
    const spent = [
      ...new Set(tx.inputs.map((input) => outpointKey(input.prevTxid, input.prevVout)).filter((o) => this.#coinOutpoints.has(o))),
    ];
    const known = this.#knownTxids.has(tx.txid);
    if (paid.length === 0 && spent.length === 0 && !known && placement.state !== 'sent') return;

    const row = known
      ? await trx.selectFrom('payout_wallet_txs').selectAll().where('txid', '=', tx.txid).executeTakeFirst()
      : undefined;
    const own = spent.length > 0 || placement.state === 'sent' || row?.own === 1 ? 1 : 0;
    const next = nextState(row, placement);
    if (!row) {
      await trx
        .insertInto('payout_wallet_txs')
        .values({
          txid: tx.txid,
          own,
          first_seen_at: this.clock.now(),
          raw: paid.length > 0 && tx.raw ? toHex(tx.raw) : null,
          ...(next ?? placed(placement)),
        })
        .execute();
      this.#knownTxids.add(tx.txid);
      if (placement.state !== 'sent') changed.add(tx.txid);
    } else if (next || own !== row.own) {
      await trx
        .updateTable('payout_wallet_txs')
        .set({ own, ...(next ?? {}) })
        .where('txid', '=', tx.txid)
        .execute();
      if (next && placement.state !== 'sent') changed.add(tx.txid);
    }

    for (const output of paid) {
      const outpoint = outpointKey(tx.txid, output.vout);
      await trx
        .insertInto('payout_wallet_outputs')
        .values({
          outpoint,
          txid: tx.txid,
          vout: output.vout,
          sats: output.value,
          chain: output.chain,
          idx: output.index,
          script_hex: output.scriptHex,
        })
        .onConflict((conflict) => conflict.column('outpoint').doNothing())
        .execute();
      this.#coinOutpoints.add(outpoint);
      await trx
        .updateTable('payout_wallet_addresses')
        .set({ used: 1 })
        .where('script_hex', '=', output.scriptHex)
        .where('used', '=', 0)
        .execute();
      await this.#taken(trx, output.chain, output.index);
    }

    for (const outpoint of spent) {
      await trx
        .insertInto('payout_wallet_spends')
        .values({ outpoint, spender_txid: tx.txid })
        .onConflict((conflict) => conflict.columns(['outpoint', 'spender_txid']).doNothing())
        .execute();
    }
    if (placement.state === 'mined' && spent.length > 0) {
      const rivals = await trx
        .selectFrom('payout_wallet_spends as spend')
        .innerJoin('payout_wallet_txs as rival', 'rival.txid', 'spend.spender_txid')
        .select('rival.txid')
        .where('spend.outpoint', 'in', spent)
        .where('rival.txid', '!=', tx.txid)
        .where('rival.state', 'in', UNCONFIRMED_TX_STATES)
        .execute();
      for (const rival of rivals) await this.#dropWithDescendants(trx, rival.txid, changed);
    }
  }

  /** Drops an unconfirmed transaction and every unconfirmed one spending its outputs. */
  async #dropWithDescendants(trx: Trx, txid: string, changed: Set<string>): Promise<void> {
    const pending = [txid];
    for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
      const result = await trx
        .updateTable('payout_wallet_txs')
        .set({ state: 'dropped', block_height: null, block_hash: null })
        .where('txid', '=', next)
        .where('state', 'in', UNCONFIRMED_TX_STATES)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) continue;
      changed.add(next);
      const children = await trx
        .selectFrom('payout_wallet_spends as spend')
        .innerJoin('payout_wallet_outputs as output', 'output.outpoint', 'spend.outpoint')
        .select('spend.spender_txid')
        .where('output.txid', '=', next)
        .execute();
      pending.push(...children.map((child) => child.spender_txid));
    }
  }

  // Addresses and the gap limit.

  #handOut(chain: number): Promise<DerivedOutput> {
    return this.#exclusive(() =>
      this.#write(async (trx) => {
        for (;;) {
          const free = await trx
            .selectFrom('payout_wallet_addresses')
            .select(['script_hex', 'idx'])
            .where('chain', '=', chain)
            .where('handed_out_at', 'is', null)
            .where('used', '=', 0)
            .orderBy('idx')
            .limit(1)
            .executeTakeFirstOrThrow();
          // Guarded, so two processes on one PostgreSQL database never hand out the same address.
          const taken = await trx
            .updateTable('payout_wallet_addresses')
            .set({ handed_out_at: this.clock.now() })
            .where('script_hex', '=', free.script_hex)
            .where('handed_out_at', 'is', null)
            .executeTakeFirst();
          if (taken.numUpdatedRows !== 1n) continue;
          await this.#taken(trx, chain, free.idx);
          return this.options.descriptor.derive(chain, free.idx);
        }
      }),
    );
  }

  /** An address was used or handed out: the watched range reaches gapLimit beyond it. */
  async #taken(trx: Trx, chain: number, index: number): Promise<void> {
    this.#lastTaken[chain] = Math.max(this.#lastTaken[chain]!, index);
    await this.#keepLookahead(trx, chain);
  }

  async #keepLookahead(trx: Trx, chain: number): Promise<void> {
    const target = this.#lastTaken[chain]! + this.options.gapLimit;
    const first = this.#derivedUpTo[chain]! + 1;
    if (first > target) return;
    const derived = this.options.descriptor.deriveRange(chain, first, target);
    await trx
      .insertInto('payout_wallet_addresses')
      .values(
        derived.map((output) => ({
          script_hex: output.scriptHex,
          address: output.address,
          chain,
          idx: output.index,
          handed_out_at: null,
          used: 0,
        })),
      )
      .onConflict((conflict) => conflict.column('script_hex').doNothing())
      .execute();
    for (const output of derived) this.#watched.set(output.scriptHex, { chain, index: output.index });
    this.#derivedUpTo[chain] = target;
  }

  // State.

  /** Runs wallet changes one after another, each on memory that matches the database. */
  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(async () => {
      if (this.#stale) await this.#load();
      return work();
    });
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /** One database transaction; if it fails, the memory it touched is reloaded before the next step. */
  async #write<T>(work: (trx: Trx) => Promise<T>): Promise<T> {
    try {
      return await this.#db.transaction().execute(work);
    } catch (error) {
      this.#stale = true;
      throw error;
    }
  }

  async #load(): Promise<void> {
    this.#watched.clear();
    this.#coinOutpoints.clear();
    this.#knownTxids.clear();
    this.#mempoolChecked.clear();
    for (const chain of [RECEIVE_CHAIN, CHANGE_CHAIN]) {
      this.#derivedUpTo[chain] = -1;
      this.#lastTaken[chain] = -1;
    }
    const addresses = await this.#db.selectFrom('payout_wallet_addresses').selectAll().execute();
    const first = addresses.find((row) => row.chain === RECEIVE_CHAIN && row.idx === 0);
    if (first && first.script_hex !== this.options.descriptor.derive(RECEIVE_CHAIN, 0).scriptHex) {
      throw new PayoutMgrError(
        'PAYOUT_CONFIG_INVALID',
        `payoutMgr.descriptor: the database holds the wallet of another descriptor (its first receive address is ${first.address}); restore the descriptor it was made with, or use a fresh database`,
      );
    }
    for (const row of addresses) {
      this.#watched.set(row.script_hex, { chain: row.chain, index: row.idx });
      this.#derivedUpTo[row.chain] = Math.max(this.#derivedUpTo[row.chain]!, row.idx);
      if (row.used === 1 || row.handed_out_at !== null)
        this.#lastTaken[row.chain] = Math.max(this.#lastTaken[row.chain]!, row.idx);
    }
    for (const row of await this.#db.selectFrom('payout_wallet_outputs').select('outpoint').execute()) {
      this.#coinOutpoints.add(row.outpoint);
    }
    for (const row of await this.#db.selectFrom('payout_wallet_txs').select('txid').execute()) this.#knownTxids.add(row.txid);
    this.#tip = await this.#readTip();
    this.#stale = false;
    await this.#write(async (trx) => {
      for (const chain of [RECEIVE_CHAIN, CHANGE_CHAIN]) await this.#keepLookahead(trx, chain);
    });
  }

  async #readTip(): Promise<ChainTip | undefined> {
    return this.#db.selectFrom('payout_wallet_blocks').selectAll().orderBy('height', 'desc').limit(1).executeTakeFirst();
  }

  async #storedHash(height: number): Promise<string | undefined> {
    const row = await this.#db.selectFrom('payout_wallet_blocks').select('hash').where('height', '=', height).executeTakeFirst();
    return row?.hash;
  }

  #confirmations(height: number): number {
    return this.#tip ? Math.max(0, this.#tip.height - height + 1) : 0;
  }

  /** Every coin of a live transaction that no live transaction spends, reserved or not. */
  async #unspent(): Promise<(SpendableCoin & { own: boolean })[]> {
    const rows = await this.#db
      .selectFrom('payout_wallet_outputs as output')
      .innerJoin('payout_wallet_txs as tx', 'tx.txid', 'output.txid')
      .select([
        'output.txid',
        'output.vout',
        'output.sats',
        'output.chain',
        'output.idx',
        'output.script_hex',
        'tx.state',
        'tx.block_height',
        'tx.own',
      ])
      .where('tx.state', 'in', LIVE_TX_STATES)
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('payout_wallet_spends as spend')
              .innerJoin('payout_wallet_txs as spender', 'spender.txid', 'spend.spender_txid')
              .select('spend.outpoint')
              .whereRef('spend.outpoint', '=', 'output.outpoint')
              .where('spender.state', 'in', LIVE_TX_STATES),
          ),
        ),
      )
      .orderBy('output.txid')
      .orderBy('output.vout')
      .execute();
    return rows.map((row) => {
      const height = row.state === 'mined' ? row.block_height : null;
      return {
        txid: row.txid,
        vout: row.vout,
        value: row.sats,
        chain: row.chain,
        index: row.idx,
        scriptHex: row.script_hex,
        height,
        confirmations: height === null ? 0 : this.#confirmations(height),
        own: row.own === 1,
      };
    });
  }
}

function placed(placement: Placement): Pick<WalletTxRow, 'state' | 'block_height' | 'block_hash'> {
  return placement.state === 'mined'
    ? { state: 'mined', block_height: placement.height, block_hash: placement.hash }
    : { state: placement.state, block_height: null, block_hash: null };
}

/** The new state of a known transaction found where `placement` says, or undefined when it stays as it is. */
function nextState(
  row: WalletTxRow | undefined,
  placement: Placement,
): Pick<WalletTxRow, 'state' | 'block_height' | 'block_hash'> | undefined {
  if (!row) return undefined;
  const moves: Record<Placement['state'], readonly WalletTxState[]> = {
    // Mined wins over anything; found in another block is a move too.
    mined: ['mempool', 'sent', 'dropped'],
    // A mined transaction listed in the mempool means a reorg the next block pass will undo: it waits for that.
    mempool: ['sent', 'dropped'],
    sent: ['dropped'],
  };
  if (moves[placement.state].includes(row.state)) return placed(placement);
  if (placement.state === 'mined' && row.block_hash !== placement.hash) return placed(placement);
  return undefined;
}

/** Mempool transactions with every parent listed before its children, so a child's spend finds its coin. */
function parentsFirst(txs: readonly ChainTx[]): ChainTx[] {
  const byId = new Map(txs.map((tx) => [tx.txid, tx]));
  const ordered: ChainTx[] = [];
  const visited = new Set<string>();
  const visit = (tx: ChainTx): void => {
    if (visited.has(tx.txid)) return;
    visited.add(tx.txid);
    for (const input of tx.inputs) {
      const parent = byId.get(input.prevTxid);
      if (parent) visit(parent);
    }
    ordered.push(tx);
  };
  for (const tx of txs) visit(tx);
  return ordered;
}

function checkOptions(options: WalletOptions): void {
  const problems: string[] = [];
  if (options.descriptor.chainCount !== 2) {
    problems.push(`descriptor expected two chains (/<0;1>/*: receive and change), got ${options.descriptor.chainCount}`);
  }
  if (!Number.isSafeInteger(options.gapLimit) || options.gapLimit < 1 || options.gapLimit > MAX_GAP_LIMIT) {
    problems.push(`gapLimit expected an integer from 1 to ${MAX_GAP_LIMIT}, got ${options.gapLimit}`);
  }
  if (!Number.isSafeInteger(options.reorgLimit) || options.reorgLimit < 0) {
    problems.push(`reorgLimit expected an integer >= 0, got ${options.reorgLimit}`);
  }
  if (!Number.isSafeInteger(options.birthHeight) || options.birthHeight < 0) {
    problems.push(`birthHeight expected an integer >= 0, got ${options.birthHeight}`);
  }
  if (problems.length > 0) throw new PayoutMgrError('PAYOUT_CONFIG_INVALID', `payout wallet: ${problems.join('; ')}`);
}
