// Invoices: an amount in the space currency at a rate locked when it is made, paid to an address of its own.
// Made, read and listed over the bus; on every chain pass each open invoice is assessed (invoice-rules.ts) and
// the ledger made to agree: the settling credit once, payments beyond it on their own, reversals when a payment
// the ledger holds leaves the chain.
import type { Kysely } from 'kysely';
import QRCode from 'qrcode';
import type { BusClient } from '../auth-proxy/index.js';
import type { Clock } from '../core/clock.js';
import type { Config } from '../core/config.js';
import type { PayloadOf } from '../core/contract.js';
import { DctrlError } from '../core/errors.js';
import { createIdFactory, type IdFactory } from '../core/ids.js';
import type { Logger } from '../core/logger.js';
import { ChainInvoice, type InvoiceCreate, type InvoiceList } from '../core/messages-chain.js';
import { PriceQuote } from '../core/messages-price.js';
import { LedgerRecord, MemberQuery, SettingsGet } from '../core/messages.js';
import { centsFor, ledgerAcceptsBitcoin, requiredConfirmations, satsFor, type ConfirmationRule } from './amounts.js';
import { unitsPaid } from '../core/invoice-units.js';
import { ChainNotifierError } from './errors.js';
import { assessInvoice, bip21Uri, paidThreshold, type InvoiceAssessment, type InvoiceOutput } from './invoice-rules.js';
import type { ChainNotifierTables, InvoiceRow, InvoiceState, OutputRow } from './store.js';
import type { ChainWatcher, PaymentEvent } from './watcher.js';

type CreateRequest = PayloadOf<typeof InvoiceCreate>;
type ListRequest = PayloadOf<typeof InvoiceList>;
type LedgerInput = PayloadOf<typeof LedgerRecord>;
type InvoiceEvent = PayloadOf<typeof ChainInvoice>;
/** An invoice-level ledger write stored before the Reporter is asked: the exact entries, and the outputs that are
 * no longer credited once they land (already marked when it is stored; marked again, harmlessly, on a replay). */
interface PendingInvoiceEntry {
  entries: LedgerInput[];
  uncredit: string[];
}
export type InvoiceSummary = Omit<InvoiceEvent, 'previousState'>;
export type InvoiceWithQr = InvoiceSummary & { qrSvg: string; qrPng: string };

interface Rate {
  centsPerBtc: number;
  source: string;
  at: number;
}

/** What the desk needs of the service around it. */
export interface InvoiceDeskOptions {
  watcher: ChainWatcher;
  bus: () => BusClient;
  clock: Clock;
  config: Config['chainNotifier'];
  log: Logger;
  /** Raises (message) or clears (undefined) an operator alarm under a code; `key` tells one invoice's apart. */
  alarm: (code: string, message: string | undefined, key: string) => Promise<void>;
}

/** What the desk reads of BusinessData's answer. */
interface SpaceSettings {
  currency: string;
  spaceName: string;
  priceMaxAgeSeconds: number;
  products: Record<string, { active?: boolean }>;
}

/** The QR code's size: 4 pixels a module keeps the PNG of a typical BIP21 URI near 4 KB. */
const QR_OPTIONS = { errorCorrectionLevel: 'M', margin: 4 } as const;
const QR_PNG_SCALE = 4;
const LIST_DEFAULT = 20;
/** How many of the newest invoices a list by state looks through. */
const LIST_SCANNED = 1_000;

const upstreamReason = (error: unknown) => (error instanceof DctrlError ? `${error.code}: ${error.message}` : String(error));

export class InvoiceDesk {
  readonly #options: InvoiceDeskOptions;
  readonly #nextId: IdFactory;
  /** Invoices are made one at a time, so a retry with the same key cannot race the first request. */
  #making: Promise<unknown> = Promise.resolve();

  constructor(options: InvoiceDeskOptions) {
    this.#options = options;
    this.#nextId = createIdFactory(options.clock);
  }

