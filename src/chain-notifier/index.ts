// ChainNotifier: watches the members' deposit addresses and the invoices' addresses on the chain, tells the bus
// about every payment, and keeps the ledger equal to what the chain says: credited once enough confirmations are
// in (at the rate when the payment was first seen, or the invoice's locked rate), taken back if a reorg or a
// double spend removes it.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HDKey } from '@scure/bip32';
import { createBusClient, type BusClient } from '../auth-proxy/index.js';
import { createChainAdaptor, type ChainAdaptor } from '../chain-adaptor/index.js';
import { networkByName, parseDescriptor, type OutputDescriptor } from '../core/bitcoin/index.js';
import { DctrlError } from '../core/errors.js';
import {
  ChainAlarm,
  ChainPayment,
  ChainPayments,
  DepositAddress,
  InvoiceCreate,
  InvoiceGet,
  InvoiceList,
} from '../core/messages-chain.js';
import { LedgerRecord, MemberChanged, MemberQuery, SettingsGet } from '../core/messages.js';
import type { PayloadOf } from '../core/contract.js';
import { PriceQuote } from '../core/messages-price.js';
import type { Service, ServiceContext } from '../core/service.js';
import type { DatabaseHandle } from '../core/storage/index.js';
import { centsFor, ledgerAcceptsBitcoin, requiredConfirmations, type ConfirmationRule } from './amounts.js';
import { ChainNotifierError } from './errors.js';
import { InvoiceDesk } from './invoices.js';
import type { OutputRow } from './store.js';
import { SERVICE_NAME } from './store.js';
import { ChainWatcher, type PaymentEvent } from './watcher.js';

export { SERVICE_NAME };
export { ChainNotifierError, ChainNotifierErrorCodes } from './errors.js';
export { centsFor, requiredConfirmations } from './amounts.js';

const DEMO_DESCRIPTOR_FILE = 'demo-deposit-descriptor.txt';

/**
 * The configured descriptor; with the simulated chain and none configured, a demo watch-only key made once in the
 * data folder (its private half is thrown away: the demo never spends).
 */
function depositDescriptor(context: ServiceContext): OutputDescriptor {
  const { config } = context;
  const network = networkByName(config.chain.network);
  let text = config.chainNotifier.depositDescriptor;
  if (text === undefined) {
    if (config.chain.provider !== 'simulated') {
      throw new ChainNotifierError(
        'CHAIN_NOTIFIER_CONFIG_INVALID',
        'chainNotifier.depositDescriptor is not set: give the space’s watch-only account (a zpub, vpub or a descriptor such as wpkh([fingerprint/84h/0h/0h]xpub…/<0;1>/*))',
      );
    }
    const file = join(config.dataDir, DEMO_DESCRIPTOR_FILE);
    if (!existsSync(file)) {
      const plain = network.extendedKeys.find((version) => version.prefix === network.plainKeyPrefix)!;
      const seed = crypto.getRandomValues(new Uint8Array(32));
      const account = HDKey.fromMasterSeed(seed, { public: plain.public, private: plain.private }).derive("m/84'/1'/0'");
      writeFileSync(file, `wpkh(${account.publicExtendedKey}/<0;1>/*)\n`, { mode: 0o600 });
    }
    text = readFileSync(file, 'utf8').trim();
  }
  return parseDescriptor(text, network);
}

