// Vending paid in bitcoin, end to end on a real regtest node (bcoin over the Bitcoin Core RPC adaptor): the command
// line makes an invoice for a product, the node pays it, the ChainNotifier settles it at the PriceNotifier's fixed
// demo rate, BusinessMgr signs a vend for it, and the vending machine's MachineMgr pulses its output, once.
import assert from 'node:assert/strict';
import type { Kysely } from 'kysely';
import { after, before, test } from 'node:test';
import { DateTime } from 'luxon';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { BitcoinCoreAdaptor } from '../../src/chain-adaptor/index.js';
import { createChainNotifier } from '../../src/chain-notifier/index.js';
import type { InvoiceWithQr } from '../../src/chain-notifier/invoices.js';
import type { BusinessMgr } from '../../src/business-mgr/index.js';
import { NETWORKS, parseAddress } from '../../src/core/bitcoin/index.js';
import type { PayloadOf } from '../../src/core/contract.js';
import { ChainInvoice, ChainPayments, InvoiceCreate, InvoiceGet } from '../../src/core/messages-chain.js';
import { DecisionsQuery, type Decision } from '../../src/core/messages-machine.js';
import { ReportRequest, SettingSet, SettingsGet } from '../../src/core/messages.js';
import { createPriceNotifier } from '../../src/price-notifier/index.js';
import type { IncomeReport } from '../../src/reporter/reports.js';
import type { LedgerRow, ReporterTables } from '../../src/reporter/store.js';
import { startBcoin, type Bcoin } from '../helpers/bcoin.js';
import { eventually } from '../helpers/harness.js';
import { testDescriptor } from '../chain-notifier/watcher-cases.js';
import { startSpace, VENDING, type Space } from './space.js';

/** The PriceNotifier's default fixed demo rate: 135,000.00 CAD per bitcoin. */
const RATE = 13_500_000;
const PRICE = 350;
/** 3.50 CAD at the demo rate is 2,592.6 sats, rounded up. */
const PRICE_SATS = 2_593;
const POLL_MS = 200;
/** Long enough for several chain passes and the bus round trips after them: a vend that was coming has come. */
const SETTLE_MS = 8 * POLL_MS;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let node: Bcoin | undefined;
let space: Space | undefined;
let cli: BusClient;
let businessMgr: BusinessMgr;
/** The space's month when the tests run (23:30 on the last day of November in Vancouver, for half an hour). */
let month: string;
/** Every invoice change the ChainNotifier announced, as `<id>:<previous>><state>`. */
const heard: string[] = [];

const running = (): Space => {
  assert.ok(space, 'the space is running');
  return space;
};
const chain = (): Bcoin => {
  assert.ok(node, 'the regtest node is running');
  return node;
};
const pulses = () => running().devices[VENDING]!.driver.pulses();
const create = async (request: PayloadOf<typeof InvoiceCreate>) =>
  ((await cli.request(InvoiceCreate, request)) as { invoice: InvoiceWithQr }).invoice;
const get = async (id: string) => ((await cli.request(InvoiceGet, { id })) as { invoice: InvoiceWithQr }).invoice;
const pay = (address: string, sats: number) =>
  chain().pay([{ script: parseAddress(address, NETWORKS.regtest).script, value: sats }]);
const decisionsFor = async (invoiceId: string) =>
  ((await cli.request(DecisionsQuery, { invoiceId, limit: 10 })) as { decisions: Decision[] }).decisions;
/** The ledger entries an invoice caused, read from the Reporter's table. */
const ledger = (invoiceId: string): Promise<LedgerRow[]> =>
  (running().database.db as Kysely<ReporterTables>)
    .selectFrom('reporter_ledger')
    .selectAll()
    .where('caused_by', 'like', `invoice:${invoiceId}%`)
    .orderBy('id')
    .execute();
