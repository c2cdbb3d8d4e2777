// Invoices on the bus with the real BusinessData, MemberData, Reporter and PriceNotifier (fixed demo rate, 135,000
// CAD per bitcoin) over the simulated chain, with a clock that moves only when told: made with a locked rate, a
// fresh address and a QR code; paid exactly, twice, partly, late, after the watch, double spent; refused.
import assert from 'node:assert/strict';
import type { Kysely } from 'kysely';
import { after, before, test } from 'node:test';
import { AuthProxyError, type BusClient } from '../../src/auth-proxy/index.js';
import { SimulatedChain } from '../../src/chain-adaptor/index.js';
import type { InvoiceSummary, InvoiceWithQr } from '../../src/chain-notifier/invoices.js';
import type { ChainNotifierTables } from '../../src/chain-notifier/store.js';
import { NETWORKS, parseAddress } from '../../src/core/bitcoin/index.js';
import { ManualClock } from '../../src/core/clock.js';
import type { PayloadOf } from '../../src/core/contract.js';
import { DctrlError } from '../../src/core/errors.js';
import {
  ChainAlarm,
  ChainInvoice,
  DepositAddress,
  InvoiceCreate,
  InvoiceGet,
  InvoiceList,
} from '../../src/core/messages-chain.js';
import { MemberCommand, ReportRequest, SettingSet } from '../../src/core/messages.js';
import type { Service } from '../../src/core/service.js';
import type { DatabaseHandle } from '../../src/core/storage/index.js';
import { createPriceNotifier } from '../../src/price-notifier/index.js';
import { createReporter } from '../../src/reporter/index.js';
import type { LedgerRow, ReporterTables } from '../../src/reporter/store.js';
import { eventually, startHarness, testConfig, type Harness } from '../helpers/harness.js';
import { testDescriptor } from './watcher-cases.js';
import { startChainHub, type ChainHub } from './hub.js';

const MINUTE = 60_000;
/** Invoices expire after 15 minutes; late payments are watched for one hour here (a day by default). */
const EXPIRY = 15 * MINUTE;
const LATE_WATCH = 60 * MINUTE;
const RATE = 13_500_000;
const clock = new ManualClock(Date.UTC(2026, 10, 10, 18));
const chain = new SimulatedChain('regtest');
let h: Harness;
let database: DatabaseHandle;
let hub: ChainHub;
let services: Service[];
let notifier: Service & { sync(): Promise<void> };
let cli: BusClient;
let ada: string;
let bob: string;
const heard: string[] = [];

const create = async (request: PayloadOf<typeof InvoiceCreate>, client = cli) =>
  ((await client.request(InvoiceCreate, request)) as { invoice: InvoiceWithQr }).invoice;
const get = async (id: string) => ((await cli.request(InvoiceGet, { id })) as { invoice: InvoiceWithQr }).invoice;
const pay = (invoice: { address: string }, sats: number) =>
  chain.send([{ script: parseAddress(invoice.address, NETWORKS.regtest).script, value: sats }]);
const refusal = async (work: Promise<unknown>): Promise<DctrlError> => {
  const error = await work.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  assert.ok(error instanceof DctrlError, `expected a coded refusal, got ${String(error)}`);
  return error;
};
/** The ledger entries an invoice caused, read from the Reporter's table. */
const ledger = (invoiceId: string) =>
  (database.db as Kysely<ReporterTables>)
    .selectFrom('reporter_ledger')
    .selectAll()
    .where('caused_by', 'like', `invoice:${invoiceId}%`)
    .orderBy('id')
    .execute();
const describeLedger = (rows: LedgerRow[]) => rows.map((row) => `${row.kind}:${row.cents}:${row.sats}`);
const statementCents = async (memberId: string) =>
  ((await cli.request(ReportRequest, { report: 'statement', memberId })) as { json: { closingCents: number } }).json.closingCents;
const join_ = async (name: string) =>
  (
    (await cli.request(MemberCommand, { action: 'join', name, email: `${name.toLowerCase()}@example.org`, tier: 'member' })) as {
      member: { memberId: string };
    }
  ).member.memberId;