  get #db(): Kysely<ChainNotifierTables> {
    return this.#options.watcher.db;
  }

  /**
   * Makes an invoice, or returns the one this creator made with the same idempotency key.
   * @throws ChainNotifierError NOT_ALLOWED, INVOICE_INVALID, INVOICE_CONFLICT, NO_RATE, UPSTREAM_UNAVAILABLE.
   */
  create(request: CreateRequest, issuer: string): Promise<InvoiceWithQr> {
    if (!this.#options.config.invoices.creators.includes(issuer)) {
      throw new ChainNotifierError('CHAIN_NOTIFIER_NOT_ALLOWED', `"${issuer}" is not in chainNotifier.invoices.creators`);
    }
    const made = this.#making.then(() => this.#make(request, issuer));
    this.#making = made.catch(() => undefined);
    return made;
  }

  /** @throws ChainNotifierError NOT_ALLOWED, INVOICE_NOT_FOUND. */
  async get(id: string, issuer: string): Promise<InvoiceWithQr> {
    this.#mayRead(issuer);
    const row = await this.#db.selectFrom('chain_notifier_invoices').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new ChainNotifierError('CHAIN_NOTIFIER_INVOICE_NOT_FOUND', `no invoice ${id}`);
    return withQr(this.#summary(row));
  }

  /** @throws ChainNotifierError NOT_ALLOWED. */
  async list(request: ListRequest, issuer: string): Promise<InvoiceSummary[]> {
    this.#mayRead(issuer);
    const limit = request.limit ?? LIST_DEFAULT;
    // The state shown can be later than the stored one (expired between passes), so it is filtered after reading.
    let query = this.#db
      .selectFrom('chain_notifier_invoices')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(request.state === undefined ? limit : LIST_SCANNED);
    if (request.memberId !== undefined) query = query.where('member_id', '=', request.memberId);
    const invoices = (await query.execute()).map((row) => this.#summary(row));
    return invoices.filter((invoice) => request.state === undefined || invoice.state === request.state).slice(0, limit);
  }

  /**
   * After each chain pass: assesses every open invoice and those whose payments moved, and carries out what the
   * ledger must do. One invoice that cannot be credited yet raises its alarm without holding up the others.
   */
  async review(events: readonly PaymentEvent[], rules: readonly ConfirmationRule[]): Promise<void> {
    const moved = [
      ...new Set(
        events
          .filter((event) => event.output.owner_kind === 'invoice' && event.output.owner_id !== null)
          .map((event) => event.output.owner_id!),
      ),
    ];
    // Invoices with a ledger write still waiting for the Reporter's answer are looked at even when closed.
    const waiting = await this.#db
      .selectFrom('chain_notifier_outputs')
      .select('owner_id')
      .where('owner_kind', '=', 'invoice')
      .where('pending_entry', 'is not', null)
      .execute();
    const looked = [...new Set([...moved, ...waiting.flatMap((output) => (output.owner_id === null ? [] : [output.owner_id]))])];
    let query = this.#db.selectFrom('chain_notifier_invoices').selectAll().orderBy('created_at');
    query = query.where((eb) =>
      eb.or([eb('closed', '=', 0), eb('pending_entry', 'is not', null), ...(looked.length > 0 ? [eb('id', 'in', looked)] : [])]),
    );
    for (const row of await query.execute()) {
      try {
        await this.#reviewOne(row, rules);
      } catch (error) {
        await this.#options.alarm(
          'CHAIN_NOTIFIER_INVOICE',
          `invoice ${row.id} cannot be brought up to date with the ledger yet: ${upstreamReason(error)}`,
          `invoice:${row.id}`,
        );
      }
    }
  }

  // --- making an invoice: authorize, repeat a retry, check, lock the rate, take an address, store, announce ---

  async #make(request: CreateRequest, issuer: string): Promise<InvoiceWithQr> {
    const retried = await this.#retried(request, issuer);
    if (retried) return withQr(this.#summary(retried));
    if (request.memberId !== undefined && request.product !== undefined) {
      throw new ChainNotifierError(
        'CHAIN_NOTIFIER_INVOICE_INVALID',
        'an invoice is for a member (memberId) or for a product (product), not both',
      );
    }
    const settings = await this.#spaceSettings();
    if (request.product !== undefined) checkProduct(request.product, settings);
    if (request.memberId !== undefined) await this.#checkMember(request.memberId);
    const rate = await this.#lockRate(settings);
    const id = this.#nextId();
    const { address, scriptHex } = await this.#options.watcher.invoiceAddress(id);
    const now = this.#options.clock.now();
    const { expiryMinutes, lateWatchHours } = this.#options.config.invoices;
    const expiresAt = now + expiryMinutes * 60_000;
    const row: InvoiceRow = {
      id,
      created_by: issuer,
      idempotency_key: request.idempotencyKey ?? null,
      state: 'new',
      cents: request.cents,
      currency: settings.currency,
      sats: satsFor(request.cents, rate.centsPerBtc),
      rate_cents_per_btc: rate.centsPerBtc,
      rate_source: rate.source,
      rate_at: rate.at,
      address,
      script_hex: scriptHex,
      member_id: request.memberId ?? null,
      product: request.product ?? null,
      memo: request.memo ?? null,
      label: settings.spaceName,
      created_at: now,
      expires_at: expiresAt,
      watch_until: expiresAt + lateWatchHours * 3_600_000,
      settled_at: null,
      paid_sats: 0,
      flag_partial: 0,
      flag_over: 0,
      flag_late: 0,
      credit_cover: null,
      credited: 0,
      credits: 0,
      pending_entry: null,
      settled_sats: null,
      closed: 0,
    };
    await this.#db.insertInto('chain_notifier_invoices').values(row).execute();
    this.#options.log.info({ invoice: id, cents: row.cents, sats: row.sats, by: issuer }, 'invoice made');
    const summary = this.#summary(row);
    await this.#announce(summary, null);
    return withQr(summary);
  }

  async #retried(request: CreateRequest, issuer: string): Promise<InvoiceRow | undefined> {
    if (request.idempotencyKey === undefined) return undefined;
    const first = await this.#db
      .selectFrom('chain_notifier_invoices')
      .selectAll()
      .where('created_by', '=', issuer)
      .where('idempotency_key', '=', request.idempotencyKey)
      .executeTakeFirst();
    if (!first) return undefined;
    const same =
      first.cents === request.cents &&
      first.member_id === (request.memberId ?? null) &&
      first.product === (request.product ?? null) &&
      first.memo === (request.memo ?? null);
    if (!same) {
      throw new ChainNotifierError(
        'CHAIN_NOTIFIER_INVOICE_CONFLICT',
        `idempotency key "${request.idempotencyKey.slice(0, 64)}" already made invoice ${first.id} for ${first.cents} cents; this request differs: repeat it exactly or use a new key`,
      );
    }
    return first;
  }

  async #spaceSettings(): Promise<SpaceSettings> {
    try {
      const { policies, products } = (await this.#options.bus().request(SettingsGet, {})) as {
        policies: Omit<SpaceSettings, 'products'>;
        products: SpaceSettings['products'];
      };
      return { ...policies, products };
    } catch (error) {
      throw new ChainNotifierError(
        'CHAIN_NOTIFIER_UPSTREAM_UNAVAILABLE',
        `BusinessData did not give the currency and products: ${upstreamReason(error)}`,
        { cause: error },
      );
    }
  }

  async #checkMember(memberId: string): Promise<void> {
    try {
      await this.#options.bus().request(MemberQuery, { memberId, includeLeft: true });
    } catch (error) {
      if (error instanceof DctrlError && error.code === 'MEMBER_DATA_NOT_FOUND') {
        throw new ChainNotifierError(
          'CHAIN_NOTIFIER_INVOICE_INVALID',
          `no member ${memberId}: an invoice for dues names a member MemberData knows`,
        );
      }
      throw new ChainNotifierError(
        'CHAIN_NOTIFIER_UPSTREAM_UNAVAILABLE',
        `MemberData could not say whether member ${memberId} exists: ${upstreamReason(error)}`,
        { cause: error },
      );
    }
  }

  /** The PriceNotifier's rate now, no older than the space's priceMaxAgeSeconds policy; never a made-up one. */
  async #lockRate(settings: SpaceSettings): Promise<Rate> {
    const maxAgeMs = settings.priceMaxAgeSeconds * 1000;
    let quote: Rate;
    try {
      quote = (await this.#options.bus().request(PriceQuote, { currency: settings.currency, maxAgeMs })) as Rate;
    } catch (error) {
      throw new ChainNotifierError(
        'CHAIN_NOTIFIER_NO_RATE',
        `no rate to lock for ${settings.currency}: ${upstreamReason(error)}`,
        {
          cause: error,
        },
      );
    }
    const ageMs = this.#options.clock.now() - quote.at;
    if (ageMs > maxAgeMs) {
      throw new ChainNotifierError(
        'CHAIN_NOTIFIER_NO_RATE',
        `the PriceNotifier's rate is ${Math.round(ageMs / 1000)} s old, more than the priceMaxAgeSeconds policy (${settings.priceMaxAgeSeconds} s)`,
      );
    }
    return { centsPerBtc: quote.centsPerBtc, source: quote.source, at: quote.at };
  }

  #mayRead(issuer: string): void {
    const { invoices, addressReaders } = this.#options.config;
    if (!invoices.creators.includes(issuer) && !addressReaders.includes(issuer)) {
      throw new ChainNotifierError(
        'CHAIN_NOTIFIER_NOT_ALLOWED',
        `"${issuer}" is in neither chainNotifier.invoices.creators nor chainNotifier.addressReaders`,
      );
    }
  }

  // --- after each pass: assess, carry out, store, announce ---

  async #reviewOne(stored: InvoiceRow, rules: readonly ConfirmationRule[]): Promise<void> {
    let row = stored;
    // Ledger writes decided before a crash or a failed request are completed first, exactly as decided: the
    // invoice's own (a reversal), a settling credit for the cover chosen, then those of single payments.
    if (row.pending_entry !== null) row = await this.#replayPending(row);
    if (row.credit_cover !== null && row.credited === 0) row = await this.#recordSettlement(row);
    for (const output of await this.#options.watcher.outputs({ ownerKind: 'invoice', ownerId: row.id })) {
      if (output.pending_entry === null) continue;
      await this.#options.bus().request(LedgerRecord, JSON.parse(output.pending_entry) as LedgerInput);
      await this.#options.watcher.entryRecorded(output.outpoint);
    }
    const outputs = await this.#options.watcher.outputs({ ownerKind: 'invoice', ownerId: row.id });
    const byOutpoint = new Map(outputs.map((output) => [output.outpoint, output]));
    const assessed = assessInvoice(
      {
        sats: row.sats,
        expiresAt: row.expires_at,
        watchUntil: row.watch_until,
        paidTolerancePerMille: this.#options.config.invoices.paidTolerancePerMille,
        credited: row.credited === 1,
        cover: coverOf(row),
        reversible: row.member_id !== null,
        keepsLeftovers: row.product === null,
      },
      await Promise.all(outputs.map((output) => this.#asInvoiceOutput(output))),
      this.#options.clock.now(),
      (sats) => requiredConfirmations(sats, rules),
    );
    for (const output of outputs)
      if (output.rate_cents_per_btc === null) await this.#options.watcher.setRate(output.outpoint, rateOf(row));
    try {
      if (assessed.reverse) row = await this.#reverseSettlement(row, byOutpoint);
      if (assessed.settleWith) {
        row = { ...row, credit_cover: JSON.stringify(assessed.settleWith) };
        await this.#db
          .updateTable('chain_notifier_invoices')
          .set({ credit_cover: row.credit_cover })
          .where('id', '=', row.id)
          .execute();
        row = await this.#recordSettlement(row);
      }
      for (const outpoint of assessed.creditAlone) await this.#creditAlone(row, byOutpoint.get(outpoint)!);
      for (const outpoint of assessed.reverseAlone) await this.#reverseAlone(row, byOutpoint.get(outpoint)!);
    } catch (error) {
      // Paid but not yet in the ledger is processing, whatever the assessment would make of it once recorded.
      const unrecorded = assessed.settleWith !== null && row.credited === 0;
      await this.#store(stored, row, { ...assessed, state: unrecorded ? 'processing' : assessed.state, closed: false });
      throw error;
    }
    await this.#store(stored, row, assessed);
    await this.#options.alarm(
      'CHAIN_NOTIFIER_INVOICE',
      assessed.problems.length === 0 ? undefined : `invoice ${row.id}: ${assessed.problems.join('; ')}`,
      `invoice:${row.id}`,
    );
  }

  async #asInvoiceOutput(output: OutputRow): Promise<InvoiceOutput> {
    return {
      outpoint: output.outpoint,
      sats: output.sats,
      state: output.state,
      firstSeenAt: output.first_seen_at,
      confirmations: await this.#options.watcher.confirmations(output),
      credited: output.credited === 1,
    };
  }

  /** Records the settling credit for the chosen cover (the Reporter answers a repeat with the first entry). */
  async #recordSettlement(row: InvoiceRow): Promise<InvoiceRow> {
    const cover = coverOf(row);
    const coverSats = await this.#satsOf(cover);
    for (const entry of settlementEntries(row, coverSats)) await this.#options.bus().request(LedgerRecord, entry);
    for (const outpoint of cover) await this.#options.watcher.setCredited(outpoint, true);
    const settled = { ...row, credited: 1, credits: row.credits + 1, settled_sats: coverSats };
    await this.#db
      .updateTable('chain_notifier_invoices')
      .set({ credited: 1, credits: settled.credits, settled_sats: coverSats })
      .where('id', '=', row.id)
      .execute();
    this.#options.log.info({ invoice: row.id, sats: coverSats, cover }, 'invoice credited');
    return settled;
  }

  /**
   * Takes a member invoice's settling credit back: a payment it covered was reorged out or double spent. The
   * reversal and the state after it are stored first, so a lost reply is asked again whatever the chain does next.
   */
  async #reverseSettlement(row: InvoiceRow, outputs: ReadonlyMap<string, OutputRow>): Promise<InvoiceRow> {
    const cover = coverOf(row);
    const coverSats = cover.reduce((total, outpoint) => total + (outputs.get(outpoint)?.sats ?? 0), 0);
    const [credit] = settlementEntries(row, coverSats);
    const pending: PendingInvoiceEntry = {
      entries: [
        {
          kind: 'adjustment',
          memberId: row.member_id!,
          cents: -credit!.cents,
          note: `invoice ${row.id}: a payment it was settled by (${cover.join(', ')}) left the chain`,
          causedBy: `invoice:${row.id}/reversal/${row.credits - 1}`,
        },
      ],
      uncredit: cover,
    };
    const intended = { ...row, credited: 0, credit_cover: null, pending_entry: JSON.stringify(pending) };
    await this.#db
      .updateTable('chain_notifier_invoices')
      .set({ credited: 0, credit_cover: null, pending_entry: intended.pending_entry })
      .where('id', '=', row.id)
      .execute();
    const reversed = await this.#replayPending(intended);
    this.#options.log.warn({ invoice: row.id, cover }, 'invoice credit taken back');
    return reversed;
  }

  /** Sends the invoice's stored ledger write (the same causes each time) and forgets it once the Reporter has it. */
  async #replayPending(row: InvoiceRow): Promise<InvoiceRow> {
    const pending = JSON.parse(row.pending_entry!) as PendingInvoiceEntry;
    for (const outpoint of pending.uncredit) await this.#options.watcher.setCredited(outpoint, false);
    for (const entry of pending.entries) await this.#options.bus().request(LedgerRecord, entry);
    await this.#db.updateTable('chain_notifier_invoices').set({ pending_entry: null }).where('id', '=', row.id).execute();
    return { ...row, pending_entry: null };
  }

  /** A payment beyond the settling credit (or left when the watch ended): a member's payment or a donation. */
  async #creditAlone(row: InvoiceRow, output: OutputRow): Promise<void> {
    const rate = rateOf(row);
    const cents = centsFor(output.sats, rate.centsPerBtc);
    if (ledgerAcceptsBitcoin(cents, output.sats, rate.centsPerBtc)) {
      const causedBy = `invoice:${row.id}/${output.outpoint}${output.credits === 0 ? '' : `/${output.credits}`}`;
      const note = `invoice ${row.id}: paid beyond it`;
      const entry: LedgerInput =
        row.member_id !== null
          ? { kind: 'payment', memberId: row.member_id, cents, method: 'bitcoin', sats: output.sats, rate, causedBy, note }
          : { kind: 'donation', cents, method: 'bitcoin', sats: output.sats, rate, causedBy, note };
      await this.#recordForOutput(output.outpoint, true, entry);
    } else {
      this.#options.log.warn(
        { invoice: row.id, outpoint: output.outpoint, sats: output.sats },
        'worth less than the ledger records; not recorded',
      );
      await this.#options.watcher.setCredited(output.outpoint, true);
    }
  }

  async #reverseAlone(row: InvoiceRow, output: OutputRow): Promise<void> {
    const cents = centsFor(output.sats, row.rate_cents_per_btc);
    if (ledgerAcceptsBitcoin(cents, output.sats, row.rate_cents_per_btc)) {
      await this.#recordForOutput(output.outpoint, false, {
        kind: 'adjustment',
        memberId: row.member_id!,
        cents: -cents,
        note: `invoice ${row.id}: payment ${output.outpoint} left the chain`,
        causedBy: `invoice:${row.id}/${output.outpoint}/reversal/${output.credits - 1}`,
      });
    } else {
      await this.#options.watcher.setCredited(output.outpoint, false);
    }
  }

  /** A single payment's ledger write, stored on the output with its credited state before the Reporter is asked. */
  async #recordForOutput(outpoint: string, credited: boolean, entry: LedgerInput): Promise<void> {
    await this.#options.watcher.intendEntry(outpoint, credited, entry);
    await this.#options.bus().request(LedgerRecord, entry);
    await this.#options.watcher.entryRecorded(outpoint);
  }

  async #satsOf(outpoints: readonly string[]): Promise<number> {
    if (outpoints.length === 0) return 0;
    const rows = await this.#db.selectFrom('chain_notifier_outputs').select('sats').where('outpoint', 'in', outpoints).execute();
    return rows.reduce((total, output) => total + output.sats, 0);
  }

  async #store(before: InvoiceRow, row: InvoiceRow, assessed: InvoiceAssessment): Promise<void> {
    const changes = {
      state: assessed.state,
      paid_sats: assessed.paidSats,
      flag_partial: assessed.flags.partial ? 1 : 0,
      flag_over: assessed.flags.over ? 1 : 0,
      flag_late: assessed.flags.late ? 1 : 0,
      settled_at:
        assessed.state === 'settled' ? (before.state === 'settled' ? before.settled_at : this.#options.clock.now()) : null,
      closed: assessed.closed ? 1 : 0,
    };
    await this.#db.updateTable('chain_notifier_invoices').set(changes).where('id', '=', row.id).execute();
    const visible = (value: InvoiceRow) =>
      [value.state, value.paid_sats, value.flag_partial, value.flag_over, value.flag_late].join();
    const after = { ...row, ...changes };
    if (visible(after) !== visible(before)) {
      this.#options.log.info(
        { invoice: row.id, from: before.state, to: after.state, paidSats: after.paid_sats },
        'invoice changed',
      );
      await this.#announce(this.#summary(after), before.state);
    }
  }

  async #announce(summary: InvoiceSummary, previousState: InvoiceState | null): Promise<void> {
    await this.#options.bus().publish(ChainInvoice, { ...summary, previousState });
  }

  /** The invoice as it stands; between passes, one whose time ran out shows as expired already. */
  #summary(row: InvoiceRow): InvoiceSummary {
    const now = this.#options.clock.now();
    const unpaidAtExpiry =
      row.state === 'new' ||
      (row.state === 'processing' &&
        row.paid_sats < paidThreshold(row.sats, this.#options.config.invoices.paidTolerancePerMille));
    return {
      id: row.id,
      state: unpaidAtExpiry && now >= row.expires_at ? 'expired' : row.state,
      cents: row.cents,
      currency: row.currency,
      sats: row.sats,
      rate: rateOf(row),
      address: row.address,
      uri: bip21Uri(row.address, row.sats, row.label, row.memo ?? `Invoice ${row.id}`),
      memberId: row.member_id,
      product: row.product,
      memo: row.memo,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      watchUntil: row.watch_until,
      settledAt: row.settled_at,
      paidSats: row.paid_sats,
      settledSats: row.credited === 1 ? row.settled_sats : null,
      flags: { partial: row.flag_partial === 1, over: row.flag_over === 1, late: row.flag_late === 1 },
    };
  }
}