const describeLedger = (rows: LedgerRow[]) => rows.map((row) => `${row.kind}:${row.method}:${row.cents}:${row.sats}`);
const vendingByBitcoin = async () => {
  const report = (await cli.request(ReportRequest, { report: 'income', month, format: 'json' })) as { json: IncomeReport };
  const line = (section: string) =>
    report.json.lines.find((entry) => entry.section === section && entry.source === 'vending' && entry.method === 'bitcoin');
  return { earned: line('earned') ?? null, received: line('received') ?? null };
};

/** Polls until predicate holds for the invoice, or fails with what the invoice was last. */
async function invoiceUntil(id: string, predicate: (invoice: InvoiceWithQr) => boolean, what: string): Promise<InvoiceWithQr> {
  const deadline = Date.now() + 10_000;
  let last: InvoiceWithQr | undefined;
  while (Date.now() < deadline) {
    last = await get(id);
    if (predicate(last)) return last;
    await sleep(50);
  }
  throw new Error(`invoice ${id} never ${what}: state ${last?.state}, paid ${last?.paidSats} sats`);
}

/** The one decision for an invoice once the machine reported how the vend went. */
async function decisionWithOutcome(invoiceId: string): Promise<Decision> {
  const deadline = Date.now() + 10_000;
  let found: Decision[] = [];
  while (Date.now() < deadline) {
    found = await decisionsFor(invoiceId);
    if (found.length > 0 && found.every((decision) => decision.outcome !== null)) return found[0]!;
    await sleep(50);
  }
  throw new Error(`no decision with an outcome for invoice ${invoiceId}: ${JSON.stringify(found)}`);
}

/**
 * Waits until the ChainNotifier counts `confirmations` for the payment: it counts from the tip it has processed, so
 * after this its passes have seen that tip (and what they would vend, they have announced).
 */
async function processed(txid: string, confirmations: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  let seen: { txid: string; confirmations: number }[] = [];
  while (Date.now() < deadline) {
    ({ payments: seen } = (await cli.request(ChainPayments, {})) as { payments: typeof seen });
    if (seen.some((payment) => payment.txid === txid && payment.confirmations >= confirmations)) return;
    await sleep(50);
  }
  const mine = seen.filter((payment) => payment.txid === txid);
  throw new Error(`the ChainNotifier never counted ${confirmations} confirmation(s) of ${txid}: ${JSON.stringify(mine)}`);
}

before(async () => {
  node = await startBcoin();
  // A hundred blocks until the first coinbase coin matures, and a few coins to pay with.
  await node.mine(110);
  const tip = (await node.rpc('getblockcount')) as number;
  const adaptor = new BitcoinCoreAdaptor({
    url: node.url,
    network: 'regtest',
    user: 'x',
    password: node.password,
    timeoutMs: 10_000,
  });
  space = await startSpace({
    config: {
      chain: { network: 'regtest' },
      chainNotifier: { depositDescriptor: testDescriptor().text, pollMs: POLL_MS, startHeight: tip },
    },
    async moreHub(h, database) {
      for (const name of ['price-notifier', 'chain-notifier']) h.keeper.ensureClient(name);
      await h.vault.publishChanges();
      return [
        createPriceNotifier(await h.context('price-notifier')),
        createChainNotifier(await h.context('chain-notifier'), database, { adaptor }),
      ];
    },
  });
  cli = space.cli;
  businessMgr = space.hub.find((service) => service.name === 'business-mgr') as BusinessMgr;
  month = DateTime.fromMillis(space.clock.now(), { zone: 'America/Vancouver' }).toFormat('yyyy-MM');
  // Invoices travel sealed; the Server is one of their readers.
  const listener = await space.h.client('server', { extra: { sub: ['dctrl/v1/chain-notifier/invoice'] } });
  await listener.listen(ChainInvoice, (invoice) => void heard.push(`${invoice.id}:${invoice.previousState}>${invoice.state}`));
});
after(async () => {
  await space?.stop();
  await node?.stop();
});