export function createChainNotifier(
  context: ServiceContext,
  database: DatabaseHandle,
  options: { adaptor?: ChainAdaptor } = {},
): Service & { sync(): Promise<void> } {
  const { config, clock } = context;
  const log = context.logger.child({ service: SERVICE_NAME });
  const adaptor = options.adaptor ?? createChainAdaptor(config);
  let bus: BusClient | undefined;
  let watcher: ChainWatcher | undefined;
  let invoices: InvoiceDesk | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const alarms = new Map<string, string>();

  const client = (): BusClient => {
    if (!bus) throw new ChainNotifierError('CHAIN_NOTIFIER_CONFIG_INVALID', 'the ChainNotifier is not running');
    return bus;
  };

  /**
   * Raises (message) or clears (undefined) an alarm; `key` tells alarms of one code apart (one per payment). Never
   * throws: an alarm that cannot be sent is logged, and the pass goes on.
   */
  const alarm = async (code: string, message: string | undefined, key: string = code): Promise<void> => {
    const previous = alarms.get(key);
    if (previous === message) return;
    if (message === undefined) alarms.delete(key);
    else alarms.set(key, message);
    if (message !== undefined) log.error({ code }, message);
    else log.info({ code, key }, 'cleared');
    try {
      await client().publish(ChainAlarm, {
        code,
        message: (message ?? previous ?? '').slice(0, 2000),
        cleared: message === undefined,
      });
    } catch (error) {
      log.error({ err: (error as Error).message, code }, 'could not publish the alarm');
    }
  };

  const spacePolicies = async (): Promise<{ rules: ConfirmationRule[]; currency: string }> => {
    const { policies } = (await client().request(SettingsGet, {})) as {
      policies: { confirmationsByAmount: ConfirmationRule[]; currency: string };
    };
    return { rules: policies.confirmationsByAmount, currency: policies.currency };
  };
  const confirmationRules = async (): Promise<ConfirmationRule[]> => (await spacePolicies()).rules;

  /** A payment as the bus sees it; `tip` when the caller already read the processed tip. */
  const toWire = async (output: OutputRow, rules: ConfirmationRule[], tip?: { height: number }) => ({
    txid: output.txid,
    vout: output.vout,
    address: output.address,
    sats: output.sats,
    ownerKind: output.owner_kind,
    ownerId: output.owner_id,
    state: output.state,
    confirmations: await watcher!.confirmations(output, tip),
    requiredConfirmations: requiredConfirmations(output.sats, rules),
    blockHeight: output.block_height,
    credited: output.credited === 1,
  });
  const announce = async (event: PaymentEvent['kind'] | 'confirmed', output: OutputRow, rules: ConfirmationRule[]) => {
    await client().publish(ChainPayment, { event, ...(await toWire(output, rules)) });
  };

  /** The rate when the payment was first seen; asked for now if the PriceNotifier had none then. */
  const rateOf = async (output: OutputRow, currency: string) => {
    if (output.rate_cents_per_btc !== null) {
      return { centsPerBtc: output.rate_cents_per_btc, source: output.rate_source ?? 'unknown', at: output.rate_at ?? 0 };
    }
    const quote = (await client().request(PriceQuote, { currency })) as { centsPerBtc: number; source: string; at: number };
    const rate = { centsPerBtc: quote.centsPerBtc, source: quote.source, at: quote.at };
    await watcher!.setRate(output.outpoint, rate);
    return rate;
  };

  /** Makes the ledger agree with the chain for every member payment whose credit is due or must be taken back. */
  const settle = async (rules: ConfirmationRule[], currency: string): Promise<void> => {
    const state = watcher!;
    const tip = await state.processedTip();
    const outputs = await state.outputs({ ownerKind: 'member' });
    // Confirmations are asked by amount: of everything a member has waiting unconfirmed, and of everything one
    // transaction pays them, so splitting a large payment into small outputs does not make it count sooner.
    const waitingByMember = new Map<string, number>();
    const perTransaction = new Map<string, number>();
    for (const output of outputs) {
      const member = output.owner_id ?? '';
      if (output.state === 'seen') waitingByMember.set(member, (waitingByMember.get(member) ?? 0) + output.sats);
      perTransaction.set(
        `${output.txid}\u0000${member}`,
        (perTransaction.get(`${output.txid}\u0000${member}`) ?? 0) + output.sats,
      );
    }
    for (const output of outputs) {
      const key = `uncredited:${output.outpoint}`;
      const member = output.owner_id ?? '';
      try {
        if (output.pending_entry !== null) {
          // A ledger write whose answer never came: asked again with the same cause, so it lands exactly once.
          await client().request(LedgerRecord, JSON.parse(output.pending_entry) as PayloadOf<typeof LedgerRecord>);
          await state.entryRecorded(output.outpoint);
        }
        // A credit already made stays unless the chain takes the payment away; a new one is judged with
        // everything else still waiting.
        const perTx = perTransaction.get(`${output.txid}\u0000${member}`) ?? 0;
        const waiting = output.state === 'seen' && output.credited === 0 ? (waitingByMember.get(member) ?? 0) : 0;
        const amount = Math.max(perTx, waiting);
        const creditable =
          (output.state === 'confirmed' || output.state === 'seen') &&
          (await state.confirmations(output, tip)) >= requiredConfirmations(amount, rules);
        if (creditable === (output.credited === 1)) {
          await alarm('CHAIN_NOTIFIER_UNCREDITED', undefined, key);
          continue;
        }
        const rate = await rateOf(output, currency);
        const cents = centsFor(output.sats, rate.centsPerBtc);
        if (creditable && !ledgerAcceptsBitcoin(cents, output.sats, rate.centsPerBtc)) {
          await alarm(
            'CHAIN_NOTIFIER_DUST',
            `payment ${output.outpoint} of ${output.sats} sats is too small to book in cents; it is left out`,
            key,
          );
          continue;
        }
        const entry: PayloadOf<typeof LedgerRecord> = creditable
          ? {
              kind: 'payment',
              memberId: member,
              cents,
              method: 'bitcoin',
              sats: output.sats,
              rate,
              causedBy: output.credits === 0 ? output.outpoint : `${output.outpoint}/${output.credits}`,
            }
          : {
              kind: 'adjustment',
              memberId: member,
              cents: -cents,
              note: `bitcoin payment ${output.outpoint} ${output.state === 'replaced' ? 'was double spent' : 'left the best chain'}`,
              causedBy: `${output.outpoint}/reversal/${output.credits}`,
            };
        await state.intendEntry(output.outpoint, creditable, entry);
        await client().request(LedgerRecord, entry);
        await state.entryRecorded(output.outpoint);
        if (creditable) await announce('confirmed', { ...output, credited: 1 }, rules);
        await alarm('CHAIN_NOTIFIER_UNCREDITED', undefined, key);
      } catch (error) {
        const reason = error instanceof DctrlError ? `${error.code}: ${error.message}` : String(error);
        await alarm(
          'CHAIN_NOTIFIER_UNCREDITED',
          `payment ${output.outpoint} of ${output.sats} sats to ${member} is not yet booked as the chain says: ${reason}`,
          key,
        );
      }
    }
  };

  // Events a pass recorded but could not finish with (BusinessData away, say): the next pass takes them up.
  let unfinished: PaymentEvent[] = [];

  const pass = async (): Promise<void> => {
    const state = watcher!;
    let events: PaymentEvent[];
    try {
      events = [...unfinished, ...(await state.sync(config.chainNotifier.startHeight))];
      unfinished = events;
      await alarm('CHAIN_NOTIFIER_NODE_UNAVAILABLE', undefined);
      await alarm('CHAIN_NOTIFIER_DEEP_REORG', undefined);
    } catch (error) {
      if (error instanceof ChainNotifierError && error.code === 'CHAIN_NOTIFIER_DEEP_REORG')
        await alarm(error.code, error.message);
      else
        await alarm(
          'CHAIN_NOTIFIER_NODE_UNAVAILABLE',
          `${adaptor.description}: ${error instanceof Error ? error.message : String(error)}`,
        );
      return;
    }
    const { rules, currency } = await spacePolicies();
    for (const event of events) {
      if (event.output.owner_kind === 'unassigned') {
        await alarm(
          'CHAIN_NOTIFIER_UNASSIGNED_PAYMENT',
          `${event.output.sats} sats arrived at ${event.output.address} (${event.output.outpoint}), an address not handed out to anyone: find out whose it is`,
          `unassigned:${event.output.outpoint}`,
        );
      }
      // An invoice's payments are booked at the rate it locked, not the one when they are seen.
      if ((event.kind === 'seen' || event.kind === 'mined') && event.output.owner_kind !== 'invoice') {
        await rateOf(event.output, currency).catch((error: unknown) =>
          log.warn({ err: (error as Error).message, outpoint: event.output.outpoint }, 'no rate when first seen'),
        );
      }
      await announce(event.kind, event.output, rules);
    }
    await settle(rules, currency);
    await invoices!.review(events, rules);
    unfinished = [];
  };

  const sync = (): Promise<void> => {
    running = running
      .then(pass)
      .catch((error: unknown) => log.warn({ err: (error as Error).message }, 'chain pass did not finish; will try again'));
    return running;
  };

  return {
    name: SERVICE_NAME,
    sync,
    async start() {
      const descriptor = depositDescriptor(context);
      await adaptor.connect();
      watcher = await ChainWatcher.open(database, clock, {
        adaptor,
        descriptor,
        gapLimit: config.chainNotifier.gapLimit,
        reorgLimit: config.chainNotifier.reorgLimit,
      });
      if (!options.adaptor && config.chain.provider === 'simulated') await watcher.forgetProcessedBlocks();
      bus = createBusClient(context);
      await bus.start();
      invoices = new InvoiceDesk({ watcher, bus: client, clock, config: config.chainNotifier, log, alarm });
      const readers = config.chainNotifier.addressReaders;
      await bus.listen(MemberChanged, async (change) => {
        if (change.event === 'joined') await watcher!.depositAddress(change.member.memberId);
      });
      await bus.respond(DepositAddress, async (request, envelope) => {
        if (!readers.includes(envelope.issuer)) {
          throw new ChainNotifierError(
            'CHAIN_NOTIFIER_NOT_ALLOWED',
            `"${envelope.issuer}" is not in chainNotifier.addressReaders`,
          );
        }
        // Only members MemberData knows get an address: each one handed out moves the derivation index on, and a
        // wallet restored from the key finds payments only within its gap limit.
        await client()
          .request(MemberQuery, { memberId: request.memberId, includeLeft: true })
          .catch((error: unknown) => {
            throw error instanceof DctrlError && error.code === 'MEMBER_DATA_NOT_FOUND'
              ? new ChainNotifierError(
                  'CHAIN_NOTIFIER_MEMBER_UNKNOWN',
                  `no member ${request.memberId}: deposit addresses are for members`,
                )
              : error;
          });
        const { address, index } = await watcher!.depositAddress(request.memberId);
        return { memberId: request.memberId, address, index, uri: `bitcoin:${address}` };
      });
      await bus.respond(ChainPayments, async (request, envelope) => {
        if (!readers.includes(envelope.issuer)) {
          throw new ChainNotifierError(
            'CHAIN_NOTIFIER_NOT_ALLOWED',
            `"${envelope.issuer}" is not in chainNotifier.addressReaders`,
          );
        }
        const rules = await confirmationRules();
        const rows = await watcher!.outputs(
          request.memberId === undefined ? {} : { ownerKind: 'member', ownerId: request.memberId },
        );
        const tip = await watcher!.processedTip();
        return { payments: await Promise.all(rows.slice(-200).map((row) => toWire(row, rules, tip))) };
      });
      await bus.respond(InvoiceCreate, async (request, envelope) => ({
        invoice: await invoices!.create(request, envelope.issuer),
      }));
      await bus.respond(InvoiceGet, async (request, envelope) => ({ invoice: await invoices!.get(request.id, envelope.issuer) }));
      await bus.respond(InvoiceList, async (request, envelope) => ({
        invoices: await invoices!.list(request, envelope.issuer),
      }));
      void sync();
      timer = setInterval(() => void sync(), config.chainNotifier.pollMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      await running;
      await bus?.stop();
      await adaptor.close();
      bus = undefined;
    },
    describe() {
      return [`chain notifier: ${adaptor.description} (${config.chain.network}), every ${config.chainNotifier.pollMs / 1000} s`];
    },
  };
}