before(async () => {
  h = await startHarness({
    clock,
    config: {
      bus: { requestTimeoutMs: 3_000 },
      vault: { tokenTtlSeconds: 86_400 },
      reporter: { checkIntervalMs: 3_600_000 },
      chainNotifier: {
        depositDescriptor: testDescriptor().text,
        pollMs: 3_600_000,
        reorgLimit: 3,
        invoices: { lateWatchHours: LATE_WATCH / 3_600_000 },
      },
    },
  });
  hub = await startChainHub(h, chain);
  ({ database, services, notifier } = hub);
  cli = await h.client('cli');
  // Invoices name addresses and members, sealed to BusinessMgr and the Server.
  const watcher = await h.client('server', { extra: { sub: ['dctrl/v1/chain-notifier/#'] } });
  await watcher.listen(ChainInvoice, (invoice) => void heard.push(`${invoice.id}:${invoice.state}`));
  await watcher.listen(ChainAlarm, (alarm) => {
    // An invoice's alarms share one code; the message names the invoice.
    const invoiceId = alarm.code === 'CHAIN_NOTIFIER_INVOICE' ? /^invoice (\S+?):?\s/.exec(alarm.message)?.[1] : undefined;
    heard.push(invoiceId ? `alarm:invoice:${invoiceId}:${alarm.cleared}` : `alarm:${alarm.code}:${alarm.cleared}`);
  });
  await cli.request(SettingSet, {
    kind: 'product',
    key: 'club-mate',
    value: { name: 'Club-Mate', priceCents: 400, machine: 'vending-1', output: 'a1' },
  });
  ada = await join_('Ada');
  bob = await join_('Bob');
});
after(async () => {
  await hub.stop();
  await h.stop();
});