test('an invoice for a Club-Mate paid exactly on the node vends one, records the decision, and books the sale once', async () => {
  const before = pulses().length;
  const incomeBefore = await vendingByBitcoin();
  const invoice = await create({ cents: PRICE, product: 'club-mate' });
  assert.deepEqual([invoice.state, invoice.sats, invoice.rate.centsPerBtc], ['new', PRICE_SATS, RATE]);
  await sleep(SETTLE_MS);
  assert.equal(pulses().length, before, 'nothing vends for an unpaid invoice');

  const txid = await pay(invoice.address, invoice.sats);
  // 2,593 sats are within the first row of the default policy: settled with no confirmation.
  const settled = await invoiceUntil(invoice.id, (found) => found.state === 'settled', 'settled');
  assert.deepEqual([settled.paidSats, settled.flags], [PRICE_SATS, { partial: false, over: false, late: false }]);
  await eventually(
    () => pulses().length > before,
    () => `a vend pulse; the invoice changes heard: ${heard.join(', ')}`,
    10_000,
  );
  const decision = await decisionWithOutcome(invoice.id);
  assert.deepEqual(
    {
      allowed: decision.allowed,
      via: decision.via,
      reason: decision.reason,
      count: decision.count,
      outcome: decision.outcome,
      kind: decision.kind,
      device: decision.device,
      product: decision.product,
      invoiceId: decision.invoiceId,
      memberId: decision.memberId,
      tapId: decision.tapId,
      cents: decision.cents,
    },
    {
      allowed: true,
      via: 'bitcoin',
      reason: 'invoice-paid',
      count: 1,
      outcome: 'actuated',
      kind: 'vend',
      device: VENDING,
      product: 'club-mate',
      invoiceId: invoice.id,
      memberId: null,
      tapId: null,
      cents: PRICE,
    },
  );

  // Mined, then buried under more blocks: each pass sees the payment again; nothing vends or books twice.
  await chain().mine(1);
  await processed(txid, 1);
  await chain().mine(3);
  await processed(txid, 4);
  await sleep(SETTLE_MS);
  assert.deepEqual(
    pulses()
      .slice(before)
      .map((pulse) => `${pulse.action}:${pulse.output}`),
    ['vend:club-mate'],
    'exactly one Club-Mate',
  );
  assert.equal((await decisionsFor(invoice.id)).length, 1, 'one decision for the invoice');
  assert.deepEqual(
    heard.filter((change) => change.startsWith(`${invoice.id}:`) && change.endsWith('>settled')),
    [`${invoice.id}:new>settled`],
    'announced settled once',
  );
  assert.deepEqual(describeLedger(await ledger(invoice.id)), [`purchase:bitcoin:-${PRICE}:${PRICE_SATS}`], 'the sale, once');
  const incomeAfter = await vendingByBitcoin();
  assert.deepEqual(
    [
      incomeAfter.earned?.entries,
      incomeAfter.earned?.cents,
      incomeAfter.received?.entries,
      incomeAfter.received?.cents,
      incomeAfter.received?.sats,
    ],
    [
      (incomeBefore.earned?.entries ?? 0) + 1,
      (incomeBefore.earned?.cents ?? 0) + PRICE,
      (incomeBefore.received?.entries ?? 0) + 1,
      (incomeBefore.received?.cents ?? 0) + PRICE,
      (incomeBefore.received?.sats ?? 0) + PRICE_SATS,
    ],
    'the income report shows the bitcoin sale once, earned and received',
  );
});

