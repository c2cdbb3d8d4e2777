// Watches every derived script on the chain: payments seen in the mempool, mined, reorged out, or replaced by a
// double spend. Each output is one row keyed by txid:vout, each processed block one row, both committed per
// block: a restart resumes after the last block it finished, and nothing is counted twice.
import type { Kysely, Transaction } from 'kysely';
import type { ChainAdaptor, ChainBlock, ChainTx } from '../chain-adaptor/index.js';
import type { Clock } from '../core/clock.js';
import type { OutputDescriptor } from '../core/bitcoin/index.js';
import { migrate, type DatabaseHandle } from '../core/storage/index.js';
import { ChainNotifierError } from './errors.js';
import { ScriptIndex } from './script-index.js';
import { MIGRATIONS, SERVICE_NAME, type AddressRow, type ChainNotifierTables, type OutputRow, type OwnerKind } from './store.js';

export interface WatcherOptions {
  adaptor: ChainAdaptor;
  /** Where deposit addresses come from: receive chain 0 of this descriptor. */
  descriptor: OutputDescriptor;
  /** Unassigned addresses watched beyond the last assigned one. */
  gapLimit: number;
  /** The deepest reorg undone on its own; deeper ones stop the watcher with an alarm. */
  reorgLimit: number;
}

export type PaymentEventKind = 'seen' | 'mined' | 'reorged' | 'replaced';

export interface PaymentEvent {
  kind: PaymentEventKind;
  output: OutputRow;
}

interface Watched {
  address: string;
  ownerKind: OwnerKind;
  ownerId: string | null;
}

type Db = Kysely<ChainNotifierTables>;
type Trx = Transaction<ChainNotifierTables>;

const DEPOSIT_CHAIN = 0;

/** A provider that answers by script rather than by block (Electrum). */
interface ScriptIndexedChain extends ChainAdaptor {
  scriptHistory(scriptHex: string): Promise<{ txid: string; height: number }[]>;
  subscribeScript(scriptHex: string, onStatusChange: (status: string | null) => void): Promise<unknown>;
}

function isScriptIndexed(adaptor: ChainAdaptor): adaptor is ScriptIndexedChain {
  return 'scriptHistory' in adaptor && 'subscribeScript' in adaptor;
}
/** How many processed blocks are kept beyond the reorg limit, to find the fork point. */
const BLOCKS_KEPT_BEYOND_LIMIT = 10;

export class ChainWatcher {
  readonly #db: Db;
  readonly #watched = new ScriptIndex<Watched>();
  /** Coins spent by payments not yet confirmed: outpoint → the paying txid, to notice a double spend. */
  readonly #pendingSpends = new Map<string, string>();
  /** Script mode (Electrum): the scripts subscribed to, and those whose status changed since the last pass. */
  readonly #subscribed = new Set<string>();
  #assigning: Promise<unknown> = Promise.resolve();
  /** Unconfirmed payments missing from the mempool, and for how many passes in a row. */
  readonly #missingFromMempool = new Map<string, number>();
  readonly #changedScripts = new Set<string>();
  /** Mempool transactions already looked at, so each is fetched once while it waits. */
  #mempoolChecked = new Set<string>();

  private constructor(
    handle: DatabaseHandle,
    private readonly clock: Clock,
    private readonly options: WatcherOptions,
  ) {
    this.#db = handle.db as Db;
  }

  static async open(handle: DatabaseHandle, clock: Clock, options: WatcherOptions): Promise<ChainWatcher> {
    await migrate(handle, SERVICE_NAME, MIGRATIONS);
    const watcher = new ChainWatcher(handle, clock, options);
    await watcher.#load();
    return watcher;
  }

  get db(): Db {
    return this.#db;
  }

