// BusinessMgr: the rules of the doors and vending machines. Decides each tap from an in-memory cache of members,
// fobs, balances and policies, commands the device, charges fob purchases (refunding a vend that failed), vends
// paid invoices exactly once, keeps each door's offline allow-list current and stores every decision.
import { createBusClient, type BusClient } from '../auth-proxy/index.js';
import type { PayloadOf } from '../core/contract.js';
import { DctrlError } from '../core/errors.js';
import { encodeEnvelope, type Envelope } from '../core/envelope.js';
import { createIdFactory } from '../core/ids.js';
import { ChainInvoice, InvoiceList } from '../core/messages-chain.js';
import {
  AllowList,
  BusinessDecision,
  DecisionsQuery,
  MachineActuation,
  MachineCommand,
  MachineInput,
  MachineRefused,
  MachineTap,
  MachineTopics,
  OfflineLog,
  type Decision,
} from '../core/messages-machine.js';
import {
  BalanceChanged,
  KeyDirectory,
  LedgerRecord,
  MemberChanged,
  MemberQuery,
  MemberStatusChanged,
  ReportRequest,
  SettingChanged,
  SettingsGet,
} from '../core/messages.js';
import type { Service, ServiceContext } from '../core/service.js';
import type { DatabaseHandle } from '../core/storage/index.js';
import { MemberCache, readPolicies, readProducts, type MemberFacts, type MemberLine, type Product } from './cache.js';
import { BusinessMgrError } from './errors.js';
import { allowListContent, decideDoor, productForTap, type Verdict } from './rules.js';
import { centsWorth, unitsPaid } from '../core/invoice-units.js';
import { BusinessMgrStore, SERVICE_NAME } from './store.js';

export { SERVICE_NAME };

/** A device's refusals of a command that mean it moved nothing for it (src/machine-mgr/errors.ts). */
const NOTHING_MOVED = new Set([
  'MACHINE_MGR_COMMAND_EXPIRED',
  'MACHINE_MGR_UNKNOWN_OUTPUT',
  'MACHINE_MGR_WRONG_DEVICE',
  'MACHINE_MGR_SIGNER_NOT_PINNED',
  'MACHINE_MGR_TAP_DECIDED_OFFLINE',
  'CORE_ENVELOPE_STALE',
]);

/** How long a sent vend command is remembered, to refund it if its device refuses it. */
const REFUSAL_MEMORY_MS = 5 * 60_000;
export { BusinessMgrError, BusinessMgrErrorCodes } from './errors.js';

export interface BusinessMgr extends Service {
  /** Whether the cache has been read from MemberData, the Reporter and BusinessData at least once. */
  readonly ready: boolean;
  /** Rebuilds the cache now. @throws BusinessMgrError BUSINESS_MGR_UPSTREAM_UNAVAILABLE when a source does not answer. */
  refresh(): Promise<void>;
  /** Signs and pushes every door's allow-list now; with `force`, also the ones that did not change. */
  pushAllowLists(force?: boolean): Promise<void>;
  /** Vends the settled product invoices the ChainNotifier lists that were not vended yet. */
  catchUpInvoices(): Promise<void>;
}

type Tap = PayloadOf<typeof MachineTap>;
type Invoice = Omit<PayloadOf<typeof ChainInvoice>, 'previousState'> & { previousState?: string | null };

const MEMBERS_PAGE = 100;
const REPORT_PAGE = 200;
const ALLOW_LIST_DEBOUNCE_MS = 1_000;
const WARM_UP_RETRY_MS = 2_000;
const CONNECTION_CHECK_MS = 1_000;
const DEFAULT_DECISIONS_PAGE = 50;