test('an invoice locks the rate, takes a fresh address, and comes with its BIP21 URI and QR code as SVG and PNG', async () => {
  const now = clock.now();
  const invoice = await create({ cents: 2_000, memberId: ada, memo: 'November dues', idempotencyKey: 'ada-2026-11' });
  assert.equal(invoice.state, 'new');
  assert.equal(invoice.currency, 'CAD');
  // 20.00 CAD at 135,000.00 CAD per bitcoin is 14,814.8… sats, rounded up.
  assert.equal(invoice.sats, 14_815);
  assert.deepEqual(invoice.rate, { centsPerBtc: RATE, source: 'fixed:demo-fixed', at: now });
  assert.equal(invoice.uri, `bitcoin:${invoice.address}?amount=0.00014815&label=dctrl&message=November%20dues`);
  assert.deepEqual([invoice.createdAt, invoice.expiresAt, invoice.watchUntil], [now, now + EXPIRY, now + EXPIRY + LATE_WATCH]);
  assert.deepEqual([invoice.paidSats, invoice.flags], [0, { partial: false, over: false, late: false }]);
  assert.match(invoice.qrSvg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" viewBox="0 0 (\d+) \1"[^>]*>.*<\/svg>\s*$/s);
  const png = Buffer.from(invoice.qrPng, 'base64');
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.ok(JSON.stringify(invoice).length < 16_384, 'the reply fits a bus message with room to spare');

  const retried = await create({ cents: 2_000, memberId: ada, memo: 'November dues', idempotencyKey: 'ada-2026-11' });
  assert.equal(retried.id, invoice.id, 'a retry with the same key returns the same invoice');
  const conflict = await refusal(create({ cents: 2_500, memberId: ada, memo: 'November dues', idempotencyKey: 'ada-2026-11' }));
  assert.equal(conflict.code, 'CHAIN_NOTIFIER_INVOICE_CONFLICT');

  const other = await create({ cents: 2_000, memberId: ada });
  const deposit = (await cli.request(DepositAddress, { memberId: ada })) as { address: string };
  assert.equal(new Set([invoice.address, other.address, deposit.address]).size, 3, 'every invoice has an address of its own');
  assert.equal((await get(invoice.id)).qrPng, invoice.qrPng);
  await eventually(
    () => heard.includes(`${invoice.id}:new`),
    () => heard.join(', '),
  );
});

test('paid exactly: processing until confirmed, then settled, and the member credited once at the locked rate', async () => {
  const invoice = await create({ cents: 20_000, memberId: bob });
  assert.equal(invoice.sats, 148_149);
  const before = await statementCents(bob);
  clock.advance(MINUTE);
  pay(invoice, 148_149);
  await notifier.sync();
  const seen = await get(invoice.id);
  assert.deepEqual([seen.state, seen.paidSats], ['processing', 148_149], 'more than 100,000 sats needs a confirmation');
  assert.deepEqual(await ledger(invoice.id), []);
  chain.mine(1);
  await notifier.sync();
  const settled = await get(invoice.id);
  assert.equal(settled.state, 'settled');
  assert.equal(settled.settledAt, clock.now());
  await notifier.sync();
  const rows = await ledger(invoice.id);
  assert.deepEqual(describeLedger(rows), ['payment:20000:148149'], 'credited once');
  assert.equal(rows[0]!.member_id, bob);
  const [entry] = rows;
  assert.deepEqual([entry!.rate_at, entry!.rate_cents_per_btc], [invoice.rate.at, RATE], 'at the rate locked when it was made');
  assert.equal(await statementCents(bob), before + 20_000);
  await eventually(
    () => heard.includes(`${invoice.id}:processing`) && heard.includes(`${invoice.id}:settled`),
    () => heard.join(', '),
  );
});

test('paid twice at once: settled once with the total, flagged over, the member keeping the overpayment', async () => {
  const invoice = await create({ cents: 2_000, memberId: ada });
  pay(invoice, 14_815);
  pay(invoice, 14_815);
  await notifier.sync();
  const settled = await get(invoice.id);
  assert.deepEqual([settled.state, settled.paidSats, settled.flags.over], ['settled', 29_630, true]);
  // 29,630 sats at the locked rate are 40.0005 CAD.
  assert.deepEqual(describeLedger(await ledger(invoice.id)), ['payment:4000:29630']);
});

test('a product paid twice: the sale recorded at its price, the second payment as a donation, each once', async () => {
  const invoice = await create({ cents: 400, product: 'club-mate', memo: 'Club-Mate' });
  assert.equal(invoice.sats, 2_963);
  pay(invoice, 2_963);
  await notifier.sync();
  assert.equal((await get(invoice.id)).state, 'settled');
  const paidAgain = pay(invoice, 2_963);
  await notifier.sync();
  await notifier.sync();
  const after = await get(invoice.id);
  assert.deepEqual([after.state, after.paidSats, after.flags.over], ['settled', 5_926, true]);
  const rows = await ledger(invoice.id);
  assert.deepEqual(describeLedger(rows), ['purchase:-400:2963', 'donation:400:2963']);
  assert.deepEqual(
    rows.map((row) => [row.member_id, row.caused_by]),
    [
      [null, `invoice:${invoice.id}`],
      [null, `invoice:${invoice.id}/${paidAgain}:0`],
    ],
  );
});

test('a product paid for twice over in one payment: two sold at its price (as two are vended), the rest a donation', async () => {
  const invoice = await create({ cents: 400, product: 'club-mate', memo: 'Club-Mate' });
  pay(invoice, 2 * 2_963 + 500);
  await notifier.sync();
  const settled = await get(invoice.id);
  assert.deepEqual([settled.state, settled.flags.over], ['settled', true]);
  const rows = await ledger(invoice.id);
  assert.deepEqual(describeLedger(rows), ['purchase:-800:5926', 'donation:68:500']);
  assert.deepEqual(
    rows.map((row) => row.caused_by),
    [`invoice:${invoice.id}`, `invoice:${invoice.id}/over`],
  );
});

test('partly paid: partial and processing, expired when time runs out, then settled by a late top-up at the locked rate', async () => {
  const invoice = await create({ cents: 2_000, memberId: ada });
  pay(invoice, 7_000);
  await notifier.sync();
  const partial = await get(invoice.id);
  assert.deepEqual([partial.state, partial.paidSats, partial.flags.partial], ['processing', 7_000, true]);
  clock.advance(EXPIRY + MINUTE);
  assert.equal((await get(invoice.id)).state, 'expired', 'shown expired even before the next pass');
  await notifier.sync();
  assert.equal((await get(invoice.id)).state, 'expired');
  assert.deepEqual(await ledger(invoice.id), []);
  pay(invoice, 7_815);
  await notifier.sync();
  const settled = await get(invoice.id);
  assert.equal(settled.state, 'settled');
  assert.deepEqual(settled.flags, { partial: false, over: false, late: true });
  assert.deepEqual(describeLedger(await ledger(invoice.id)), ['payment:2000:14815']);
});

test('paid only after it expired, within the watch: settled and flagged late; a donation invoice records a donation', async () => {
  const invoice = await create({ cents: 2_000, memo: 'For the laser cutter fund' });
  clock.advance(EXPIRY + MINUTE);
  await notifier.sync();
  assert.equal((await get(invoice.id)).state, 'expired');
  pay(invoice, 14_815);
  await notifier.sync();
  const settled = await get(invoice.id);
  assert.deepEqual([settled.state, settled.flags.late], ['settled', true]);
  assert.deepEqual(describeLedger(await ledger(invoice.id)), ['donation:2000:14815']);
  await eventually(
    () => heard.includes(`${invoice.id}:expired`) && heard.includes(`${invoice.id}:settled`),
    () => heard.join(', '),
  );
});

test('paid after the watch ended: nothing settles, the invoice is invalid, an alarm asks for a refund', async () => {
  const invoice = await create({ cents: 2_000, memberId: ada });
  const partlyPaid = await create({ cents: 2_000, memberId: ada });
  pay(partlyPaid, 7_000);
  await notifier.sync();
  clock.advance(EXPIRY + LATE_WATCH + MINUTE);
  await notifier.sync();
  assert.equal((await get(invoice.id)).state, 'expired');
  const leftover = await get(partlyPaid.id);
  assert.deepEqual([leftover.state, leftover.flags.partial], ['expired', true]);
  // What a member paid towards an invoice that never settled stays theirs: 7,000 sats are 9.45 CAD.
  assert.deepEqual(describeLedger(await ledger(partlyPaid.id)), ['payment:945:7000']);
  pay(invoice, 14_815);
  await notifier.sync();
  const invalid = await get(invoice.id);
  assert.deepEqual([invalid.state, invalid.paidSats], ['invalid', 0]);
  assert.deepEqual(await ledger(invoice.id), []);
  await eventually(
    () => heard.includes(`alarm:invoice:${invoice.id}:false`),
    () => heard.join(', '),
  );
});

test('one transaction paying two invoices and a member’s deposit address credits each of them', async () => {
  const dues = await create({ cents: 2_000, memberId: bob });
  const drink = await create({ cents: 400, product: 'club-mate' });
  const deposit = (await cli.request(DepositAddress, { memberId: ada })) as { address: string };
  const adaBefore = await statementCents(ada);
  const script = (address: string) => parseAddress(address, NETWORKS.regtest).script;
  chain.send([
    { script: script(dues.address), value: 14_815 },
    { script: script(drink.address), value: 2_963 },
    { script: script(deposit.address), value: 30_000 },
  ]);
  await notifier.sync();
  assert.deepEqual([(await get(dues.id)).state, (await get(drink.id)).state], ['settled', 'settled']);
  assert.deepEqual(describeLedger(await ledger(dues.id)), ['payment:2000:14815']);
  assert.deepEqual(describeLedger(await ledger(drink.id)), ['purchase:-400:2963']);
  // 30,000 sats at 135,000 CAD are 40.50 CAD.
  assert.equal(await statementCents(ada), adaBefore + 4_050);
});

test('a double spent payment: a member’s credit is taken back and the invoice is invalid; a sale stays, with an alarm', async () => {
  const dues = await create({ cents: 2_000, memberId: ada });
  const drink = await create({ cents: 400, product: 'club-mate' });
  const duesTx = pay(dues, 14_815);
  const drinkTx = pay(drink, 2_963);
  await notifier.sync();
  assert.deepEqual([(await get(dues.id)).state, (await get(drink.id)).state], ['settled', 'settled']);
  chain.replace(duesTx, [{ script: Uint8Array.from([0x51]), value: 14_000 }]);
  chain.replace(drinkTx, [{ script: Uint8Array.from([0x51]), value: 2_900 }]);
  chain.mine(1);
  await notifier.sync();
  assert.equal((await get(dues.id)).state, 'invalid');
  assert.deepEqual(describeLedger(await ledger(dues.id)), ['payment:2000:14815', 'adjustment:-2000:null']);
  assert.equal((await get(drink.id)).state, 'invalid');
  assert.deepEqual(describeLedger(await ledger(drink.id)), ['purchase:-400:2963']);
  await eventually(
    () => heard.includes(`alarm:invoice:${drink.id}:false`),
    () => heard.join(', '),
  );
  await notifier.sync();
  assert.equal((await ledger(dues.id)).length, 2, 'taken back once');
});

test('while the Reporter is away a paid invoice raises an alarm; it is credited once when the Reporter returns', async () => {
  const reporter = services.find((service) => service.name === 'reporter')!;
  await reporter.stop();
  const invoice = await create({ cents: 2_000, memberId: bob });
  pay(invoice, 14_815);
  await notifier.sync();
  await eventually(
    () => heard.includes(`alarm:invoice:${invoice.id}:false`),
    () => heard.join(', '),
  );
  assert.equal((await get(invoice.id)).state, 'processing', 'paid, not yet in the ledger');
  const returned = createReporter(await h.context('reporter'), database);
  await returned.start();
  services.splice(services.indexOf(reporter), 1, returned);
  await notifier.sync();
  assert.equal((await get(invoice.id)).state, 'settled');
  assert.deepEqual(describeLedger(await ledger(invoice.id)), ['payment:2000:14815']);
  await eventually(
    () => heard.includes(`alarm:invoice:${invoice.id}:true`),
    () => heard.join(', '),
  );
});

test('a reversal whose answer is lost is sent again once the Reporter returns, even though the chain moved on', async () => {
  const before = await statementCents(ada);
  const invoice = await create({ cents: 2_000, memberId: ada });
  const paid = pay(invoice, 14_815);
  await notifier.sync();
  assert.equal((await get(invoice.id)).state, 'settled');
  assert.equal(await statementCents(ada), before + 2_000);
  const reporter = services.find((service) => service.name === 'reporter')!;
  await reporter.stop();
  chain.replace(paid, [{ script: Uint8Array.from([0x51]), value: 14_000 }]);
  chain.mine(1);
  await notifier.sync();
  await eventually(
    () => heard.includes(`alarm:invoice:${invoice.id}:false`),
    () => heard.join(', '),
  );
  const stored = await (database.db as Kysely<ChainNotifierTables>)
    .selectFrom('chain_notifier_invoices')
    .selectAll()
    .where('id', '=', invoice.id)
    .executeTakeFirstOrThrow();
  assert.deepEqual([stored.credited, stored.credit_cover], [0, null], 'the state after the reversal is stored first');
  assert.match(stored.pending_entry ?? '', new RegExp(`"causedBy":"invoice:${invoice.id}/reversal/0"`));
  const returned = createReporter(await h.context('reporter'), database);
  await returned.start();
  services.splice(services.indexOf(reporter), 1, returned);
  await notifier.sync();
  assert.deepEqual(describeLedger(await ledger(invoice.id)), ['payment:2000:14815', 'adjustment:-2000:null'], 'reversed once');
  assert.equal(await statementCents(ada), before);
  await eventually(
    () => heard.includes(`alarm:invoice:${invoice.id}:true`),
    () => heard.join(', '),
  );
  await notifier.sync();
  assert.equal((await ledger(invoice.id)).length, 2, 'a further pass changes nothing');
  assert.equal(await statementCents(ada), before);
  assert.equal((await get(invoice.id)).state, 'invalid');
});

test('invoices are listed newest first, by member or by state', async () => {
  const { invoices } = (await cli.request(InvoiceList, { memberId: ada })) as { invoices: InvoiceSummary[] };
  assert.ok(invoices.length >= 5);
  assert.ok(invoices.every((invoice) => invoice.memberId === ada));
  assert.deepEqual(
    invoices.map((invoice) => invoice.createdAt),
    invoices.map((invoice) => invoice.createdAt).sort((a, b) => b - a),
  );
  const settled = (await cli.request(InvoiceList, { state: 'settled', limit: 3 })) as { invoices: InvoiceSummary[] };
  assert.equal(settled.invoices.length, 3);
  assert.ok(settled.invoices.every((invoice) => invoice.state === 'settled'));
});

test('a client not in the creators may neither make nor read invoices', async () => {
  const stranger = await h.client('stranger', { extra: { pub: ['dctrl/v1/chain-notifier/rpc/#'] } });
  const made = await refusal(create({ cents: 2_000 }, stranger));
  assert.equal(made.code, 'AUTH_PROXY_ASKER_NOT_ALLOWED');
  const { invoices } = (await cli.request(InvoiceList, { limit: 1 })) as { invoices: InvoiceSummary[] };
  const read = await refusal(stranger.request(InvoiceGet, { id: invoices[0]!.id }));
  assert.equal(read.code, 'AUTH_PROXY_ASKER_NOT_ALLOWED');
});

test('malformed requests are refused: amounts not in positive whole cents, a member and a product at once, unknown ones', async () => {
  for (const cents of [-5, 0, 12.5]) {
    const error = await refusal(create({ cents }));
    assert.ok(error instanceof AuthProxyError && error.code === 'AUTH_PROXY_PAYLOAD_INVALID', `${cents} cents`);
  }
  const both = await refusal(create({ cents: 400, memberId: ada, product: 'club-mate' }));
  assert.equal(both.code, 'CHAIN_NOTIFIER_INVOICE_INVALID');
  const nobody = await refusal(create({ cents: 400, memberId: 'nobody' }));
  assert.deepEqual([nobody.code, nobody.message], ['CHAIN_NOTIFIER_INVOICE_INVALID', nobody.message]);
  assert.match(nobody.message, /no member nobody/);
  const unknownProduct = await refusal(create({ cents: 400, product: 'caviar' }));
  assert.equal(unknownProduct.code, 'CHAIN_NOTIFIER_INVOICE_INVALID');
  assert.match(unknownProduct.message, /club-mate/);
  const missing = await refusal(cli.request(InvoiceGet, { id: '01JZZZZZZZZZZZZZZZZZZZZZZZ' }));
  assert.equal(missing.code, 'CHAIN_NOTIFIER_INVOICE_NOT_FOUND');
});

test('with no fresh rate an invoice is refused with a code, and none is made', async () => {
  const fixed = services.find((service) => service.name === 'price-notifier')!;
  await fixed.stop();
  services.splice(services.indexOf(fixed), 1);
  const context = await h.context('price-notifier');
  const unreachable = testConfig(h.dataDir, {
    priceNotifier: { sources: [{ kind: 'kraken', name: 'kraken', baseUrl: 'http://127.0.0.1:9', timeoutMs: 500 }] },
  });
  const failing = createPriceNotifier({ ...context, config: { ...h.config, priceNotifier: unreachable.priceNotifier } });
  await failing.start();
  services.push(failing);
  const count = async () => ((await cli.request(InvoiceList, { limit: 50 })) as { invoices: unknown[] }).invoices.length;
  const before = await count();
  const refused = await refusal(create({ cents: 2_000, memberId: ada }));
  assert.equal(refused.code, 'CHAIN_NOTIFIER_NO_RATE');
  assert.match(refused.message, /PRICE_NOTIFIER_/);
  assert.equal(await count(), before);
});