  /** The member's deposit address, the same every time; the first call takes the next unused index. */
  async depositAddress(memberId: string): Promise<{ address: string; index: number }> {
    return this.#oneAtATime(async () => {
      const existing = await this.#db
        .selectFrom('chain_notifier_addresses')
        .select(['address', 'idx'])
        .where('owner_kind', '=', 'member')
        .where('owner_id', '=', memberId)
        .executeTakeFirst();
      if (existing) return { address: existing.address, index: existing.idx };
      const slot = await this.#take('member', memberId);
      return { address: slot.address, index: slot.idx };
    });
  }

  /** A fresh address for an invoice: never handed out before, never paid. */
  async invoiceAddress(invoiceId: string): Promise<{ address: string; index: number; scriptHex: string }> {
    return this.#oneAtATime(async () => {
      const slot = await this.#take('invoice', invoiceId);
      return { address: slot.address, index: slot.idx, scriptHex: slot.script_hex };
    });
  }

  /** Address assignments run one after another, so a member asked for twice at once still gets one address. */
  #oneAtATime<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#assigning.then(work);
    this.#assigning = result.catch(() => undefined);
    return result;
  }

  /** Takes the first unassigned address that was never paid (a payment to it would be someone else's). */
  async #take(ownerKind: 'member' | 'invoice', ownerId: string): Promise<AddressRow> {
    const assigned = await this.#db.transaction().execute(async (trx) => {
      for (;;) {
        const free = await trx
          .selectFrom('chain_notifier_addresses as address')
          .selectAll('address')
          .where('address.owner_kind', '=', 'unassigned')
          .where('address.chain', '=', DEPOSIT_CHAIN)
          .where((eb) =>
            eb.not(
              eb.exists(
                eb
                  .selectFrom('chain_notifier_outputs as output')
                  .select('output.outpoint')
                  .whereRef('output.script_hex', '=', 'address.script_hex'),
              ),
            ),
          )
          .orderBy('address.idx')
          .limit(1)
          .executeTakeFirst();
        const slot = free ?? (await this.#extend(trx, 1))[0]!;
        // Guarded by its owner kind, so two takers at once on PostgreSQL cannot both have one slot.
        const taken = await trx
          .updateTable('chain_notifier_addresses')
          .set({ owner_kind: ownerKind, owner_id: ownerId, assigned_at: this.clock.now() })
          .where('script_hex', '=', slot.script_hex)
          .where('owner_kind', '=', 'unassigned')
          .executeTakeFirst();
        if (taken.numUpdatedRows === 1n) return slot;
      }
    });
    this.#watched.set(assigned.script_hex, { address: assigned.address, ownerKind, ownerId });
    await this.#keepLookahead();
    return assigned;
  }

  /**
   * Forgets which blocks were processed, so the next pass starts at the tip: for the simulated chain, which lives
   * in memory and begins again at each start. The payments recorded stay as they are.
   */
  async forgetProcessedBlocks(): Promise<void> {
    await this.#db.deleteFrom('chain_notifier_blocks').execute();
  }

  /** The processed tip: the last block whose payments are recorded. */
  async processedTip(): Promise<{ height: number; hash: string } | undefined> {
    return this.#db.selectFrom('chain_notifier_blocks').selectAll().orderBy('height', 'desc').limit(1).executeTakeFirst();
  }

  /**
   * One pass: undo a reorg, record every block after the processed tip, then look at the mempool.
   * @throws ChainNotifierError CHAIN_NOTIFIER_DEEP_REORG (nothing changed) when the fork is beyond the limit.
   */
  async sync(startHeight?: number): Promise<PaymentEvent[]> {
    const { adaptor } = this.options;
    if (isScriptIndexed(adaptor)) return this.#syncByScript(adaptor);
    const events: PaymentEvent[] = [];
    const tip = await adaptor.tip();
    let processed = await this.processedTip();
    if (processed && tip.height < processed.height) {
      const stored = await this.#db
        .selectFrom('chain_notifier_blocks')
        .select('hash')
        .where('height', '=', tip.height)
        .executeTakeFirst();
      // A node (or one behind a load balancer) that is merely behind us: wait for it rather than undo blocks.
      if (stored?.hash === tip.hash) return [];
    }
    if (!processed) {
      // The blocks before the first one scanned are remembered too, so a reorg right after a fresh start finds its fork.
      const first = Math.min(startHeight ?? tip.height, tip.height);
      for (let height = Math.max(0, first - this.options.reorgLimit); height < first; height++) {
        await this.#db
          .insertInto('chain_notifier_blocks')
          .values({ height, hash: await adaptor.blockHash(height) })
          .execute();
      }
      processed = await this.processedTip();
    }
    if (processed) {
      const fork = await this.#forkPoint(processed.height);
      if (fork < processed.height) {
        events.push(...(await this.#disconnectAfter(fork)));
        processed = await this.processedTip();
      }
    }
    let height = processed ? processed.height + 1 : Math.min(startHeight ?? tip.height, tip.height);
    for (; height <= tip.height; height++) {
      const block = await adaptor.block(await adaptor.blockHash(height));
      if (processed && block.prevHash !== processed.hash) {
        // The chain moved under us mid-scan; the next pass finds the fork.
        return events;
      }
      events.push(...(await this.#connect(block)));
      processed = { height: block.height, hash: block.hash };
    }
    events.push(...(await this.#scanMempool()));
    return events;
  }

  /** Confirmations of an output at the processed tip, or at `tip` when the caller already read it (0 while unconfirmed). */
  async confirmations(output: OutputRow, tip?: { height: number }): Promise<number> {
    if (output.state !== 'confirmed' || output.block_height === null) return 0;
    const at = tip ?? (await this.processedTip());
    return at ? Math.max(0, at.height - output.block_height + 1) : 0;
  }

  async outputs(filter: { ownerKind?: OwnerKind; ownerId?: string } = {}): Promise<OutputRow[]> {
    let query = this.#db.selectFrom('chain_notifier_outputs').selectAll().orderBy('first_seen_at').orderBy('outpoint');
    if (filter.ownerKind !== undefined) query = query.where('owner_kind', '=', filter.ownerKind);
    if (filter.ownerId !== undefined) query = query.where('owner_id', '=', filter.ownerId);
    return query.execute();
  }

  async setRate(outpoint: string, rate: { centsPerBtc: number; source: string; at: number }): Promise<void> {
    await this.#db
      .updateTable('chain_notifier_outputs')
      .set({ rate_cents_per_btc: rate.centsPerBtc, rate_source: rate.source, rate_at: rate.at })
      .where('outpoint', '=', outpoint)
      .where('rate_cents_per_btc', 'is', null)
      .execute();
  }

  /**
   * Decides a ledger entry for this output before the Reporter is asked: whether it is credited after it, and the
   * entry itself, kept until `entryRecorded` so a lost reply is asked again with the same cause.
   */
  async intendEntry(outpoint: string, credited: boolean, entry: unknown): Promise<void> {
    const row = await this.#db
      .selectFrom('chain_notifier_outputs')
      .select(['credits'])
      .where('outpoint', '=', outpoint)
      .executeTakeFirstOrThrow();
    await this.#db
      .updateTable('chain_notifier_outputs')
      .set({
        credited: credited ? 1 : 0,
        credits: credited ? row.credits + 1 : row.credits,
        pending_entry: JSON.stringify(entry),
      })
      .where('outpoint', '=', outpoint)
      .execute();
  }

  async entryRecorded(outpoint: string): Promise<void> {
    await this.#db.updateTable('chain_notifier_outputs').set({ pending_entry: null }).where('outpoint', '=', outpoint).execute();
  }

  /** Records that the ledger now holds (or no longer holds) a credit for this output. */
  async setCredited(outpoint: string, credited: boolean): Promise<void> {
    const row = await this.#db
      .selectFrom('chain_notifier_outputs')
      .select(['credits', 'credited'])
      .where('outpoint', '=', outpoint)
      .executeTakeFirstOrThrow();
    if ((row.credited === 1) === credited) return;
    await this.#db
      .updateTable('chain_notifier_outputs')
      .set({ credited: credited ? 1 : 0, credits: credited ? row.credits + 1 : row.credits })
      .where('outpoint', '=', outpoint)
      .execute();
  }

  async #load(): Promise<void> {
    for (const row of await this.#db.selectFrom('chain_notifier_addresses').selectAll().execute()) {
      this.#watched.set(row.script_hex, { address: row.address, ownerKind: row.owner_kind, ownerId: row.owner_id });
    }
    const pending = await this.#db
      .selectFrom('chain_notifier_outputs')
      .select(['txid', 'spends'])
      .where('state', 'in', ['seen', 'reorged'])
      .execute();
    for (const row of pending)
      for (const outpoint of JSON.parse(row.spends) as string[]) this.#pendingSpends.set(outpoint, row.txid);
    await this.#keepLookahead();
  }

  /** Keeps `gapLimit` unassigned addresses watched after the last assigned one. */
  async #keepLookahead(): Promise<void> {
    const unassigned = await this.#db
      .selectFrom('chain_notifier_addresses')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('owner_kind', '=', 'unassigned')
      .executeTakeFirstOrThrow();
    const missing = this.options.gapLimit - Number(unassigned.count);
    if (missing <= 0) return;
    const added = await this.#db.transaction().execute((trx) => this.#extend(trx, missing));
    for (const row of added) this.#watched.set(row.script_hex, { address: row.address, ownerKind: 'unassigned', ownerId: null });
  }

  /** Derives `count` more receive addresses after the highest index, as unassigned. */
  async #extend(trx: Trx, count: number) {
    const last = await trx
      .selectFrom('chain_notifier_addresses')
      .select('idx')
      .where('chain', '=', DEPOSIT_CHAIN)
      .orderBy('idx', 'desc')
      .limit(1)
      .executeTakeFirst();
    const first = last ? last.idx + 1 : 0;
    const rows = this.options.descriptor.deriveRange(DEPOSIT_CHAIN, first, first + count - 1).map((derived): AddressRow => ({
      script_hex: derived.scriptHex,
      address: derived.address,
      chain: DEPOSIT_CHAIN,
      idx: derived.index,
      owner_kind: 'unassigned',
      owner_id: null,
      assigned_at: null,
    }));
    await trx.insertInto('chain_notifier_addresses').values(rows).execute();
    return rows;
  }

  /**
   * The pass for providers that answer by script, not by block (Electrum): every watched script is subscribed; a
   * script whose status changed (or every script, after a failed pass) has its history fetched, and its payments
   * are recorded as mined at the height the server gives, or seen when waiting. A payment that drops out of its
   * script's history (reorged out, or double spent to elsewhere) becomes reorged: unlike a full block, a script
   * history cannot tell which, nor show a reorg deeper than the limit. The tip is stored as the processed block,
   * for confirmations.
   */
  async #syncByScript(adaptor: ScriptIndexedChain): Promise<PaymentEvent[]> {
    const tip = await adaptor.tip();
    for (const scriptHex of this.#watched.keys()) {
      if (this.#subscribed.has(scriptHex)) continue;
      await adaptor.subscribeScript(scriptHex, () => this.#changedScripts.add(scriptHex));
      this.#subscribed.add(scriptHex);
      this.#changedScripts.add(scriptHex);
    }
    const hashes = new Map<number, string>();
    const hashAt = async (height: number): Promise<string> => {
      if (!hashes.has(height)) hashes.set(height, await adaptor.blockHash(height));
      return hashes.get(height)!;
    };
    // A reorg that mines a payment again at the same height leaves its script's status as it was (the status
    // hashes txids and heights), so recent blocks are compared by hash.
    const recent = await this.#db
      .selectFrom('chain_notifier_outputs')
      .select(['script_hex', 'block_height', 'block_hash'])
      .where('state', '=', 'confirmed')
      .where('block_height', '>=', tip.height - this.options.reorgLimit)
      .execute();
    for (const row of recent) {
      if (row.block_height !== null && row.block_height > tip.height) this.#changedScripts.add(row.script_hex);
      else if (row.block_height !== null && (await hashAt(row.block_height)) !== row.block_hash)
        this.#changedScripts.add(row.script_hex);
    }
    const changed = [...this.#changedScripts];
    this.#changedScripts.clear();
    const events: PaymentEvent[] = [];
    try {
      for (const scriptHex of changed) {
        const history = await adaptor.scriptHistory(scriptHex);
        const transactions: { tx: ChainTx; height: number }[] = [];
        for (const entry of history) {
          const tx = await adaptor.transaction(entry.txid);
          if (!tx) continue;
          if (entry.height > 0) await hashAt(entry.height);
          transactions.push({ tx, height: entry.height });
        }
        events.push(
          ...(await this.#db.transaction().execute(async (trx) => {
            const found: PaymentEvent[] = [];
            for (const { tx, height } of transactions) {
              const block = height > 0 ? { hash: hashes.get(height)!, height, prevHash: '', time: 0, txs: [] } : undefined;
              if (!block) found.push(...(await this.#replacedBy(trx, tx)));
              found.push(...(await this.#record(trx, tx, block)));
            }
            found.push(...(await this.#dropMissing(trx, scriptHex, new Set(history.map((entry) => entry.txid)))));
            return found;
          })),
        );
      }
      await this.#db.transaction().execute(async (trx) => {
        await trx.deleteFrom('chain_notifier_blocks').execute();
        await trx.insertInto('chain_notifier_blocks').values({ height: tip.height, hash: tip.hash }).execute();
      });
    } catch (error) {
      // Whatever was not looked at is looked at next time.
      for (const scriptHex of changed) this.#changedScripts.add(scriptHex);
      throw error;
    }
    return events;
  }

  /** Payments to this script that its history no longer lists: out of the best chain and the mempool. */
  async #dropMissing(trx: Trx, scriptHex: string, listed: ReadonlySet<string>): Promise<PaymentEvent[]> {
    const gone = (
      await trx
        .selectFrom('chain_notifier_outputs')
        .selectAll()
        .where('script_hex', '=', scriptHex)
        .where('state', 'in', ['seen', 'confirmed'])
        .execute()
    ).filter((row) => !listed.has(row.txid));
    for (const row of gone) {
      await trx
        .updateTable('chain_notifier_outputs')
        .set({ state: 'reorged', block_hash: null, block_height: null })
        .where('outpoint', '=', row.outpoint)
        .execute();
    }
    return gone.map((row) => ({
      kind: 'reorged' as const,
      output: { ...row, state: 'reorged' as const, block_hash: null, block_height: null },
    }));
  }

  /** The highest processed height whose block is still in the best chain. */
  async #forkPoint(processedHeight: number): Promise<number> {
    const stored = await this.#db.selectFrom('chain_notifier_blocks').selectAll().orderBy('height', 'desc').execute();
    const tip = await this.options.adaptor.tip();
    for (const block of stored) {
      const depth = processedHeight - block.height;
      if (depth > this.options.reorgLimit) break;
      if (block.height <= tip.height && (await this.options.adaptor.blockHash(block.height)) === block.hash) return block.height;
    }
    throw new ChainNotifierError(
      'CHAIN_NOTIFIER_DEEP_REORG',
      `the best chain no longer contains any of the last ${this.options.reorgLimit + 1} blocks processed (up to height ${processedHeight}); nothing was changed: an operator must check the node, then raise chainNotifier.reorgLimit or rescan`,
    );
  }

  /** Undoes every block after `fork`: their payments are unconfirmed again until found in another block. */
  async #disconnectAfter(fork: number): Promise<PaymentEvent[]> {
    return this.#db.transaction().execute(async (trx) => {
      const moved = await trx.selectFrom('chain_notifier_outputs').selectAll().where('block_height', '>', fork).execute();
      await trx
        .updateTable('chain_notifier_outputs')
        .set({ state: 'reorged', block_hash: null, block_height: null })
        .where('block_height', '>', fork)
        .execute();
      await trx.deleteFrom('chain_notifier_blocks').where('height', '>', fork).execute();
      this.#mempoolChecked = new Set();
      for (const row of moved)
        for (const outpoint of JSON.parse(row.spends) as string[]) this.#pendingSpends.set(outpoint, row.txid);
      return moved.map((row) => ({
        kind: 'reorged' as const,
        output: { ...row, state: 'reorged' as const, block_hash: null, block_height: null },
      }));
    });
  }

  async #connect(block: ChainBlock): Promise<PaymentEvent[]> {
    return this.#db.transaction().execute(async (trx) => {
      const events: PaymentEvent[] = [];
      for (const tx of block.txs) {
        events.push(...(await this.#replacedBy(trx, tx)));
        events.push(...(await this.#record(trx, tx, block)));
      }
      await trx.insertInto('chain_notifier_blocks').values({ height: block.height, hash: block.hash }).execute();
      await trx
        .deleteFrom('chain_notifier_blocks')
        .where('height', '<', block.height - this.options.reorgLimit - BLOCKS_KEPT_BEYOND_LIMIT)
        .execute();
      return events;
    });
  }

  async #scanMempool(): Promise<PaymentEvent[]> {
    const { adaptor } = this.options;
    const txids = await adaptor.mempool();
    const waiting = new Set(txids);
    for (const txid of this.#mempoolChecked) if (!waiting.has(txid)) this.#mempoolChecked.delete(txid);
    const events: PaymentEvent[] = [...(await this.#dropVanished(waiting))];
    for (const txid of txids) {
      if (this.#mempoolChecked.has(txid)) continue;
      const tx = await adaptor.transaction(txid);
      this.#mempoolChecked.add(txid);
      if (!tx) continue;
      events.push(
        ...(await this.#db
          .transaction()
          .execute(async (trx) => [...(await this.#replacedBy(trx, tx)), ...(await this.#record(trx, tx, undefined))])),
      );
    }
    return events;
  }

  /**
   * Unconfirmed payments no longer in the mempool nor mined (evicted, expired, or their parent replaced) are
   * dropped after two passes in a row without them, so one just mined between the block scan and the mempool
   * listing is not dropped by mistake.
   */
  async #dropVanished(waiting: ReadonlySet<string>): Promise<PaymentEvent[]> {
    const unconfirmed = await this.#db.selectFrom('chain_notifier_outputs').selectAll().where('state', '=', 'seen').execute();
    const missing = unconfirmed.filter((row) => !waiting.has(row.txid));
    const stillMissing = new Set(missing.map((row) => row.txid));
    for (const txid of this.#missingFromMempool.keys()) if (!stillMissing.has(txid)) this.#missingFromMempool.delete(txid);
    const events: PaymentEvent[] = [];
    for (const txid of stillMissing) {
      const passes = (this.#missingFromMempool.get(txid) ?? 0) + 1;
      this.#missingFromMempool.set(txid, passes);
      if (passes < 2) continue;
      this.#missingFromMempool.delete(txid);
      const rows = missing.filter((row) => row.txid === txid);
      await this.#db
        .updateTable('chain_notifier_outputs')
        .set({ state: 'reorged' })
        .where('txid', '=', txid)
        .where('state', '=', 'seen')
        .execute();
      for (const row of rows) {
        for (const outpoint of JSON.parse(row.spends) as string[]) this.#pendingSpends.delete(outpoint);
        events.push({ kind: 'reorged', output: { ...row, state: 'reorged' } });
      }
    }
    return events;
  }

  /** Payments not yet confirmed whose coins this transaction spends are double spent. */
  async #replacedBy(trx: Trx, tx: ChainTx): Promise<PaymentEvent[]> {
    if (this.#pendingSpends.size === 0) return [];
    const victims = new Set<string>();
    for (const input of tx.inputs) {
      const spender = this.#pendingSpends.get(`${input.prevTxid}:${input.prevVout}`);
      if (spender !== undefined && spender !== tx.txid) victims.add(spender);
    }
    const events: PaymentEvent[] = [];
    for (const victim of victims) {
      const rows = await trx
        .selectFrom('chain_notifier_outputs')
        .selectAll()
        .where('txid', '=', victim)
        .where('state', 'in', ['seen', 'reorged'])
        .execute();
      await trx
        .updateTable('chain_notifier_outputs')
        .set({ state: 'replaced' })
        .where('txid', '=', victim)
        .where('state', 'in', ['seen', 'reorged'])
        .execute();
      for (const row of rows) {
        for (const outpoint of JSON.parse(row.spends) as string[]) this.#pendingSpends.delete(outpoint);
        events.push({ kind: 'replaced', output: { ...row, state: 'replaced' } });
      }
    }
    return events;
  }

  /** Records the transaction's outputs to watched scripts: new ones as seen or mined, known ones moved on. */
  async #record(trx: Trx, tx: ChainTx, block: ChainBlock | undefined): Promise<PaymentEvent[]> {
    const events: PaymentEvent[] = [];
    let spends: string | undefined;
    for (let vout = 0; vout < tx.outputs.length; vout++) {
      const output = tx.outputs[vout]!;
      const found = this.#watched.match(output.script);
      if (!found) continue;
      const { value: watched, scriptHex } = found;
      spends ??= JSON.stringify(tx.inputs.map((input) => `${input.prevTxid}:${input.prevVout}`));
      const outpoint = `${tx.txid}:${vout}`;
      const known = await trx
        .selectFrom('chain_notifier_outputs')
        .selectAll()
        .where('outpoint', '=', outpoint)
        .executeTakeFirst();
      const placed = block
        ? { state: 'confirmed' as const, block_hash: block.hash, block_height: block.height }
        : { state: 'seen' as const, block_hash: null, block_height: null };
      if (!known) {
        const row: OutputRow = {
          outpoint,
          txid: tx.txid,
          vout,
          script_hex: scriptHex,
          address: watched.address,
          sats: output.value,
          owner_kind: watched.ownerKind,
          owner_id: watched.ownerId,
          ...placed,
          first_seen_at: this.clock.now(),
          spends,
          rate_cents_per_btc: null,
          rate_source: null,
          rate_at: null,
          credits: 0,
          credited: 0,
          pending_entry: null,
        };
        await trx.insertInto('chain_notifier_outputs').values(row).execute();
        events.push({ kind: block ? 'mined' : 'seen', output: row });
      } else if (
        block
          ? known.state !== 'confirmed' || known.block_hash !== block.hash
          : known.state === 'reorged' || known.state === 'confirmed'
      ) {
        // A confirmed payment found waiting again (an Electrum history after a reorg) lost its block: it is
        // reported reorged, and counts as unconfirmed from now on.
        const kind = block ? 'mined' : known.state === 'confirmed' ? 'reorged' : 'seen';
        await trx.updateTable('chain_notifier_outputs').set(placed).where('outpoint', '=', outpoint).execute();
        events.push({ kind, output: { ...known, ...placed } });
      } else continue;
      if (block) for (const input of tx.inputs) this.#pendingSpends.delete(`${input.prevTxid}:${input.prevVout}`);
      else for (const input of tx.inputs) this.#pendingSpends.set(`${input.prevTxid}:${input.prevVout}`, tx.txid);
    }
    return events;
  }
}