test('an overpayment covering two Club-Mates vends two, once; more blocks and re-announcements vend nothing more', async () => {
  const before = pulses().length;
  const invoice = await create({ cents: PRICE, product: 'club-mate' });
  // Two prices and some change: 6,186 sats are 8.35 CAD at the locked rate, two drinks and 1.35 over.
  const paid = 2 * invoice.sats + 1_000;
  const txid = await pay(invoice.address, paid);
  const settled = await invoiceUntil(invoice.id, (found) => found.state === 'settled', 'settled');
  assert.deepEqual([settled.paidSats, settled.flags.over], [paid, true]);
  await eventually(
    () => pulses().length >= before + 2,
    () => `two vend pulses, got ${pulses().length - before}`,
    10_000,
  );
  const decision = await decisionWithOutcome(invoice.id);
  assert.deepEqual(
    [decision.allowed, decision.via, decision.reason, decision.count, decision.outcome, decision.product, decision.cents],
    // The decision's cents are what was paid at the locked rate: 6,186 sats are 8.3511 CAD.
    [true, 'bitcoin', 'invoice-paid', 2, 'actuated', 'club-mate', 835],
  );

  await chain().mine(1);
  await processed(txid, 1);
  await chain().mine(2);
  await processed(txid, 3);
  // The same settled invoice heard again: once from BusinessMgr's own catch-up (as after a restart), once as the
  // ChainNotifier would re-announce it after a restart of its own, from another connection with its key.
  await businessMgr.catchUpInvoices();
  const again = await running().h.client('chain-notifier', { instance: 're-announce' });
  // The event carries the summary, not the QR codes.
  const summary = Object.fromEntries(Object.entries(await get(invoice.id)).filter(([key]) => !key.startsWith('qr')));
  await again.publish(ChainInvoice, { ...summary, previousState: 'processing' } as PayloadOf<typeof ChainInvoice>);
  await eventually(() => heard.includes(`${invoice.id}:processing>settled`), 'the re-announcement on the bus');
  await chain().mine(1);
  await processed(txid, 4);
  await sleep(SETTLE_MS);

  assert.deepEqual(
    pulses()
      .slice(before)
      .map((pulse) => `${pulse.action}:${pulse.output}`),
    ['vend:club-mate', 'vend:club-mate'],
    'exactly two Club-Mates',
  );
  assert.equal((await decisionsFor(invoice.id)).length, 1, 'one decision for the invoice');
  // Two drinks left the machine, so two are sold; the change beyond them is a donation; every sat booked once.
  const rows = await ledger(invoice.id);
  assert.deepEqual(
    describeLedger(rows).map((row) => row.split(':').slice(0, 2).join(':')),
    ['purchase:bitcoin', 'donation:bitcoin'],
  );
  assert.equal(rows[0]!.cents, -2 * PRICE, 'two sold at the price');
  assert.equal(new Set(rows.map((row) => row.caused_by)).size, rows.length, describeLedger(rows).join(', '));
  assert.equal(
    rows.reduce((total, row) => total + (row.sats ?? 0), 0),
    paid,
    `every sat booked once: ${describeLedger(rows).join(', ')}`,
  );
});

test('when the policy asks for a confirmation, nothing vends while the payment waits in the mempool; the block vends it', async () => {
  const { policies } = (await cli.request(SettingsGet, {})) as { policies: { confirmationsByAmount: unknown } };
  await cli.request(SettingSet, { kind: 'policy', key: 'confirmationsByAmount', value: [{ upToSats: null, confirmations: 1 }] });
  try {
    const before = pulses().length;
    const invoice = await create({ cents: PRICE, product: 'club-mate' });
    const txid = await pay(invoice.address, invoice.sats);
    await processed(txid, 0);
    await invoiceUntil(invoice.id, (found) => found.state === 'processing' && found.paidSats === PRICE_SATS, 'processing');
    await sleep(SETTLE_MS);
    assert.equal(pulses().length, before, 'an unconfirmed payment vends nothing');
    assert.deepEqual(await decisionsFor(invoice.id), []);
    await chain().mine(1);
    await eventually(() => pulses().length > before, 'a vend once the payment was mined', 10_000);
    const decision = await decisionWithOutcome(invoice.id);
    assert.deepEqual([decision.count, decision.outcome], [1, 'actuated']);
    await chain().mine(1);
    await processed(txid, 2);
    await sleep(SETTLE_MS);
    assert.equal(pulses().length, before + 1, 'one Club-Mate');
  } finally {
    await cli.request(SettingSet, { kind: 'policy', key: 'confirmationsByAmount', value: policies.confirmationsByAmount });
  }
});
