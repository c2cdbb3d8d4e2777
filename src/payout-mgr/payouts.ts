// The payout desk: requests, approvals and rejections, expiry, the PSBTs built for approved payouts, the
// co-signers' signatures taken in, broadcast, and the chain followed until the payout is paid and in the ledger.
import type { Kysely, Transaction } from 'kysely';
import { parseTransaction, type ChainAdaptor } from '../chain-adaptor/index.js';
import { parseAddress, type BitcoinNetwork, type OutputDescriptor } from '../core/bitcoin/index.js';
import type { Clock } from '../core/clock.js';
import type { PayloadOf } from '../core/contract.js';
import { centsFor, ledgerAcceptsBitcoin, satsFor } from '../core/bitcoin-amounts.js';
import { DctrlError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { decisionStatement, requestDigest, type PayoutTerms } from '../core/approval.js';
import { ApproverKeys } from './approvers.js';
import type {
  ApproverKey,
  PayoutDecide,
  PayoutRecord,
  PayoutRequest,
  PayoutState,
  PsbtBuild,
  PsbtState,
  PsbtSummary,
} from '../core/messages-payout.js';
import type { Config } from '../core/config.js';
import { PayoutMgrError, type PayoutMgrErrorCode } from './errors.js';
import {
  buildPayoutPsbt,
  decodePsbtText,
  dustThreshold,
  finalizePsbt,
  psbtSigners,
  signatureCounts,
  takeSignatures,
  unsignedOutputs,
  unsignedTxid,
  withPreviousTransactions,
} from './psbt.js';
import type { DecisionRow, PayoutRow, PayoutTables, PsbtRow } from './store.js';
import type { MultisigWallet, Outpoint, SpendableCoin } from './wallet.js';

type Db = Kysely<PayoutTables>;
type Trx = Transaction<PayoutTables>;
export type PayoutSettings = Config['payoutMgr'];

const HOUR_MS = 3_600_000;
const LIST_PAGE = 50;
/** How long a node may take to show a transaction it was sent, and how often it is asked meanwhile. */
const BROADCAST_CHECK_MS = 3_000;
const BROADCAST_CHECK_POLL_MS = 100;
/** Payouts in these states wait for a person; a PSBT is built only for approved ones. */
const OPEN_STATES: readonly PayoutState[] = ['requested', 'approved'];

export interface Rate {
  centsPerBtc: number;
  source: string;
  at: number;
}

/** What the desk asks of other services, over the bus in the service and directly in tests. */
export interface Upstream {
  /** A fresh rate in the space's currency. @throws DctrlError with the PriceNotifier's code when there is none. */
  quote(maxAgeMs: number): Promise<Rate & { currency: string }>;
  /** Whether MemberData knows this member (who has left too). */
  memberKnown(memberId: string): Promise<boolean>;
  /** Records a payout in the ledger, once per cause; returns the entry id. */
  recordPayout(entry: { cents: number; sats: number; rate: Rate; causedBy: string; note: string }): Promise<string>;
}

export interface DeskOptions {
  db: Db;
  clock: Clock;
  log: Logger;
  settings: PayoutSettings;
  descriptor: OutputDescriptor;
  network: BitcoinNetwork;
  wallet: MultisigWallet;
  adaptor: ChainAdaptor;
  upstream: Upstream;
  newId: () => string;
  /** Told of every payout whose state changed, after it was committed. */
  changed: (payout: PayoutRecord) => void;
  /** Told of every approver key enrolled, endorsed or activated. */
  keyChanged: (key: ApproverKey) => void;
}

function problemOf(error: unknown): { code: string; message: string } {
  if (error instanceof DctrlError) return { code: error.code, message: error.message.slice(0, 2_000) };
  return { code: 'PAYOUT_UPSTREAM_UNAVAILABLE', message: String((error as Error)?.message ?? error).slice(0, 2_000) };
}

function fail(code: PayoutMgrErrorCode, message: string): never {
  throw new PayoutMgrError(code, message);
}

const outpointKey = (outpoint: Outpoint): string => `${outpoint.txid}:${outpoint.vout}`;

function termsOf(row: PayoutRow): PayoutTerms {
  return {
    id: row.id,
    address: row.address,
    sats: Number(row.sats),
    cents: row.cents === null ? null : Number(row.cents),
    currency: row.currency,
    reason: row.reason,
    requester: row.requester,
    memberId: row.member_id,
    requestedBy: row.requested_by,
    requestedAt: Number(row.requested_at),
    expiresAt: Number(row.expires_at),
  };
}

export class PayoutDesk {
  readonly #o: DeskOptions;
  /** Every change runs in turn: two imports, or a build and the chain follower, never interleave. */
  #turn: Promise<unknown> = Promise.resolve();

  readonly keys: ApproverKeys;

  constructor(options: DeskOptions) {
    this.#o = options;
    this.keys = new ApproverKeys({
      db: options.db,
      clock: options.clock,
      log: options.log,
      settings: options.settings,
      changed: options.keyChanged,
    });
  }

  inTurn<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#turn.then(work, work);
    this.#turn = next.catch(() => undefined);
    return next;
  }

  // ---- requests and decisions ------------------------------------------------------------------------------

  request(input: PayloadOf<typeof PayoutRequest>, issuer: string): Promise<PayoutRecord> {
    const { settings, clock, network } = this.#o;
    if (!settings.requesters.includes(issuer)) fail('PAYOUT_NOT_ALLOWED', `"${issuer}" is not in payoutMgr.requesters`);
    let script: Uint8Array;
    try {
      script = parseAddress(input.address, network).script;
    } catch (error) {
      fail(
        'PAYOUT_ADDRESS_INVALID',
        `"${input.address.slice(0, 100)}" is no ${network.name} address: ${(error as Error).message}`,
      );
    }
    return this.inTurn(async () => {
      if (input.idempotencyKey !== undefined) {
        const earlier = await this.#db
          .selectFrom('payout_mgr_payouts')
          .selectAll()
          .where('requested_by', '=', issuer)
          .where('idempotency_key', '=', input.idempotencyKey)
          .executeTakeFirst();
        if (earlier) {
          const same =
            earlier.address === input.address &&
            earlier.reason === input.reason &&
            earlier.member_id === (input.memberId ?? null) &&
            (input.sats !== undefined ? earlier.cents === null && earlier.sats === input.sats : earlier.cents === input.cents);
          if (!same) {
            fail(
              'PAYOUT_REQUEST_INVALID',
              `idempotency key "${input.idempotencyKey}" was used before for another payout (${earlier.id})`,
            );
          }
          return this.#record(earlier);
        }
      }
      if (input.memberId !== undefined && !(await this.#o.upstream.memberKnown(input.memberId))) {
        fail('PAYOUT_REQUEST_INVALID', `MemberData knows no member ${input.memberId}: the payout notice would go nowhere`);
      }
      let rate: (Rate & { currency: string }) | undefined;
      try {
        rate = await this.#o.upstream.quote(settings.rateMaxAgeMs);
      } catch (error) {
        // A payout in sats needs no rate now: when none is fresh, it is priced when it is booked.
        if (input.cents !== undefined) {
          const { code, message } = problemOf(error);
          fail('PAYOUT_NO_RATE', `no fresh rate to convert ${input.cents} cents (${code}: ${message})`);
        }
      }
      const sats = input.sats ?? satsFor(input.cents!, rate!.centsPerBtc);
      if (sats < dustThreshold(script)) {
        fail(
          'PAYOUT_DUST_OUTPUT',
          `${sats} sats to ${input.address} is below its dust limit of ${dustThreshold(script)} sats: the network would not relay it`,
        );
      }
      const now = clock.now();
      const row: PayoutRow = {
        id: this.#o.newId(),
        state: 'requested',
        address: input.address,
        script_hex: Buffer.from(script).toString('hex'),
        sats,
        cents: input.cents ?? null,
        currency: rate?.currency ?? null,
        rate_cents_per_btc: rate?.centsPerBtc ?? null,
        rate_source: rate?.source ?? null,
        rate_at: rate?.at ?? null,
        reason: input.reason,
        requester: input.requester,
        member_id: input.memberId ?? null,
        requested_by: issuer,
        idempotency_key: input.idempotencyKey ?? null,
        requested_at: now,
        expires_at: now + settings.expiryHours * HOUR_MS,
        psbt_id: null,
        paid_at: null,
        ledger_entry_id: null,
        last_error: null,
        updated_at: now,
      };
      await this.#db.insertInto('payout_mgr_payouts').values(row).execute();
      this.#o.log.info({ payoutId: row.id, sats, requester: row.requester }, 'payout requested');
      return this.#announce(row.id);
    });
  }

  decide(input: PayloadOf<typeof PayoutDecide>, issuer: string): Promise<PayoutRecord> {
    const { settings, clock } = this.#o;
    this.keys.checkCarrier(issuer, input.approver);
    if (input.decision === 'reject' && input.reason === undefined) {
      fail('PAYOUT_REQUEST_INVALID', 'a rejection needs a reason, for the requester');
    }
    return this.inTurn(async () => {
      await this.#expireDue();
      const payout = await this.#payout(input.payoutId);
      if (payout.state === 'expired') fail('PAYOUT_EXPIRED', `payout ${payout.id} expired unapproved`);
      if (payout.state !== 'requested') {
        fail('PAYOUT_STATE_CONFLICT', `payout ${payout.id} is ${payout.state}; only a requested payout is approved or rejected`);
      }
      if (input.decision === 'approve' && (input.approver === payout.requester || input.approver === payout.requested_by)) {
        fail('PAYOUT_NOT_ALLOWED', `"${input.approver}" asked for payout ${payout.id} and cannot also approve it`);
      }
      const decidedBefore = async (db: Db | Trx) => {
        const earlier = await db
          .selectFrom('payout_mgr_decisions')
          .select('decision')
          .where('payout_id', '=', payout.id)
          .where('approver', '=', input.approver)
          .executeTakeFirst();
        if (earlier) {
          fail('PAYOUT_ALREADY_APPROVED', `"${input.approver}" has already ${earlier.decision}d payout ${payout.id}`);
        }
      };
      // A replayed decision is refused as a repeat before its signature is checked again.
      await decidedBefore(this.#db);
      const terms = termsOf(payout);
      const { key, counter } = await this.keys.verify(
        input.approver,
        (signedAt) =>
          decisionStatement({
            payout: terms,
            approver: input.approver,
            decision: input.decision,
            reason: input.reason ?? null,
            signedAt,
          }),
        input.proof,
      );
      const now = clock.now();
      await this.#db.transaction().execute(async (trx) => {
        await decidedBefore(trx);
        await trx.updateTable('payout_mgr_approver_keys').set({ counter }).where('key_id', '=', key.key_id).execute();
        await trx
          .insertInto('payout_mgr_decisions')
          .values({
            payout_id: payout.id,
            approver: input.approver,
            decision: input.decision,
            reason: input.reason ?? null,
            at: now,
            carried_by: issuer,
            key_id: key.key_id,
            proof: JSON.stringify(input.proof),
          })
          .execute();
        const approvals = await trx
          .selectFrom('payout_mgr_decisions')
          .select((eb) => eb.fn.countAll<number>().as('count'))
          .where('payout_id', '=', payout.id)
          .where('decision', '=', 'approve')
          .executeTakeFirstOrThrow();
        const state: PayoutState =
          input.decision === 'reject'
            ? 'rejected'
            : Number(approvals.count) >= settings.approvalsRequired
              ? 'approved'
              : 'requested';
        await this.#setState(trx, [payout.id], state, now);
      });
      this.#o.log.info(
        { payoutId: payout.id, approver: input.approver, decision: input.decision, keyId: key.key_id },
        'payout decided',
      );
      return this.#announce(payout.id);
    });
  }

  async list(input: { state?: PayoutState; memberId?: string; before?: string; limit?: number }) {
    const limit = input.limit ?? LIST_PAGE;
    let query = this.#db
      .selectFrom('payout_mgr_payouts')
      .selectAll()
      .orderBy('id', 'desc')
      .limit(limit + 1);
    if (input.state) query = query.where('state', '=', input.state);
    if (input.memberId) query = query.where('member_id', '=', input.memberId);
    if (input.before) query = query.where('id', '<', input.before);
    const rows = await query.execute();
    const more = rows.length > limit;
    const page = rows.slice(0, limit);
    return { payouts: await Promise.all(page.map((row) => this.#record(row))), next: more ? page.at(-1)!.id : null };
  }

  async get(payoutId: string): Promise<{ payout: PayoutRecord; psbt: PsbtSummary | null }> {
    const row = await this.#payout(payoutId);
    return { payout: await this.#record(row), psbt: row.psbt_id ? this.#summary(await this.#psbt(row.psbt_id)) : null };
  }

  // ---- PSBTs ---------------------------------------------------------------------------------------------

  build(input: PayloadOf<typeof PsbtBuild>, by: string): Promise<PsbtSummary> {
    return this.inTurn(async () => {
      await this.#expireDue();
      // A discarded PSBT the chain shows sent pays its payouts: not built again.
      await this.#reviveSentDiscarded();
      const { wallet, descriptor, clock } = this.#o;
      let payouts: PayoutRow[];
      if (input.payoutIds) {
        payouts = [];
        for (const id of new Set(input.payoutIds)) {
          const payout = await this.#payout(id);
          if (payout.state === 'expired') fail('PAYOUT_EXPIRED', `payout ${id} expired before it was paid`);
          if (payout.state !== 'approved') fail('PAYOUT_STATE_CONFLICT', `payout ${id} is ${payout.state}, not approved`);
          payouts.push(payout);
        }
      } else {
        payouts = await this.#db
          .selectFrom('payout_mgr_payouts')
          .selectAll()
          .where('state', '=', 'approved')
          .orderBy('id')
          .limit(100)
          .execute();
        if (payouts.length === 0) fail('PAYOUT_STATE_CONFLICT', 'no payout is approved and waiting for a PSBT');
      }
      const feeRate = await this.#feeRate(input.feeRateSatPerVb);
      const reserved = await this.#reservedOutpoints();
      const coins = (await wallet.coins({ minConfirmations: 0 }))
        .map((coin) => ({ ...coin, confirmations: this.#confirmations(coin.height) }))
        .filter((coin) => !reserved.has(outpointKey(coin)));
      const required = await this.#conflictWithDiscarded(payouts, coins);
      // Handed out only now, when nothing else refuses the build: each one handed out and never used widens the gap
      // a co-signer's wallet must look across to find its change.
      const change = await wallet.nextChange();
      const built = buildPayoutPsbt({
        required,
        descriptor,
        coins,
        outputs: payouts.map((payout) => ({
          script: Buffer.from(payout.script_hex, 'hex'),
          sats: payout.sats,
          address: payout.address,
        })),
        feeRateSatPerVb: feeRate,
        change,
        locktime: wallet.processedTip()?.height ?? 0,
      });
      const previous = new Map<string, Uint8Array>();
      for (const input of built.inputs) {
        const raw = previous.has(input.txid) ? undefined : await wallet.previousTransaction(input.txid);
        if (raw) previous.set(input.txid, raw);
      }
      if (previous.size < new Set(built.inputs.map((input) => input.txid)).size) {
        this.#o.log.warn({ txid: built.txid }, 'not every input carries its previous transaction: the node did not have it');
      }
      const psbtBytes = withPreviousTransactions(built.psbt, previous, descriptor);
      const outputs = this.#describeOutputs(built.psbt, payouts, change.scriptHex);
      const now = clock.now();
      const row: PsbtRow = {
        id: this.#o.newId(),
        state: 'signing',
        txid: built.txid,
        psbt: Buffer.from(psbtBytes).toString('base64'),
        payout_ids: JSON.stringify(payouts.map((payout) => payout.id)),
        inputs: JSON.stringify(
          built.inputs.map((input) => {
            const coin = coins.find((candidate) => candidate.txid === input.txid && candidate.vout === input.vout)!;
            return { ...input, chain: coin.chain, index: coin.index };
          }),
        ),
        outputs: JSON.stringify(outputs),
        fee_sats: built.feeSats,
        vsize: built.vsize,
        fee_rate: feeRate,
        threshold: descriptor.threshold ?? 1,
        raw_tx: null,
        created_at: now,
        created_by: by,
        broadcast_at: null,
        block_height: null,
        confirmations: 0,
        fee_ledger_entry_id: null,
        last_error: null,
        updated_at: now,
      };
      await this.#db.transaction().execute(async (trx) => {
        // The same transaction as a discarded PSBT (same coins, outputs, fee and tip): that one is taken up again,
        // with whatever signatures it had gathered.
        const same = await trx.selectFrom('payout_mgr_psbts').selectAll().where('txid', '=', row.txid).executeTakeFirst();
        if (same) {
          row.id = same.id;
          row.psbt = same.psbt;
          row.raw_tx = same.raw_tx;
          row.state = same.raw_tx === null ? 'signing' : 'signed';
          row.created_at = same.created_at;
          await trx.updateTable('payout_mgr_psbts').set(row).where('id', '=', same.id).execute();
        } else {
          await trx.insertInto('payout_mgr_psbts').values(row).execute();
        }
        await trx
          .updateTable('payout_mgr_payouts')
          .set({ psbt_id: row.id })
          .where(
            'id',
            'in',
            payouts.map((payout) => payout.id),
          )
          .execute();
        await this.#setState(
          trx,
          payouts.map((payout) => payout.id),
          row.state === 'signed' ? 'signed' : 'signing',
          now,
        );
      });
      this.#o.log.info(
        { psbtId: row.id, txid: row.txid, payouts: payouts.length, feeSats: row.fee_sats, feeRate },
        'PSBT built for the co-signers',
      );
      for (const payout of payouts) await this.#announce(payout.id);
      return this.#summary(row);
    });
  }

  async psbts(psbtId?: string): Promise<PsbtSummary[]> {
    if (psbtId !== undefined) return [this.#summary(await this.#psbt(psbtId))];
    const rows = await this.#db
      .selectFrom('payout_mgr_psbts')
      .selectAll()
      .where('state', 'in', ['signing', 'signed', 'broadcast'])
      .orderBy('id')
      .execute();
    return rows.map((row) => this.#summary(row));
  }

  import(input: { psbtId?: string; psbt: string }, by: string, carriedBy: string) {
    return this.inTurn(async () => {
      const { descriptor, clock } = this.#o;
      const theirs = decodePsbtText(input.psbt);
      const row = input.psbtId !== undefined ? await this.#psbt(input.psbtId) : await this.#psbtFor(theirs);
      if (row.state !== 'signing' && row.state !== 'signed') {
        fail('PAYOUT_STATE_CONFLICT', `PSBT ${row.id} is ${row.state}; signatures are taken only before it is sent`);
      }
      const { psbt: combined, added, alreadyHad } = takeSignatures(Buffer.from(row.psbt, 'base64'), theirs, descriptor);
      let finalized: { rawTxHex: string; txid: string } | undefined;
      try {
        finalized = finalizePsbt(combined, row.threshold);
      } catch (error) {
        if (!(error instanceof PayoutMgrError && error.code === 'PAYOUT_PSBT_NOT_ENOUGH_SIGNATURES')) throw error;
      }
      const now = clock.now();
      await this.#db.transaction().execute(async (trx) => {
        await trx
          .updateTable('payout_mgr_psbts')
          .set({
            psbt: Buffer.from(combined).toString('base64'),
            state: finalized ? 'signed' : row.state,
            raw_tx: finalized?.rawTxHex ?? row.raw_tx,
            updated_at: now,
          })
          .where('id', '=', row.id)
          .execute();
        await trx
          .insertInto('payout_mgr_psbt_imports')
          .values({
            id: this.#o.newId(),
            psbt_id: row.id,
            at: now,
            by,
            carried_by: carriedBy,
            added: JSON.stringify(
              added.map(({ inputIndex, fingerprint, pubkeyHex }) => ({ inputIndex, fingerprint, pubkey: pubkeyHex })),
            ),
          })
          .execute();
        if (finalized && row.state === 'signing')
          await this.#setState(trx, JSON.parse(row.payout_ids) as string[], 'signed', now);
      });
      this.#o.log.info({ psbtId: row.id, by, added: added.length, complete: finalized !== undefined }, 'signed PSBT taken in');
      if (finalized && row.state === 'signing') for (const id of JSON.parse(row.payout_ids) as string[]) await this.#announce(id);
      return {
        psbt: this.#summary(await this.#psbt(row.id)),
        added: added.map(({ inputIndex, fingerprint, pubkeyHex }) => ({ inputIndex, fingerprint, pubkey: pubkeyHex })),
        alreadyHad,
      };
    });
  }

  async broadcast(psbtId: string, by: string): Promise<PsbtSummary> {
    const sent = await this.inTurn(async () => {
      const { adaptor, clock, log } = this.#o;
      const row = await this.#psbt(psbtId);
      if (row.state === 'signing') {
        const counts = signatureCounts(Buffer.from(row.psbt, 'base64'));
        fail(
          'PAYOUT_PSBT_NOT_ENOUGH_SIGNATURES',
          `PSBT ${row.id} has ${counts.join('/')} signatures on its inputs; each needs ${row.threshold}`,
        );
      }
      if (row.state !== 'signed') fail('PAYOUT_STATE_CONFLICT', `PSBT ${row.id} is ${row.state}; only a signed one is sent`);
      const payoutIds = JSON.parse(row.payout_ids) as string[];
      try {
        const txid = await adaptor.broadcast(row.raw_tx!).catch(async (error: unknown) => {
          // Sent before (a lost answer, or a co-signer's wallet): the node refuses it again as known.
          if ((await adaptor.transaction(row.txid).catch(() => undefined)) !== undefined) return row.txid;
          throw error;
        });
        if (txid !== row.txid) log.warn({ psbtId: row.id, txid, expected: row.txid }, 'the node named another txid');
        await this.#takenByNode(row.txid);
      } catch (error) {
        const problem = {
          code: 'PAYOUT_BROADCAST_FAILED',
          message:
            error instanceof PayoutMgrError ? error.message : `the node refused the transaction: ${problemOf(error).message}`,
        };
        await this.#db.transaction().execute(async (trx) => {
          await trx
            .updateTable('payout_mgr_psbts')
            .set({ last_error: JSON.stringify(problem), updated_at: clock.now() })
            .where('id', '=', row.id)
            .execute();
          await trx
            .updateTable('payout_mgr_payouts')
            .set({ last_error: JSON.stringify(problem), updated_at: clock.now() })
            .where('id', 'in', payoutIds)
            .execute();
        });
        log.error({ psbtId: row.id, by, err: problem.message }, 'broadcast refused; the payouts stay signed and unpaid');
        throw new PayoutMgrError('PAYOUT_BROADCAST_FAILED', problem.message);
      }
      await this.#markBroadcast(row, clock.now());
      log.info({ psbtId: row.id, txid: row.txid, by }, 'payout transaction sent');
      return { summary: this.#summary(await this.#psbt(row.id)), raw: row.raw_tx! };
    });
    // Outside the turn (the wallet may be catching up): its spends count before a block or the mempool shows it.
    await this.#o.wallet.noteSent(parseTransaction(Buffer.from(sent.raw, 'hex')));
    return sent.summary;
  }

  discard(psbtId: string, reason: string, by: string): Promise<PsbtSummary> {
    return this.inTurn(async () => {
      const row = await this.#psbt(psbtId);
      const onChain = (await this.#o.wallet.status(row.txid)).state !== 'unknown';
      const conflicted = row.state === 'broadcast' && !onChain && (await this.#spentElsewhere(row)) !== undefined;
      if (!(row.state === 'signing' || row.state === 'signed' || conflicted)) {
        fail(
          'PAYOUT_STATE_CONFLICT',
          `PSBT ${row.id} is ${row.state}; only one not yet sent, or sent and then spent away by another transaction, can be discarded`,
        );
      }
      if (onChain)
        fail('PAYOUT_STATE_CONFLICT', `PSBT ${row.id}'s transaction ${row.txid} is already on the chain; it cannot be discarded`);
      // Only the payouts it still holds go back: one that moved to another transaction stays where it is.
      const payoutIds = (
        await this.#db
          .selectFrom('payout_mgr_payouts')
          .select('id')
          .where('psbt_id', '=', row.id)
          .where('state', 'in', ['signing', 'signed', 'broadcast'])
          .execute()
      ).map((payout) => payout.id);
      const now = this.#o.clock.now();
      await this.#db.transaction().execute(async (trx) => {
        await trx
          .updateTable('payout_mgr_psbts')
          .set({
            state: 'discarded',
            last_error: JSON.stringify({ code: 'DISCARDED', message: `${by}: ${reason}` }),
            updated_at: now,
          })
          .where('id', '=', row.id)
          .execute();
        if (payoutIds.length > 0) {
          await trx.updateTable('payout_mgr_payouts').set({ psbt_id: null }).where('id', 'in', payoutIds).execute();
          await this.#setState(trx, payoutIds, 'approved', now);
        }
      });
      this.#o.log.warn({ psbtId: row.id, by, reason }, 'PSBT discarded; its payouts are approved again');
      for (const id of payoutIds) await this.#announce(id);
      return this.#summary(await this.#psbt(row.id));
    });
  }

  /** Sats in coins that an unsent PSBT will spend. */
  async reservedSats(): Promise<number> {
    return (await this.#heldInputs(['signing', 'signed'])).reduce((sum, input) => sum + input.value, 0);
  }

  // ---- following the chain -------------------------------------------------------------------------------

  /** Expires what is due, follows the chain, and moves sent payouts on: confirmed (and in the ledger), or back. */
  async follow(): Promise<void> {
    // The wallet keeps its own turn: catching up many blocks holds up no request, approval or build. A failed sync
    // (the node away, a deep reorg) still lets requests expire; it is reported after.
    const synced = await this.#o.wallet.sync().then(
      () => undefined,
      (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
    );
    await this.inTurn(async () => {
      await this.#expireDue();
      await this.#reviveSentDiscarded();
      const rows = await this.#db
        .selectFrom('payout_mgr_psbts')
        .selectAll()
        .where('state', 'in', ['signed', 'broadcast', 'confirmed'])
        .where((eb) =>
          eb.or([eb('state', '!=', 'confirmed'), eb('fee_ledger_entry_id', 'is', null), eb('confirmations', '<', 100)]),
        )
        .execute();
      for (const row of rows) {
        // One PSBT that cannot be followed now holds up none of the others.
        await this.#followOne(row).catch((error: unknown) =>
          this.#o.log.error(
            { psbtId: row.id, ...problemOf(error) },
            'could not follow a payout transaction; tried again at the next pass',
          ),
        );
      }
    });
    if (synced !== undefined) throw synced;
  }

  /**
   * A discarded PSBT whose transaction shows up on the chain was signed and sent by co-signers anyway: it pays its
   * payouts. Each payout moves to it unless another PSBT holds it: one that spends a coin of the same (every rebuild
   * does) can only confirm instead of it, so the one the chain mines wins, and while neither is mined nothing moves;
   * an unsent one that does not conflict is retired. A payout sent by both in two transactions that do not conflict was
   * paid twice: it is flagged (PAYOUT_PAID_TWICE) for the treasurer.
   */
  async #reviveSentDiscarded(): Promise<void> {
    const { wallet, clock, log } = this.#o;
    const discarded = await this.#db.selectFrom('payout_mgr_psbts').selectAll().where('state', '=', 'discarded').execute();
    for (const row of discarded) {
      const seen = await wallet.status(row.txid);
      if (seen.state === 'unknown') continue;
      const payoutIds = JSON.parse(row.payout_ids) as string[];
      const ownInputs = new Set((JSON.parse(row.inputs) as Outpoint[]).map(outpointKey));
      const now = clock.now();
      const moved: string[] = [];
      const retired: PsbtRow[] = [];
      const paidTwice: string[] = [];
      for (const payout of await this.#db.selectFrom('payout_mgr_payouts').selectAll().where('id', 'in', payoutIds).execute()) {
        const holder =
          payout.psbt_id === null || payout.psbt_id === row.id
            ? undefined
            : await this.#db.selectFrom('payout_mgr_psbts').selectAll().where('id', '=', payout.psbt_id).executeTakeFirst();
        if (!holder || holder.state === 'discarded' || retired.some((other) => other.id === holder.id)) {
          moved.push(payout.id);
          continue;
        }
        const holderSeen = await wallet.status(holder.txid);
        const conflicting = (JSON.parse(holder.inputs) as Outpoint[]).some((input) => ownInputs.has(outpointKey(input)));
        if (conflicting) {
          // Only one of the two can confirm: the mined one pays; while both wait, nothing moves yet.
          if (holderSeen.state === 'mined' || (seen.state !== 'mined' && holderSeen.state !== 'unknown')) continue;
          retired.push(holder);
          moved.push(payout.id);
        } else if (holderSeen.state === 'unknown' && (holder.state === 'signing' || holder.state === 'signed')) {
          retired.push(holder);
          moved.push(payout.id);
        } else {
          paidTwice.push(payout.id);
        }
      }
      if (moved.length === 0 && paidTwice.length === 0) continue;
      await this.#db.transaction().execute(async (trx) => {
        for (const holder of retired) {
          const problem = {
            code: 'PAYOUT_SENT_AFTER_DISCARD',
            message: `discarded PSBT ${row.id} (tx ${row.txid}) was sent instead`,
          };
          await trx
            .updateTable('payout_mgr_psbts')
            .set({ state: 'discarded', last_error: JSON.stringify(problem), updated_at: now })
            .where('id', '=', holder.id)
            .execute();
          // Its other payouts are free again: a rebuild conflicts with it, as with any discarded PSBT.
          const others = (JSON.parse(holder.payout_ids) as string[]).filter((id) => !moved.includes(id));
          if (others.length > 0) {
            await trx
              .updateTable('payout_mgr_payouts')
              .set({ psbt_id: null })
              .where('psbt_id', '=', holder.id)
              .where('id', 'in', others)
              .execute();
            await this.#setState(trx, others, 'approved', now);
          }
        }
        if (moved.length > 0) {
          const problem = {
            code: 'PAYOUT_SENT_AFTER_DISCARD',
            message: 'discarded, then signed and sent by co-signers: followed as sent',
          };
          await trx
            .updateTable('payout_mgr_psbts')
            .set({ state: 'broadcast', broadcast_at: now, last_error: JSON.stringify(problem), updated_at: now })
            .where('id', '=', row.id)
            .execute();
          await trx
            .updateTable('payout_mgr_payouts')
            .set({ psbt_id: row.id, last_error: null })
            .where('id', 'in', moved)
            .execute();
          await this.#setState(trx, moved, 'broadcast', now);
        }
        if (paidTwice.length > 0) {
          const problem = {
            code: 'PAYOUT_PAID_TWICE',
            message: `also paid by discarded PSBT ${row.id} (tx ${row.txid}), sent by co-signers: ask the payee to pay it back`,
          };
          await trx
            .updateTable('payout_mgr_payouts')
            .set({ last_error: JSON.stringify(problem) })
            .where('id', 'in', paidTwice)
            .execute();
        }
      });
      if (paidTwice.length > 0) log.error({ psbtId: row.id, txid: row.txid, payouts: paidTwice }, 'payouts paid twice');
      if (moved.length > 0)
        log.warn({ psbtId: row.id, txid: row.txid }, 'a discarded PSBT was sent by co-signers; its payouts are followed as sent');
      const touched = new Set([
        ...moved,
        ...paidTwice,
        ...retired.flatMap((holder) => JSON.parse(holder.payout_ids) as string[]),
      ]);
      for (const id of touched) await this.#announce(id);
    }
  }

  async #followOne(row: PsbtRow): Promise<void> {
    const { wallet, clock, settings, log, adaptor } = this.#o;
    const status = await wallet.status(row.txid);
    const now = clock.now();
    if (row.state === 'signed') {
      // Sent by a co-signer's own wallet, or our broadcast's answer was lost: the chain says it went.
      if (status.state !== 'unknown') await this.#markBroadcast(row, now);
      return;
    }
    if (status.state === 'unknown' && (await this.#adoptReplacement(row))) return;
    if (status.state === 'unknown' && row.raw_tx !== null) {
      // Dropped by a reorg and forgotten by the node's mempool: send the same signed transaction again.
      try {
        await adaptor.broadcast(row.raw_tx);
        log.warn({ psbtId: row.id, txid: row.txid }, 'payout transaction sent again: the chain had lost it');
      } catch (error) {
        log.error(
          { psbtId: row.id, txid: row.txid, err: problemOf(error).message },
          'payout transaction lost and not taken again',
        );
      }
    }
    const confirmed = status.state === 'mined' && status.confirmations >= settings.confirmations;
    await this.#db
      .updateTable('payout_mgr_psbts')
      .set({
        confirmations: status.confirmations,
        block_height: status.height,
        state: confirmed ? 'confirmed' : 'broadcast',
        updated_at: now,
      })
      .where('id', '=', row.id)
      .execute();
    // The payouts it still holds: one that moved to another transaction (a discarded PSBT sent instead) is not its.
    const payoutIds = (await this.#db.selectFrom('payout_mgr_payouts').select('id').where('psbt_id', '=', row.id).execute()).map(
      (payout) => payout.id,
    );
    if (payoutIds.length === 0) return;
    if (confirmed && row.state !== 'confirmed') {
      await this.#db.transaction().execute(async (trx) => {
        await trx
          .updateTable('payout_mgr_payouts')
          .set({ paid_at: now })
          .where('id', 'in', payoutIds)
          .where('paid_at', 'is', null)
          .execute();
        await this.#setState(trx, payoutIds, 'confirmed', now);
      });
      log.info({ psbtId: row.id, txid: row.txid, confirmations: status.confirmations }, 'payout confirmed');
      for (const id of payoutIds) await this.#announce(id);
    } else if (!confirmed && row.state === 'confirmed') {
      await this.#db.transaction().execute((trx) => this.#setState(trx, payoutIds, 'broadcast', now));
      log.warn({ psbtId: row.id, txid: row.txid }, 'a reorg took a confirmed payout back; following it again');
      for (const id of payoutIds) await this.#announce(id);
    }
    if (confirmed) await this.#recordInLedger(row, payoutIds);
  }

  /** The transaction, other than this PSBT's, that spends one of its coins, if the wallet knows one. */
  async #spentElsewhere(row: PsbtRow): Promise<string | undefined> {
    for (const input of JSON.parse(row.inputs) as { txid: string; vout: number }[]) {
      const spender = await this.#o.wallet.spenderOf(input);
      if (spender !== undefined && spender !== row.txid) return spender;
    }
    return undefined;
  }

  /**
   * A sent transaction whose coins another one spends: a co-signer bumped its fee in their wallet (it is replaceable).
   * The other one is taken as this PSBT's transaction from now on when it pays every payout of the PSBT to the same
   * scripts and amounts (they are paid by it); its fee is what it really pays, and whatever else it does (sats sent
   * outside the wallet, coins not the wallet's) is flagged for the treasurer. One that does not pay them is flagged
   * (PAYOUT_TX_REPLACED); discarding the PSBT then puts them back to approved. Another PSBT's transaction is left to
   * the discarded-PSBT rule.
   * @returns whether the PSBT now follows another transaction.
   */
  async #adoptReplacement(row: PsbtRow): Promise<boolean> {
    const { adaptor, wallet, clock, log } = this.#o;
    const spender = await this.#spentElsewhere(row);
    if (spender === undefined) return false;
    const known = await this.#db.selectFrom('payout_mgr_psbts').select('id').where('txid', '=', spender).executeTakeFirst();
    if (known) return false;
    const payoutIds = JSON.parse(row.payout_ids) as string[];
    const tx = await adaptor.transaction(spender).catch(() => undefined);
    const payouts = await this.#db.selectFrom('payout_mgr_payouts').selectAll().where('id', 'in', payoutIds).execute();
    const rest = tx ? [...tx.outputs] : [];
    const paysAll = payouts.every((payout) => {
      const index = rest.findIndex(
        (output) => Buffer.from(output.script).toString('hex') === payout.script_hex && output.value === payout.sats,
      );
      if (index >= 0) rest.splice(index, 1);
      return index >= 0;
    });
    const now = clock.now();
    if (!tx || !paysAll) {
      const problem = {
        code: 'PAYOUT_TX_REPLACED',
        message: `transaction ${spender} spends this payout's coins and does not pay it as built: ask the co-signers; discard the PSBT to pay it again`,
      };
      await this.#db.transaction().execute(async (trx) => {
        await trx
          .updateTable('payout_mgr_psbts')
          .set({ last_error: JSON.stringify(problem), updated_at: now })
          .where('id', '=', row.id)
          .execute();
        await trx
          .updateTable('payout_mgr_payouts')
          .set({ last_error: JSON.stringify(problem) })
          .where('id', 'in', payoutIds)
          .execute();
      });
      log.error({ psbtId: row.id, txid: row.txid, spender }, 'a payout transaction was replaced by one that does not pay it');
      return false;
    }
    // It pays the payouts: they are paid by it, whatever else it does. What else it does is for the treasurer to see.
    const inputValues = await Promise.all(
      tx.inputs.map((input) => wallet.coinValue({ txid: input.prevTxid, vout: input.prevVout })),
    );
    const foreignInputs = inputValues.filter((value) => value === undefined).length;
    const elsewhereSats = rest
      .filter((output) => !wallet.ownsScript(Buffer.from(output.script).toString('hex')))
      .reduce((sum, output) => sum + output.value, 0);
    const feeSats =
      foreignInputs === 0
        ? inputValues.reduce<number>((sum, value) => sum + (value ?? 0), 0) -
          tx.outputs.reduce((sum, output) => sum + output.value, 0)
        : row.fee_sats;
    const extra = [
      elsewhereSats > 0 ? `it also sends ${elsewhereSats} sats outside the wallet, which is not booked` : '',
      foreignInputs > 0
        ? `it spends ${foreignInputs} coin(s) that are not the wallet's, so its fee is unknown (the built fee is booked)`
        : '',
    ].filter((part) => part !== '');
    const problem = {
      code: 'PAYOUT_TX_REPLACED',
      message: `replaced by ${spender} (fee bumped by a co-signer), which pays the same${extra.length > 0 ? `; ${extra.join('; ')}: check with the co-signers` : ''}`,
    };
    await this.#db
      .updateTable('payout_mgr_psbts')
      .set({
        txid: spender,
        raw_tx: tx.raw ? Buffer.from(tx.raw).toString('hex') : null,
        fee_sats: feeSats,
        last_error: JSON.stringify(problem),
        updated_at: now,
      })
      .where('id', '=', row.id)
      .execute();
    const fields = { psbtId: row.id, txid: row.txid, replacement: spender, feeSats, elsewhereSats };
    if (extra.length > 0) log.error(fields, 'payout transaction replaced by one that does more; following it');
    else log.warn(fields, 'payout transaction replaced; following the replacement');
    return true;
  }

  /** One ledger entry per payout and one for the fee, each by its own cause: asked again, the Reporter keeps one. */
  async #recordInLedger(row: PsbtRow, payoutIds: string[]): Promise<void> {
    const { upstream, settings, log } = this.#o;
    let fresh: Rate | undefined;
    const rateNow = async (): Promise<Rate> => (fresh ??= await upstream.quote(settings.rateMaxAgeMs));
    for (const id of payoutIds) {
      const payout = await this.#payout(id);
      if (payout.ledger_entry_id !== null) continue;
      try {
        let rate: Rate;
        if (payout.rate_cents_per_btc !== null) {
          rate = { centsPerBtc: payout.rate_cents_per_btc, source: payout.rate_source!, at: payout.rate_at! };
        } else {
          // Kept before it is booked: a retry books the same cents, which the Reporter then recognises.
          rate = await rateNow();
          await this.#db
            .updateTable('payout_mgr_payouts')
            .set({ rate_cents_per_btc: rate.centsPerBtc, rate_source: rate.source, rate_at: rate.at })
            .where('id', '=', payout.id)
            .execute();
        }
        const cents = payout.cents ?? centsFor(payout.sats, rate.centsPerBtc);
        if (!ledgerAcceptsBitcoin(cents, payout.sats, rate.centsPerBtc)) {
          throw new PayoutMgrError(
            'PAYOUT_AMOUNT_INVALID',
            `${payout.sats} sats is ${cents} cents at ${rate.centsPerBtc} cents per bitcoin: too small to book to the cent; record it by hand`,
          );
        }
        const entryId = await upstream.recordPayout({
          cents,
          sats: payout.sats,
          rate,
          causedBy: `payout:${payout.id}`,
          note: `${payout.reason} (to ${payout.requester}, tx ${row.txid})`.slice(0, 500),
        });
        await this.#db
          .updateTable('payout_mgr_payouts')
          .set({ ledger_entry_id: entryId, last_error: null })
          .where('id', '=', payout.id)
          .execute();
      } catch (error) {
        const problem = problemOf(error);
        await this.#db
          .updateTable('payout_mgr_payouts')
          .set({ last_error: JSON.stringify(problem) })
          .where('id', '=', payout.id)
          .execute();
        log.error({ payoutId: payout.id, ...problem }, 'the paid payout is not in the ledger yet; tried again at the next pass');
      }
    }
    if (row.fee_ledger_entry_id !== null || row.fee_sats === 0) return;
    try {
      // At the rate its first payout was booked at: the same on every retry.
      const first = await this.#payout(payoutIds[0]!);
      if (first.rate_cents_per_btc === null) return;
      const rate: Rate = { centsPerBtc: first.rate_cents_per_btc, source: first.rate_source!, at: first.rate_at! };
      const cents = centsFor(row.fee_sats, rate.centsPerBtc);
      let entryId = 'none';
      if (ledgerAcceptsBitcoin(cents, row.fee_sats, rate.centsPerBtc)) {
        entryId = await upstream.recordPayout({
          cents,
          sats: row.fee_sats,
          rate,
          causedBy: `payout-fee:${row.txid}`,
          note: `network fee of payout transaction ${row.txid}`,
        });
      } else {
        log.warn(
          { psbtId: row.id, feeSats: row.fee_sats },
          'the network fee is too small to book to the cent; not in the ledger',
        );
      }
      await this.#db.updateTable('payout_mgr_psbts').set({ fee_ledger_entry_id: entryId }).where('id', '=', row.id).execute();
    } catch (error) {
      log.error(
        { psbtId: row.id, ...problemOf(error) },
        'the network fee is not in the ledger yet; tried again at the next pass',
      );
    }
  }

  // ---- internals -----------------------------------------------------------------------------------------

  get #db(): Db {
    return this.#o.db;
  }

  async #expireDue(): Promise<void> {
    const now = this.#o.clock.now();
    const due = await this.#db
      .selectFrom('payout_mgr_payouts')
      .select('id')
      .where('state', 'in', [...OPEN_STATES])
      .where('expires_at', '<=', now)
      .execute();
    if (due.length === 0) return;
    await this.#db.transaction().execute((trx) =>
      this.#setState(
        trx,
        due.map((row) => row.id),
        'expired',
        now,
      ),
    );
    for (const { id } of due) await this.#announce(id);
  }

  async #setState(trx: Trx, ids: string[], state: PayoutState, now: number): Promise<void> {
    if (ids.length === 0) return;
    await trx.updateTable('payout_mgr_payouts').set({ state, updated_at: now }).where('id', 'in', ids).execute();
  }

  async #markBroadcast(row: PsbtRow, now: number): Promise<void> {
    const payoutIds = JSON.parse(row.payout_ids) as string[];
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .updateTable('payout_mgr_psbts')
        .set({ state: 'broadcast', broadcast_at: row.broadcast_at ?? now, last_error: null, updated_at: now })
        .where('id', '=', row.id)
        .execute();
      await trx.updateTable('payout_mgr_payouts').set({ last_error: null }).where('id', 'in', payoutIds).execute();
      await this.#setState(trx, payoutIds, 'broadcast', now);
    });
    for (const id of payoutIds) await this.#announce(id);
  }

  /**
   * Some nodes answer a broadcast before deciding on it (bcoin relays and judges later): the transaction counts as
   * sent only once the node shows it, in its mempool or a block.
   */
  async #takenByNode(txid: string): Promise<void> {
    const deadline = Date.now() + BROADCAST_CHECK_MS;
    for (;;) {
      if ((await this.#o.adaptor.transaction(txid)) !== undefined) return;
      if (Date.now() >= deadline) {
        throw new PayoutMgrError(
          'PAYOUT_BROADCAST_FAILED',
          `the node answered but did not take ${txid} into its mempool within ${BROADCAST_CHECK_MS / 1000} s (its inputs may be spent, or its fee too low)`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, BROADCAST_CHECK_POLL_MS));
    }
  }

  async #feeRate(asked: number | undefined): Promise<number> {
    const { fee } = this.#o.settings;
    if (asked !== undefined) {
      if (asked < fee.floorSatPerVb || asked > fee.ceilingSatPerVb) {
        fail(
          'PAYOUT_FEE_RATE_INVALID',
          `${asked} sat/vB is outside payoutMgr.fee's floor ${fee.floorSatPerVb} and ceiling ${fee.ceilingSatPerVb}`,
        );
      }
      return asked;
    }
    let estimate: number | undefined;
    try {
      estimate = await this.#o.adaptor.estimateFee(fee.targetBlocks);
    } catch (error) {
      this.#o.log.warn({ err: problemOf(error).message }, 'no fee estimate from the node');
    }
    const rate = estimate ?? fee.fallbackSatPerVb;
    if (rate === undefined) {
      fail(
        'PAYOUT_FEE_UNAVAILABLE',
        `the node has no fee estimate for ${fee.targetBlocks} blocks and payoutMgr.fee.fallbackSatPerVb is not set`,
      );
    }
    return Math.min(fee.ceilingSatPerVb, Math.max(fee.floorSatPerVb, rate));
  }

  /**
   * A PSBT once handed to the co-signers may still be signed and sent after it was discarded. A new one for any of
   * its payouts must spend one of its coins, so at most one of the two can ever confirm: the coins it must take. A
   * discarded PSBT needs none when one of its coins is spent by another transaction mined deeply enough.
   * @throws PayoutMgrError PAYOUT_STATE_CONFLICT when the discarded one is on the chain (it is followed as sent), or
   *   its coins are held by another unsent PSBT, or spent only by transactions not yet confirmed.
   */
  async #conflictWithDiscarded(payouts: PayoutRow[], available: SpendableCoin[]): Promise<SpendableCoin[]> {
    const { wallet, settings } = this.#o;
    const ids = new Set(payouts.map((payout) => payout.id));
    const discarded = await this.#db.selectFrom('payout_mgr_psbts').selectAll().where('state', '=', 'discarded').execute();
    const required: SpendableCoin[] = [];
    for (const old of discarded) {
      if (!(JSON.parse(old.payout_ids) as string[]).some((id) => ids.has(id))) continue;
      if ((await wallet.status(old.txid)).state !== 'unknown') {
        fail(
          'PAYOUT_STATE_CONFLICT',
          `discarded PSBT ${old.id} was sent by co-signers (tx ${old.txid}): it is followed as paying its payouts`,
        );
      }
      const inputs = JSON.parse(old.inputs) as Outpoint[];
      const keys = new Set(inputs.map(outpointKey));
      if (required.some((coin) => keys.has(outpointKey(coin)))) continue;
      const free = available.find((coin) => keys.has(outpointKey(coin)));
      if (free) {
        required.push(free);
        continue;
      }
      let dead = false;
      for (const input of inputs) {
        const spender = await wallet.spenderOf(input);
        if (spender === undefined || spender === old.txid) continue;
        const seen = await wallet.status(spender);
        if (seen.state === 'mined' && seen.confirmations >= settings.confirmations) dead = true;
      }
      if (dead) continue;
      fail(
        'PAYOUT_STATE_CONFLICT',
        `discarded PSBT ${old.id} could still be signed and sent, and none of its coins is free to conflict with it (held by another unsent PSBT, or spent by a transaction not yet confirmed): send or discard that one first, or wait for the confirmations`,
      );
    }
    return required;
  }

  /** Coins no new PSBT may take: those of unsent PSBTs, and of sent ones until they confirm (the chain may lose one). */
  async #reservedOutpoints(): Promise<Set<string>> {
    return new Set((await this.#heldInputs(['signing', 'signed', 'broadcast'])).map(outpointKey));
  }

  /** The coins the PSBTs in these states spend. */
  async #heldInputs(states: PsbtState[]): Promise<{ txid: string; vout: number; value: number }[]> {
    const rows = await this.#db.selectFrom('payout_mgr_psbts').select('inputs').where('state', 'in', states).execute();
    return rows.flatMap((row) => JSON.parse(row.inputs) as { txid: string; vout: number; value: number }[]);
  }

  #confirmations(height: number | null): number {
    const tip = this.#o.wallet.processedTip();
    return height === null || tip === undefined ? 0 : tip.height - height + 1;
  }

  /** The transaction's outputs for people: which payout each pays, and which is the change. */
  #describeOutputs(psbt: Uint8Array, payouts: PayoutRow[], changeScriptHex: string) {
    const unclaimed = [...payouts];
    return unsignedOutputs(psbt, this.#o.network).map((output) => {
      const index = unclaimed.findIndex((payout) => payout.script_hex === output.scriptHex && payout.sats === output.sats);
      const payout = index >= 0 ? unclaimed.splice(index, 1)[0]! : undefined;
      return {
        address: payout?.address ?? output.address,
        sats: output.sats,
        change: payout === undefined && output.scriptHex === changeScriptHex,
        payoutId: payout?.id ?? null,
      };
    });
  }

  async #payout(id: string): Promise<PayoutRow> {
    const row = await this.#db.selectFrom('payout_mgr_payouts').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) fail('PAYOUT_NOT_FOUND', `no payout ${id}`);
    return row;
  }

  async #psbt(id: string): Promise<PsbtRow> {
    const row = await this.#db.selectFrom('payout_mgr_psbts').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) fail('PAYOUT_NOT_FOUND', `no PSBT ${id}`);
    return row;
  }

  /** The PSBT that a co-signer's file signs, found by its unsigned transaction. */
  async #psbtFor(theirs: Uint8Array): Promise<PsbtRow> {
    const open = await this.#db
      .selectFrom('payout_mgr_psbts')
      .selectAll()
      .where('state', 'in', ['signing', 'signed'])
      .orderBy('id', 'desc')
      .execute();
    const theirTxid = unsignedTxid(theirs);
    const match = open.find((row) => row.txid === theirTxid);
    if (match) return match;
    if (open.length === 1) return open[0]!;
    fail(
      'PAYOUT_PSBT_DIFFERENT_TX',
      open.length === 0
        ? 'no PSBT is waiting for signatures'
        : `the PSBT signs transaction ${theirTxid}, which none of the ${open.length} PSBTs waiting for signatures is; name the PSBT to see what differs`,
    );
  }

  async #record(row: PayoutRow): Promise<PayoutRecord> {
    const decisions: DecisionRow[] = await this.#db
      .selectFrom('payout_mgr_decisions')
      .selectAll()
      .where('payout_id', '=', row.id)
      .orderBy('at')
      .execute();
    const psbt = row.psbt_id
      ? await this.#db.selectFrom('payout_mgr_psbts').selectAll().where('id', '=', row.psbt_id).executeTakeFirst()
      : undefined;
    const decisionOf = (decision: DecisionRow) => ({
      approver: decision.approver,
      at: decision.at,
      reason: decision.reason,
      keyId: decision.key_id,
    });
    const rejection = decisions.find((decision) => decision.decision === 'reject');
    return {
      id: row.id,
      state: row.state,
      address: row.address,
      sats: row.sats,
      cents: row.cents,
      currency: row.currency,
      rate:
        row.rate_cents_per_btc === null
          ? null
          : { centsPerBtc: row.rate_cents_per_btc, source: row.rate_source!, at: row.rate_at! },
      reason: row.reason,
      requester: row.requester,
      memberId: row.member_id,
      requestedBy: row.requested_by,
      requestedAt: row.requested_at,
      expiresAt: row.expires_at,
      requestDigest: requestDigest(termsOf(row)),
      approvals: decisions.filter((decision) => decision.decision === 'approve').map(decisionOf),
      approvalsRequired: this.#o.settings.approvalsRequired,
      rejection: rejection ? decisionOf(rejection) : null,
      psbtId: row.psbt_id,
      txid: psbt && psbt.state !== 'discarded' ? psbt.txid : null,
      confirmations: psbt && psbt.state !== 'discarded' ? psbt.confirmations : 0,
      paidAt: row.paid_at,
      ledgerEntryId: row.ledger_entry_id,
      lastError: row.last_error === null ? null : (JSON.parse(row.last_error) as { code: string; message: string }),
    };
  }

  #summary(row: PsbtRow): PsbtSummary {
    const bytes = Buffer.from(row.psbt, 'base64');
    const signers = psbtSigners(bytes);
    const fingerprints = signers.map((keys, index) => new Set(keys.map((key) => this.#fingerprintOf(index, key, row))));
    const signedBy = [...(fingerprints[0] ?? new Set<string>())].filter((fp) => fingerprints.every((set) => set.has(fp))).sort();
    return {
      id: row.id,
      state: row.state,
      txid: row.txid,
      payoutIds: JSON.parse(row.payout_ids) as string[],
      inputs: (JSON.parse(row.inputs) as { txid: string; vout: number; value: number }[]).map(({ txid, vout, value }) => ({
        txid,
        vout,
        sats: value,
      })),
      outputs: JSON.parse(row.outputs) as PsbtSummary['outputs'],
      feeSats: row.fee_sats,
      vsize: row.vsize,
      feeRateSatPerVb: row.fee_rate,
      signatures: signers.map((keys) => keys.length),
      threshold: row.threshold,
      signedBy,
      createdAt: row.created_at,
      createdBy: row.created_by,
      broadcastAt: row.broadcast_at,
      blockHeight: row.block_height,
      confirmations: row.confirmations,
      lastError: row.last_error === null ? null : (JSON.parse(row.last_error) as { code: string; message: string }),
      base64: row.psbt,
    };
  }

  /** A co-signer's fingerprint for a signing key of an input, from the wallet's derivation of that input. */
  #fingerprintOf(inputIndex: number, pubkeyHex: string, row: PsbtRow): string {
    const input = (JSON.parse(row.inputs) as { chain?: number; index?: number }[])[inputIndex];
    if (input?.chain !== undefined && input.index !== undefined) {
      const origin = this.#o.descriptor
        .derive(input.chain, input.index)
        .keyOrigins.find((key) => Buffer.from(key.pubkey).toString('hex') === pubkeyHex);
      if (origin) return origin.fingerprint.toString(16).padStart(8, '0');
    }
    return pubkeyHex.slice(0, 8);
  }

  async #announce(id: string): Promise<PayoutRecord> {
    const record = await this.#record(await this.#payout(id));
    this.#o.changed(record);
    return record;
  }
}