export function createBusinessMgr(context: ServiceContext, database: DatabaseHandle): BusinessMgr {
  const { config, clock } = context;
  const settings = config.businessMgr;
  const devices = config.machines.devices;
  const log = context.logger.child({ service: SERVICE_NAME });
  const nextId = createIdFactory(clock);
  const cache = new MemberCache();
  const lastButtons = new Map<string, { input: string; at: number }>();
  const memberQueues = new Map<string, Promise<unknown>>();
  const pendingWrites = new Map<string, Promise<void>>();
  const pushedDigests = new Map<string, string>();
  let store: BusinessMgrStore | undefined;
  let bus: BusClient | undefined;
  let stopped = true;
  let timers: NodeJS.Timeout[] = [];
  let allowListTimer: NodeJS.Timeout | undefined;
  let warmUpTimer: NodeJS.Timeout | undefined;
  let invoiceChain: Promise<unknown> = Promise.resolve();
  let allowListChain: Promise<unknown> = Promise.resolve();
  let refreshing: Promise<void> | undefined;
  /** Cache changes heard while a rebuild reads its snapshot: replayed on top of it, so none is lost. */
  let heardDuringRebuild: (() => void)[] | undefined;

  const client = (): BusClient => {
    if (!bus || stopped) throw new BusinessMgrError('BUSINESS_MGR_NOT_READY', 'BusinessMgr is not running');
    return bus;
  };
  const open = (): BusinessMgrStore => {
    if (!store) throw new BusinessMgrError('BUSINESS_MGR_NOT_READY', 'BusinessMgr is not running');
    return store;
  };
  const why = (error: unknown): string => (error instanceof DctrlError ? `${error.code}: ${error.message}` : String(error));

  /** Runs `work` after every earlier piece of work for the same member: two fast taps cannot both spend one balance. */
  const serially = <T>(memberId: string, work: () => Promise<T>): Promise<T> => {
    const previous = memberQueues.get(memberId) ?? Promise.resolve();
    const next = previous.then(work, work);
    const tail = next.catch(() => undefined);
    memberQueues.set(memberId, tail);
    void tail.then(() => {
      if (memberQueues.get(memberId) === tail) memberQueues.delete(memberId);
    });
    return next;
  };

  // ---- the cache --------------------------------------------------------------------------------------------

  /** Applies a live change now, and again after a rebuild that is reading an older snapshot. */
  const change = (apply: () => void): void => {
    apply();
    heardDuringRebuild?.push(apply);
    scheduleAllowLists();
  };

  const loadSettings = async (): Promise<void> => {
    const reply = (await client().request(SettingsGet, {})) as {
      products: Record<string, unknown>;
      policies: Record<string, unknown>;
    };
    cache.policies = readPolicies(reply.policies);
    cache.products = readProducts(reply.products);
  };

  const readMembers = async (): Promise<MemberFacts[]> => {
    const facts: MemberFacts[] = [];
    let after: string | undefined;
    for (;;) {
      const reply = (await client().request(MemberQuery, {
        includeLeft: true,
        limit: MEMBERS_PAGE,
        ...(after !== undefined ? { after } : {}),
      })) as { members: MemberFacts[]; next: string | null };
      facts.push(...reply.members);
      if (reply.next === null || reply.members.length === 0) return facts;
      after = reply.next;
    }
  };

  const readLines = async (): Promise<MemberLine[]> => {
    const lines: MemberLine[] = [];
    let after: string | undefined;
    for (;;) {
      const reply = (await client().request(ReportRequest, {
        report: 'members',
        format: 'json',
        includeLeft: true,
        limit: REPORT_PAGE,
        ...(after !== undefined ? { after } : {}),
      })) as { json: { members: MemberLine[] }; next: string | null };
      lines.push(...reply.json.members);
      if (reply.next === null || reply.json.members.length === 0) return lines;
      after = reply.next;
    }
  };

  const rebuild = async (): Promise<void> => {
    heardDuringRebuild = [];
    try {
      await loadSettings();
      const facts = await readMembers();
      const lines = await readLines();
      cache.load(facts, lines);
      for (const apply of heardDuringRebuild) apply();
      log.info({ members: facts.length }, 'cache rebuilt');
    } catch (error) {
      throw new BusinessMgrError('BUSINESS_MGR_UPSTREAM_UNAVAILABLE', `the cache could not be rebuilt: ${why(error)}`, {
        cause: error,
      });
    } finally {
      heardDuringRebuild = undefined;
    }
    scheduleAllowLists();
  };

  const refresh = (): Promise<void> => {
    refreshing ??= rebuild().finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  };

  /** Until the first rebuild succeeds, tries again every few seconds; then catches up on invoices. */
  const warmUp = async (): Promise<void> => {
    clearTimeout(warmUpTimer);
    try {
      await refresh();
      await pushAllowLists(true);
      void catchUpInvoices();
    } catch (error) {
      if (stopped) return;
      log.warn({ code: 'BUSINESS_MGR_NOT_READY', err: why(error) }, 'cache not ready; trying again');
      warmUpTimer = setTimeout(() => void warmUp(), WARM_UP_RETRY_MS);
      warmUpTimer.unref();
    }
  };

  /** After a member fact the Reporter may report them differently (groups, left, rejoined): read their line again. */
  const refreshLine = async (memberId: string): Promise<void> => {
    try {
      const stamp = cache.balanceStamp(memberId);
      const reply = (await client().request(ReportRequest, { report: 'statement', memberId, format: 'json', limit: 1 })) as {
        json: { member: MemberLine };
      };
      change(() => cache.applyLine(reply.json.member, stamp));
    } catch (error) {
      log.warn({ memberId, err: why(error) }, 'could not read the member’s line from the Reporter; the next refresh will');
    }
  };

  // ---- decisions --------------------------------------------------------------------------------------------

  /** Publishes a decision and stores it; a failure is logged, never thrown, since the device has already been told. */
  const record = (decision: Decision, localId: string | null = null): Promise<boolean> => {
    const write = (async () => {
      const stored = await open().insertDecision(decision, localId);
      if (stored) await client().publish(BusinessDecision, decision);
      return stored;
    })();
    const settled = write.then(
      () => undefined,
      (error: unknown) =>
        log.error(
          { code: 'BUSINESS_MGR_DECISION_NOT_STORED', decisionId: decision.decisionId, err: why(error) },
          'a decision could not be stored or published',
        ),
    );
    pendingWrites.set(decision.decisionId, settled);
    void settled.then(() => pendingWrites.delete(decision.decisionId));
    return write.catch(() => false);
  };

  const sentCommands = new Map<string, { decisionId: string; device: string }>();
  const command = async (
    device: string,
    action: PayloadOf<typeof MachineCommand>['action'],
    fields: { decisionId: string; reason: string; tapId?: string; output?: string; count?: number },
  ): Promise<void> => {
    const sent = await client().publish(
      MachineCommand,
      { device, action, count: fields.count ?? 1, ...fields },
      { topic: MachineTopics.command(device), expiresInMs: settings.commandTtlSeconds * 1000 },
    );
    // A device that refuses a vend (too late, an output it lacks) says so by command id: kept to refund it.
    if (action === 'vend') {
      sentCommands.set(sent.id, { decisionId: fields.decisionId, device });
      setTimeout(() => sentCommands.delete(sent.id), REFUSAL_MEMORY_MS).unref();
    }
  };

  const decisionFor = (
    tap: Tap,
    envelope: Envelope,
    kind: Decision['kind'],
    verdict: Verdict,
    extra: Partial<Decision> = {},
  ): Decision => ({
    decisionId: nextId(),
    at: clock.now(),
    device: envelope.issuer,
    kind,
    via: 'fob',
    allowed: verdict.allowed,
    reason: verdict.reason,
    tapId: envelope.id,
    invoiceId: null,
    memberId: cache.byFob(tap.fob.hash)?.memberId ?? null,
    fobLastDigits: tap.fob.lastDigits,
    product: null,
    count: verdict.allowed ? 1 : 0,
    cents: null,
    outcome: null,
    ...extra,
  });

  /** Tells a device no (it stops waiting), then records why. */
  const deny = async (tap: Tap, envelope: Envelope, kind: Decision['kind'], verdict: Verdict, extra: Partial<Decision> = {}) => {
    const decision = decisionFor(tap, envelope, kind, { allowed: false, reason: verdict.reason }, extra);
    await command(envelope.issuer, 'deny', { decisionId: decision.decisionId, tapId: envelope.id, reason: verdict.reason });
    await record(decision);
  };

  const onTap = async (tap: Tap, envelope: Envelope<Tap>): Promise<void> => {
    const now = clock.now();
    const device = devices[envelope.issuer];
    const kind = device?.kind === 'vending' ? 'vend' : 'door';
    if (!device || tap.device !== envelope.issuer) {
      // Not a device we command (or one speaking for another): no command, only the record.
      log.warn({ issuer: envelope.issuer, device: tap.device }, 'a tap from a device that is not configured, or for another one');
      await record(decisionFor(tap, envelope, kind, { allowed: false, reason: 'unknown-device' }));
      return;
    }
    if (now - envelope.issuedAt > settings.tapMaxAgeMs || now - tap.at > settings.tapMaxAgeMs) {
      await deny(tap, envelope, kind, { allowed: false, reason: 'stale-tap' });
      return;
    }
    const policies = cache.policies;
    if (!cache.ready || !policies) {
      // Not guessed and not denied: with no answer the door decides from its allow-list after answerTimeoutMs, and
      // uploads that decision, so a keyholder is not locked out while the hub warms up.
      log.warn(
        { code: 'BUSINESS_MGR_NOT_READY', device: envelope.issuer, tapId: envelope.id },
        'tap left to the door: cache not ready',
      );
      return;
    }
    if (device.kind === 'door') {
      const verdict = decideDoor(cache.byFob(tap.fob.hash), policies, device.groups, tap.at);
      if (!verdict.allowed) {
        await deny(tap, envelope, 'door', verdict);
        return;
      }
      const decision = decisionFor(tap, envelope, 'door', verdict);
      await command(envelope.issuer, 'open', { decisionId: decision.decisionId, tapId: envelope.id, reason: verdict.reason });
      await record(decision);
      return;
    }
    await vendByFob(tap, envelope);
  };

  const vendByFob = async (tap: Tap, envelope: Envelope<Tap>): Promise<void> => {
    const member = cache.byFob(tap.fob.hash);
    if (!member) return deny(tap, envelope, 'vend', { allowed: false, reason: 'unknown-fob' });
    if (member.left) return deny(tap, envelope, 'vend', { allowed: false, reason: 'left' });
    const chosen = productForTap(cache.products, envelope.issuer, lastButtons.get(envelope.issuer), tap.at);
    if (!chosen) return deny(tap, envelope, 'vend', { allowed: false, reason: 'no-product' });
    const productFields = { product: chosen.key, cents: chosen.product.priceCents };
    return serially(member.memberId, async () => {
      const price = chosen.product.priceCents;
      const limit = cache.policies?.creditLimitCents ?? 0;
      const balance = cache.member(member.memberId)?.balanceCents ?? 0;
      if (balance - price < -limit) {
        return deny(tap, envelope, 'vend', { allowed: false, reason: 'insufficient-balance' }, productFields);
      }
      if (price > 0) {
        try {
          const reply = (await client().request(LedgerRecord, {
            kind: 'purchase',
            memberId: member.memberId,
            cents: price,
            method: 'balance',
            product: chosen.key,
            causedBy: `tap:${envelope.id}`,
          })) as { balanceCents: number | null; duplicate: boolean };
          if (reply.duplicate) {
            // The same tap again (redelivered after a restart). Charged the first time; vended then too, unless the
            // crash came between the charge and the decision: then it vends now, for the charge already made.
            const earlier = await open().decisions({ tapId: envelope.id, limit: 1 });
            if (earlier.decisions.length > 0) {
              log.warn({ tapId: envelope.id, memberId: member.memberId }, 'tap already charged and decided; not vended again');
              return;
            }
          } else change(() => cache.applyBalance(member.memberId, reply.balanceCents ?? balance - price));
        } catch (error) {
          log.error({ memberId: member.memberId, product: chosen.key, err: why(error) }, 'purchase not charged; nothing vended');
          return deny(tap, envelope, 'vend', { allowed: false, reason: 'charge-failed' }, productFields);
        }
      }
      const decision = decisionFor(tap, envelope, 'vend', { allowed: true, reason: 'member-active' }, productFields);
      const recorded = record(decision);
      try {
        await command(envelope.issuer, 'vend', {
          decisionId: decision.decisionId,
          tapId: envelope.id,
          output: chosen.product.output,
          reason: 'member-active',
        });
      } catch (error) {
        log.error({ decisionId: decision.decisionId, err: why(error) }, 'vend command not sent; refunding');
        // Not awaited: the refund queues behind this member's work, which is this very function.
        void recorded
          .then(() => failVend(decision))
          .catch((failure: unknown) => log.error({ err: why(failure) }, 'refund not made'));
        return;
      }
      await recorded;
    });
  };

  /** A vend the device could not do: the member gets the price back once, and the decision says it failed. */
  const onActuation = async (
    report: PayloadOf<typeof MachineActuation>,
    envelope: Envelope<PayloadOf<typeof MachineActuation>>,
  ): Promise<void> => {
    if (report.decisionId === null || report.device !== envelope.issuer) return;
    await pendingWrites.get(report.decisionId);
    const state = open();
    const decision = await state.decision(report.decisionId);
    if (!decision || decision.device !== envelope.issuer) return;
    if (report.outcome === 'actuated') {
      if (await state.markActuated(decision.decisionId))
        await client().publish(BusinessDecision, { ...decision, outcome: 'actuated' });
      return;
    }
    await failVend(decision);
  };

  /** A decision whose vend did not happen: the member gets the price back once, and the decision says it failed. */
  const failVend = async (decision: Decision): Promise<void> => {
    const state = open();
    if (decision.outcome === 'failed') return;
    if (decision.kind === 'vend' && decision.via === 'fob' && decision.memberId !== null && (decision.cents ?? 0) > 0) {
      const memberId = decision.memberId;
      try {
        await serially(memberId, async () => {
          const reply = (await client().request(LedgerRecord, {
            kind: 'adjustment',
            memberId,
            cents: decision.cents!,
            note: `refund: ${decision.product ?? 'a product'} was not vended by ${decision.device}`,
            causedBy: `refund:${decision.decisionId}`,
          })) as { balanceCents: number | null };
          if (reply.balanceCents !== null) change(() => cache.applyBalance(memberId, reply.balanceCents!));
        });
      } catch (error) {
        log.error(
          { code: 'BUSINESS_MGR_REFUND_FAILED', decisionId: decision.decisionId, memberId, err: why(error) },
          'a failed vend could not be refunded',
        );
        return;
      }
    }
    const failed = await state.markFailed(decision.decisionId, decision.kind === 'vend' ? 'vend-failed' : undefined);
    if (failed) await client().publish(BusinessDecision, failed);
  };

  // ---- invoices ---------------------------------------------------------------------------------------------

  const vendInvoice = async (invoice: Invoice): Promise<void> => {
    if (invoice.state !== 'settled' || invoice.product === null) return;
    if (!cache.ready) return; // the catch-up after warm-up takes it up
    const product: Product | undefined = cache.products.get(invoice.product);
    const machine = product ? devices[product.machine] : undefined;
    if (!product || !machine || machine.kind !== 'vending') {
      log.error(
        { code: 'BUSINESS_MGR_PRODUCT_UNKNOWN', invoiceId: invoice.id, product: invoice.product },
        'a paid invoice names a product with no vending machine here; nothing vended',
      );
      return;
    }
    const now = clock.now();
    const decisionId = nextId();
    if (!(await open().claimInvoice(invoice.id, decisionId, now))) return;
    const late = invoice.settledAt !== null && now - invoice.settledAt > settings.invoiceVendWindowMinutes * 60_000;
    // Counted from the payments the sale was booked from, so the machine drops what the ledger sells.
    const settledSats = invoice.settledSats ?? invoice.paidSats;
    const count = late ? 0 : unitsPaid(settledSats, invoice.rate.centsPerBtc, invoice.cents);
    const paid = centsWorth(settledSats, invoice.rate.centsPerBtc);
    const decision: Decision = {
      decisionId,
      at: now,
      device: product.machine,
      kind: 'vend',
      via: 'bitcoin',
      allowed: !late,
      reason: late ? 'invoice-too-late' : 'invoice-paid',
      tapId: null,
      invoiceId: invoice.id,
      memberId: invoice.memberId,
      fobLastDigits: null,
      product: invoice.product,
      count,
      cents: Number(paid > 1_000_000_000n ? 1_000_000_000n : paid),
      outcome: null,
    };
    if (late) {
      log.warn({ invoiceId: invoice.id, settledAt: invoice.settledAt }, 'a paid invoice settled too long ago; not vended');
      await record(decision);
      return;
    }
    // Recorded first: if the command cannot be sent the claim stays (never vended twice) and the decision says it
    // failed, for the treasurer to refund.
    const recorded = record(decision);
    try {
      await command(product.machine, 'vend', { decisionId, output: product.output, count, reason: 'invoice-paid' });
    } catch (error) {
      log.error({ invoiceId: invoice.id, decisionId, err: why(error) }, 'vend command for a paid invoice not sent');
      await recorded;
      await failVend(decision);
      return;
    }
    await recorded;
  };

  /** One invoice at a time, so a re-delivery racing the catch-up is claimed once. */
  const queueInvoice = (invoice: Invoice): Promise<void> => {
    const next = invoiceChain.then(() => vendInvoice(invoice));
    invoiceChain = next.catch((error: unknown) =>
      log.error({ invoiceId: invoice.id, err: why(error) }, 'a paid invoice could not be handled'),
    );
    return next;
  };

  const catchUpInvoices = async (): Promise<void> => {
    try {
      const { invoices } = (await client().request(InvoiceList, { state: 'settled', limit: 50 })) as { invoices: Invoice[] };
      for (const invoice of [...invoices].reverse()) await queueInvoice(invoice);
    } catch (error) {
      log.warn({ code: 'BUSINESS_MGR_UPSTREAM_UNAVAILABLE', err: why(error) }, 'could not list settled invoices to catch up');
    }
  };

  // ---- allow-lists ------------------------------------------------------------------------------------------

  const pushAllowList = async (deviceId: string, force: boolean): Promise<void> => {
    const device = devices[deviceId];
    const policies = cache.policies;
    if (!device || device.kind !== 'door' || !policies || !cache.ready) return;
    const content = allowListContent(cache.members(), policies, device.groups);
    const digest = JSON.stringify(content);
    if (!force && pushedDigests.get(deviceId) === digest) return;
    const state = open();
    const now = clock.now();
    const version = Math.max((await state.allowListVersion(deviceId)) + 1, now);
    const ttlMs = settings.allowListTtlHours * 3_600_000;
    const payload = { device: deviceId, version, issuedAt: now, expiresAt: now + ttlMs, ...content };
    let sealed: Envelope<typeof payload>;
    try {
      sealed = client().seal(AllowList, payload, { expiresInMs: ttlMs });
    } catch (error) {
      // Sealed to the door: one not enrolled yet (no key in the directory) could not read it; it gets its list
      // when the directory names it.
      if (!(error instanceof DctrlError && error.code === 'CORE_SEAL_NO_KEY')) throw error;
      log.info({ device: deviceId }, 'allow-list waits until the device is in the key directory');
      return;
    }
    const bytes = encodeEnvelope(sealed).length;
    if (bytes > config.bus.maxMessageBytes) {
      log.error(
        { code: 'BUSINESS_MGR_ALLOW_LIST_TOO_BIG', device: deviceId, entries: content.entries.length, bytes },
        `the allow-list of ${deviceId} with ${content.entries.length} entries is ${bytes} bytes, over bus.maxMessageBytes (${config.bus.maxMessageBytes}); the previous one stays`,
      );
      return;
    }
    await client().sendSealed(AllowList, sealed, MachineTopics.allowList(deviceId));
    await state.saveAllowList(deviceId, version, now, content.entries.length);
    pushedDigests.set(deviceId, digest);
    log.info({ device: deviceId, version, entries: content.entries.length }, 'allow-list pushed');
  };

  const pushAllowLists = (force = false): Promise<void> => {
    const next = allowListChain.then(async () => {
      for (const deviceId of Object.keys(devices)) {
        try {
          await pushAllowList(deviceId, force);
        } catch (error) {
          log.error({ device: deviceId, err: why(error) }, 'allow-list not pushed; will try again');
        }
      }
    });
    allowListChain = next;
    return next;
  };

  function scheduleAllowLists(): void {
    if (stopped) return;
    clearTimeout(allowListTimer);
    allowListTimer = setTimeout(() => void pushAllowLists(false), ALLOW_LIST_DEBOUNCE_MS);
    allowListTimer.unref();
  }

  // ---- offline logs and queries ----------------------------------------------------------------------------

  const onOfflineLog = async (
    upload: PayloadOf<typeof OfflineLog>,
    envelope: Envelope<PayloadOf<typeof OfflineLog>>,
  ): Promise<{ stored: number; duplicates: number }> => {
    const device = devices[envelope.issuer];
    if (!device || device.kind !== 'door' || upload.device !== envelope.issuer) {
      throw new BusinessMgrError(
        'BUSINESS_MGR_NOT_A_DOOR',
        `"${envelope.issuer}" uploaded an offline log for "${upload.device}"; only a door in machines.devices uploads its own`,
      );
    }
    let stored = 0;
    let duplicates = 0;
    for (const entry of upload.entries) {
      const decision: Decision = {
        decisionId: nextId(),
        at: entry.at,
        device: upload.device,
        kind: 'door',
        via: 'offline',
        allowed: entry.allowed,
        reason: entry.reason,
        tapId: entry.tapId,
        invoiceId: null,
        memberId: cache.byFobKey(entry.fob.key)?.memberId ?? null,
        fobLastDigits: entry.fob.lastDigits,
        product: null,
        count: entry.actuated ? 1 : 0,
        cents: null,
        outcome: entry.actuated ? 'actuated' : null,
      };
      const inserted = await open().insertDecision(decision, entry.localId);
      if (!inserted) {
        duplicates++;
        continue;
      }
      stored++;
      await client()
        .publish(BusinessDecision, decision)
        .catch((error: unknown) => log.warn({ err: why(error) }, 'an offline decision was stored but not announced'));
    }
    return { stored, duplicates };
  };

  // ---- start and stop ---------------------------------------------------------------------------------------

  const subscribeCache = async (client: BusClient): Promise<void> => {
    // A door enrolled since (a new key in the directory) can now be sealed to.
    let directoryVersion = 0;
    client.on(KeyDirectory, (directory) => {
      // Only a newer directory can name a new door; old ones replayed by a broker must not make work.
      if (directory.version <= directoryVersion) return;
      directoryVersion = directory.version;
      scheduleAllowLists();
    });
    await client.listen(MemberChanged, (changed) => {
      change(() => cache.applyFacts(changed.member));
      void refreshLine(changed.member.memberId);
    });
    await client.listen(MemberStatusChanged, (status) =>
      change(() => cache.applyStatus(status.memberId, status.active, status.balanceCents, status.groups)),
    );
    await client.listen(BalanceChanged, (balance) => change(() => cache.applyBalance(balance.memberId, balance.balanceCents)));
    await client.listen(SettingChanged, async () => {
      try {
        await loadSettings();
        scheduleAllowLists();
      } catch (error) {
        log.warn({ err: why(error) }, 'could not re-read the settings; the next refresh will');
      }
    });
  };

  const subscribeDevices = async (client: BusClient): Promise<void> => {
    await client.listen(MachineInput, (input, envelope) => {
      if (input.kind !== 'button' || input.value !== 1 || input.device !== envelope.issuer) return;
      if (devices[envelope.issuer]?.kind !== 'vending') return;
      lastButtons.set(envelope.issuer, { input: input.input, at: input.at });
    });
    await client.listen(MachineTap, onTap);
    await client.listen(MachineActuation, onActuation);
    await client.listen(MachineRefused, async (refused, envelope) => {
      log.warn({ device: envelope.issuer, what: refused.what, id: refused.id, code: refused.code }, refused.message);
      const sent = sentCommands.get(refused.id);
      if (refused.what !== 'command' || !sent || sent.device !== envelope.issuer) return;
      // Only refusals that mean nothing moved: a replay refused (the first copy may have vended) refunds nothing.
      if (!NOTHING_MOVED.has(refused.code)) return;
      sentCommands.delete(refused.id);
      await pendingWrites.get(sent.decisionId);
      const decision = await open().decision(sent.decisionId);
      if (decision && decision.outcome === null) await failVend(decision);
    });
    await client.listen(ChainInvoice, (invoice) => {
      if (invoice.state !== 'settled' || invoice.previousState === 'settled') return;
      return queueInvoice(invoice);
    });
    await client.respond(OfflineLog, onOfflineLog);
    await client.respond(DecisionsQuery, (query) =>
      open().decisions({
        device: query.device,
        memberId: query.memberId,
        tapId: query.tapId,
        invoiceId: query.invoiceId,
        before: query.before,
        limit: Math.min(query.limit ?? DEFAULT_DECISIONS_PAGE, 200),
      }),
    );
  };

  /** A broker that came back may have dropped events meanwhile: rebuild then. */
  const watchConnection = (): NodeJS.Timeout => {
    let wasConnected = true;
    return setInterval(() => {
      const connected = bus?.connected ?? false;
      if (connected && !wasConnected) {
        log.info('bus reconnected; rebuilding the cache');
        void warmUp();
      }
      wasConnected = connected;
    }, CONNECTION_CHECK_MS);
  };

  return {
    name: SERVICE_NAME,
    get ready() {
      return cache.ready;
    },
    refresh,
    pushAllowLists,
    catchUpInvoices,
    async start() {
      store = await BusinessMgrStore.open(database);
      bus = createBusClient(context);
      await bus.start();
      stopped = false;
      await subscribeCache(bus);
      await warmUp();
      await subscribeDevices(bus);
      timers = [
        setInterval(
          () => void refresh().catch((error: unknown) => log.warn({ err: why(error) }, 'refresh failed')),
          settings.refreshMinutes * 60_000,
        ),
        setInterval(() => void pushAllowLists(true), settings.allowListRefreshMinutes * 60_000),
        watchConnection(),
      ];
      for (const timer of timers) timer.unref();
    },
    async stop() {
      stopped = true;
      for (const timer of timers) clearInterval(timer);
      clearTimeout(allowListTimer);
      clearTimeout(warmUpTimer);
      await Promise.allSettled([invoiceChain, allowListChain, ...memberQueues.values(), ...pendingWrites.values()]);
      await bus?.stop();
      bus = undefined;
    },
    describe() {
      const doors = Object.values(devices).filter((device) => device.kind === 'door').length;
      return [`business mgr: ${doors} door(s), ${Object.keys(devices).length - doors} vending machine(s)`];
    },
  };
}