function coverOf(row: InvoiceRow): string[] {
  return row.credit_cover === null ? [] : (JSON.parse(row.credit_cover) as string[]);
}

function rateOf(row: InvoiceRow): Rate {
  return { centsPerBtc: row.rate_cents_per_btc, source: row.rate_source, at: row.rate_at };
}

function checkProduct(product: string, settings: SpaceSettings): void {
  const found = settings.products[product];
  if (found === undefined || found.active === false) {
    const known = Object.keys(settings.products).slice(0, 20).join(', ') || 'none';
    throw new ChainNotifierError(
      'CHAIN_NOTIFIER_INVOICE_INVALID',
      `no product "${product}" is sold today (known: ${known}); name a product key from BusinessData`,
    );
  }
}

/**
 * The settling credit at the locked rate. A member is credited the invoice's cents, or what was paid when that is
 * more (an overpayment stays theirs); a sale is recorded at its price, and sats paid beyond it as a donation; an
 * invoice for neither is a donation of what was paid.
 */
function settlementEntries(row: InvoiceRow, coverSats: number): LedgerInput[] {
  const rate = rateOf(row);
  const causedBy = row.credits === 0 ? `invoice:${row.id}` : `invoice:${row.id}/${row.credits}`;
  const note = `invoice ${row.id}`;
  const paidCents = Math.max(row.cents, centsFor(coverSats, rate.centsPerBtc));
  if (row.member_id !== null) {
    return [
      { kind: 'payment', memberId: row.member_id, cents: paidCents, method: 'bitcoin', sats: coverSats, rate, causedBy, note },
    ];
  }
  if (row.product === null)
    return [{ kind: 'donation', cents: paidCents, method: 'bitcoin', sats: coverSats, rate, causedBy, note }];
  // Paid for several: several are vended (BusinessMgr counts the same way), so several are sold.
  const units = unitsPaid(coverSats, rate.centsPerBtc, row.cents);
  const soldSats = units === 1 ? row.sats : satsFor(units * row.cents, rate.centsPerBtc);
  const entries: LedgerInput[] = [
    {
      kind: 'purchase',
      cents: units * row.cents,
      method: 'bitcoin',
      product: row.product,
      sats: Math.min(coverSats, soldSats),
      rate,
      causedBy,
    },
  ];
  const overSats = coverSats - soldSats;
  const overCents = centsFor(Math.max(overSats, 0), rate.centsPerBtc);
  if (overSats > 0 && ledgerAcceptsBitcoin(overCents, overSats, rate.centsPerBtc)) {
    entries.push({
      kind: 'donation',
      cents: overCents,
      method: 'bitcoin',
      sats: overSats,
      rate,
      causedBy: `${causedBy}/over`,
      note: `invoice ${row.id}: paid beyond the price of ${units === 1 ? row.product : `${units} × ${row.product}`}`,
    });
  }
  return entries;
}

async function withQr(summary: InvoiceSummary): Promise<InvoiceWithQr> {
  const [qrSvg, png] = await Promise.all([
    QRCode.toString(summary.uri, { ...QR_OPTIONS, type: 'svg' }),
    QRCode.toBuffer(summary.uri, { ...QR_OPTIONS, type: 'png', scale: QR_PNG_SCALE }),
  ]);
  return { ...summary, qrSvg, qrPng: png.toString('base64') };
}
