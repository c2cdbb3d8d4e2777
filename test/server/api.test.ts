// The REST API over real HTTP against the real services on a real bus: reports, ledger, invoices, devices,
// decisions and the event log with real data (members who joined, payments the command line recorded, an invoice
// the ChainNotifier made on the simulated chain at the PriceNotifier's rate, a door's heartbeat and tap); staff
// routes refused to a member's login and the event log to a treasurer; malformed query values refused naming them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { InvoiceCreate } from '../../src/core/messages-chain.js';
import { MachineActuation, MachineStatus, MachineTap } from '../../src/core/messages-machine.js';
import { doorStatus } from './door-status.js';
import { LedgerRecord, MemberCommand } from '../../src/core/messages.js';
import type { Service } from '../../src/core/service.js';
import { createPriceNotifier } from '../../src/price-notifier/index.js';
import { createServer } from '../../src/server/index.js';
import { startServerHub, type ServerHub } from './hub.js';

const ADA_FOB = { hash: 'a1'.repeat(32), lastDigits: '111' };

interface Page<T> {
  next: string | null;
  entries?: T[];
}

describe('server: reports, ledger, invoices, devices, decisions and events', () => {
  // 10:00 in Vancouver (the default space zone) on 2 November 2026: inside the default door hours.
  const clock = new ManualClock(Date.UTC(2026, 10, 2, 18));
  let hub: ServerHub;
  let door: BusClient;
  let prices: Service;
  let ada: string;
  let ken: string;
  let admin: string;
  let treasurer: string;
  let member: string;
  let invoiceId: string;

  const json = async <T>(path: string, cookie: string): Promise<T> => {
    const response = await hub.call(path, { cookie });
    assert.equal(response.status, 200, `${path}: ${response.status} ${await response.clone().text()}`);
    return (await response.json()) as T;
  };

  before(async () => {
    hub = await startServerHub({
      clock,
      config: {
        server: { port: 0, sessionIdleMinutes: 24 * 60, apiClients: { 'door-display': 'treasurer' } },
        vault: { tokenTtlSeconds: 7 * 86_400, directoryTtlSeconds: 7 * 86_400 },
      },
    });
    hub.h.keeper.ensureClient('price-notifier');
    await hub.h.vault.publishChanges();
    prices = createPriceNotifier(await hub.h.context('price-notifier'));
    await prices.start();
    ada = await hub.join('Ada Lovelace', 'ada@example.org');
    ken = await hub.join('Ken Thompson', 'ken@example.org');
    await hub.cli.request(MemberCommand, { action: 'issue-fob', memberId: ada, fob: ADA_FOB });
    await hub.cli.request(LedgerRecord, { kind: 'payment', memberId: ada, cents: 5_000, method: 'cash', causedBy: 'receipt-1' });
    await hub.cli.request(LedgerRecord, { kind: 'donation', cents: 1_000, method: 'cash', causedBy: 'jar-1' });
    const created = (await hub.cli.request(InvoiceCreate, { cents: 350, memo: 'A drink at the bar' })) as {
      invoice: { id: string };
    };
    invoiceId = created.invoice.id;
    await hub.user('root', 'admin');
    await hub.user('tess', 'treasurer');
    await hub.user('ada', 'member', ada);
    admin = await hub.login('root');
    treasurer = await hub.login('tess');
    member = await hub.login('ada');
    door = await hub.h.client('front-door');
  });
  after(async () => {
    await prices?.stop();
    await hub?.stop();
  });

  test('income of a month as JSON and CSV; the current month in the space’s zone when none is named', async () => {
    const income = await json<{ month: string; totals: { receivedCents: number; receivedCashCents: number } }>(
      '/api/v1/reports/income?month=2026-11',
      treasurer,
    );
    assert.equal(income.month, '2026-11');
    assert.equal(income.totals.receivedCents, 6_000, 'a payment of 50.00 and a donation of 10.00');
    assert.equal(income.totals.receivedCashCents, 6_000);
    assert.deepEqual(await json('/api/v1/reports/income', treasurer), income);
    const csv = await hub.call('/api/v1/reports/income?month=2026-11&format=csv', { cookie: treasurer });
    assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
    const lines = (await csv.text()).trim().split('\n');
    assert.equal(lines[0], 'month,section,source,method,currency,entries,cents,amount,sats');
    assert.ok(lines.some((line) => line.startsWith('2026-11,received,member-payments,cash,CAD,1,5000,')));
    const empty = await json<{ lines: unknown[] }>('/api/v1/reports/income?month=2026-09', treasurer);
    assert.deepEqual(empty.lines, []);
  });

  test('income by month for the chart: oldest first, ending with the current month, in the space’s currency', async () => {
    const chart = await json<{ currency: string; months: { month: string; receivedCents: number; earnedCents: number }[] }>(
      '/api/v1/reports/income-by-month?months=3',
      admin,
    );
    assert.equal(chart.currency, 'CAD');
    assert.deepEqual(
      chart.months.map((line) => line.month),
      ['2026-09', '2026-10', '2026-11'],
    );
    assert.deepEqual(chart.months[0], { month: '2026-09', receivedCents: 0, earnedCents: 0 });
    const november = await json<{ totals: { receivedCents: number; earnedCents: number } }>(
      '/api/v1/reports/income?month=2026-11',
      admin,
    );
    assert.deepEqual(chart.months[2], {
      month: '2026-11',
      receivedCents: november.totals.receivedCents,
      earnedCents: november.totals.earnedCents,
    });
    const year = await json<{ months: { month: string }[] }>('/api/v1/reports/income-by-month', admin);
    assert.equal(year.months.length, 12);
    assert.equal(year.months[0]!.month, '2025-12');
  });

  test('balances a page at a time, as JSON and as CSV with the next page in a header', async () => {
    const all = await json<{ balances: { memberId: string; balanceCents: number }[]; next: string | null }>(
      '/api/v1/reports/balances',
      treasurer,
    );
    const adaLine = all.balances.find((line) => line.memberId === ada);
    assert.ok(adaLine, 'Ada has paid, so her balance is not zero');
    const first = await json<{ balances: unknown[]; next: string | null }>('/api/v1/reports/balances?limit=1', treasurer);
    assert.equal(first.balances.length, 1);
    assert.equal(first.next === null, all.balances.length === 1);
    const csv = await hub.call('/api/v1/reports/balances?format=csv&limit=1', { cookie: treasurer });
    assert.match(await csv.text(), /^memberId,name,status,balanceCents,balance\n/);
    assert.equal(csv.headers.get('x-next'), first.next);
  });

  test('the ledger in the order recorded: after a cursor, one member’s, and as CSV', async () => {
    interface Entry {
      id: string;
      kind: string;
      memberId: string | null;
      cents: number;
      recordedBy: string;
    }
    const all = await json<Page<Entry>>('/api/v1/ledger', treasurer);
    const entries = all.entries!;
    const payment = entries.find((entry) => entry.kind === 'payment')!;
    assert.deepEqual([payment.memberId, payment.cents, payment.recordedBy], [ada, 5_000, 'cli']);
    assert.ok(entries.some((entry) => entry.kind === 'donation' && entry.memberId === null));
    const rest = await json<Page<Entry>>(`/api/v1/ledger?after=${entries[0]!.id}`, treasurer);
    assert.deepEqual(
      rest.entries!.map((entry) => entry.id),
      entries.slice(1).map((entry) => entry.id),
    );
    const paged = await json<Page<Entry>>('/api/v1/ledger?limit=1', treasurer);
    assert.equal(paged.next, entries[0]!.id);
    const kens = await json<Page<Entry>>(`/api/v1/ledger?memberId=${ken}`, treasurer);
    assert.ok(kens.entries!.every((entry) => entry.memberId === ken));
    const csv = await (await hub.call(`/api/v1/ledger?memberId=${ada}&format=csv`, { cookie: treasurer })).text();
    assert.match(csv, /^id,date,month,kind,memberId,method,currency,cents,amount,sats,causedBy,recordedBy,note\n/);
    assert.match(csv, /,payment,[0-9A-Z]+,cash,CAD,5000,50\.00,,receipt-1,cli,/);
  });

  test('invoices: the newest by state, and one with its QR code as SVG; an unknown id is 404', async () => {
    const open = await json<{ invoices: { id: string; state: string; cents: number; memo: string; qrSvg?: string }[] }>(
      '/api/v1/invoices?state=new',
      treasurer,
    );
    const listed = open.invoices.find((invoice) => invoice.id === invoiceId);
    assert.ok(listed, 'the new invoice is listed');
    assert.deepEqual([listed.state, listed.cents, listed.memo], ['new', 350, 'A drink at the bar']);
    assert.equal(listed.qrSvg, undefined, 'the list carries no QR codes');
    const settled = await json<{ invoices: unknown[] }>('/api/v1/invoices?state=settled', treasurer);
    assert.deepEqual(settled.invoices, []);
    const one = await json<{ id: string; uri: string; qrSvg: string; qrPng?: string }>(`/api/v1/invoices/${invoiceId}`, admin);
    assert.equal(one.id, invoiceId);
    assert.match(one.uri, /^bitcoin:/);
    assert.match(one.qrSvg, /<svg[\s\S]*<\/svg>/);
    assert.equal(one.qrPng, undefined);
    const unknown = await hub.call('/api/v1/invoices/01ARZ3NDEKTSV4RRFFQ69G5FAV', { cookie: admin });
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { code: string }).code, 'CHAIN_NOTIFIER_INVOICE_NOT_FOUND');
  });

  test('devices: online from a heartbeat until it expires, with the last actuation; one never heard is offline', async () => {
    type Device = {
      device: string;
      kind: string;
      online: boolean;
      lastSeenAt: number | null;
      lastActuationAt: number | null;
      lastActuation: { action: string; outcome: string } | null;
      detail: { mode: string; queuedVends: number } | null;
    };
    const devices = async () => (await json<{ devices: Device[] }>('/api/v1/devices', treasurer)).devices;
    const before = await devices();
    assert.deepEqual(
      before.map((device) => [device.device, device.kind, device.online, device.lastSeenAt]),
      [
        ['front-door', 'door', false, null],
        ['vending', 'vending', false, null],
      ],
    );
    const beatAt = clock.now();
    await door.publish(MachineStatus, doorStatus(beatAt), { expiresInMs: 30_000 });
    let frontDoor: Device | undefined;
    const heard = async () => {
      frontDoor = (await devices()).find((device) => device.device === 'front-door');
      return frontDoor?.online === true;
    };
    for (let tries = 0; tries < 100 && !(await heard()); tries++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(frontDoor?.online, true);
    assert.equal(frontDoor?.lastSeenAt, beatAt);
    assert.deepEqual(frontDoor?.detail, {
      mode: 'online',
      queuedVends: 0,
      offlineLogPending: 0,
      allowListVersion: null,
      allowListExpiresAt: null,
    });
    await door.publish(MachineActuation, {
      device: 'front-door',
      commandId: null,
      decisionId: null,
      action: 'open',
      output: 'door',
      sequence: 1,
      outcome: 'actuated',
      driver: 'simulated',
      latencyMs: 3,
      startedAt: beatAt,
      finishedAt: beatAt + 5,
    });
    for (let tries = 0; tries < 100 && (await devices())[0]!.lastActuation === null; tries++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    const acted = (await devices())[0]!;
    assert.equal(acted.lastActuationAt, beatAt + 5);
    assert.deepEqual(acted.lastActuation, { at: beatAt + 5, action: 'open', output: 'door', outcome: 'actuated' });
    // The heartbeat said it is good for 30 s: a device silent for longer is offline, its last sighting kept.
    clock.advance(31_000);
    const silent = (await devices())[0]!;
    assert.equal(silent.online, false);
    assert.equal(silent.lastSeenAt, beatAt);
  });

  test('decisions: a tap at the door appears with the member’s name; filters by device, member and time', async () => {
    type Decision = {
      decisionId: string;
      at: number;
      device: string;
      kind: string;
      memberId: string | null;
      memberName: string | null;
    };
    const tapAt = clock.now();
    const decided = async () =>
      (await json<{ decisions: Decision[] }>(`/api/v1/decisions?since=${tapAt}`, treasurer)).decisions.filter(
        (one) => one.memberId === ada,
      );
    // BusinessMgr may still be warming its cache (and not know the fob yet): tap again until it decides for Ada.
    for (let tries = 0; tries < 50 && (await decided()).length === 0; tries++) {
      await door.publish(MachineTap, { device: 'front-door', fob: ADA_FOB, at: clock.now(), reader: 'simulated' });
      const deadline = Date.now() + 200;
      while (Date.now() < deadline && (await decided()).length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const [decision] = await decided();
    assert.ok(decision, 'a decision for the tap');
    assert.deepEqual(
      [decision.device, decision.kind, decision.memberId, decision.memberName],
      ['front-door', 'door', ada, 'Ada Lovelace'],
    );
    const byDevice = await json<{ decisions: Decision[] }>('/api/v1/decisions?device=vending', treasurer);
    assert.deepEqual(byDevice.decisions, []);
    const byMember = await json<{ decisions: Decision[] }>(`/api/v1/decisions?memberId=${ada}`, treasurer);
    assert.ok(byMember.decisions.some((one) => one.decisionId === decision.decisionId));
    const later = await json<{ decisions: Decision[]; next: string | null }>(
      `/api/v1/decisions?since=${tapAt + 60_000}`,
      treasurer,
    );
    assert.deepEqual(later, { decisions: [], next: null });
    const firstPage = await json<{ decisions: Decision[]; next: string | null }>('/api/v1/decisions?limit=1', treasurer);
    assert.equal(firstPage.decisions.length, 1);
  });

  test('the event log: recent bus messages by type and issuer, paged forward, without fob hashes; admins only', async () => {
    type Event = { id: string; type: string; issuer: string; summary: Record<string, unknown> };
    type Events = { events: Event[]; next: string | null; gap: boolean };
    const taps = await json<Events>('/api/v1/events?type=machine.tap', admin);
    assert.ok(taps.events.length > 0, 'the taps of the decisions test');
    for (const event of taps.events) {
      assert.equal(event.type, 'machine.tap');
      assert.deepEqual(event.summary, { device: 'front-door', lastDigits: '111', reader: 'simulated' });
    }
    const body = JSON.stringify(await json<Events>('/api/v1/events?limit=200', admin));
    assert.ok(!body.includes(ADA_FOB.hash), 'no fob hash');
    assert.ok(!body.includes('ada@example.org') && !body.includes('Ada Lovelace'), 'no emails or names');
    const fromDoor = await json<Events>('/api/v1/events?issuer=front-door&limit=200', admin);
    assert.ok(fromDoor.events.every((event) => event.issuer === 'front-door'));
    assert.deepEqual(
      new Set(fromDoor.events.map((event) => event.type)),
      new Set(['service.status', 'machine.status', 'machine.actuation', 'machine.tap']),
    );
    // Forward from the first of the door's: one at a time, each page's next the cursor of the following one.
    const [first, second] = fromDoor.events;
    const page = await json<Events>(`/api/v1/events?issuer=front-door&after=${first!.id}&limit=1`, admin);
    assert.deepEqual(
      page.events.map((event) => event.id),
      [second!.id],
    );
    assert.equal(page.next, fromDoor.events.length > 2 ? second!.id : null);
    assert.equal(page.gap, false);
    const gone = await json<Events>('/api/v1/events?after=01ARZ3NDEKTSV4RRFFQ69G5FAV&limit=1', admin);
    assert.equal(gone.gap, true);
    assert.equal((await hub.call('/api/v1/events', { cookie: treasurer })).status, 403);
  });

  test('a member’s login, and a machine’s token mapped to treasurer where admins only may go, are refused', async () => {
    const staffRoutes = [
      '/api/v1/reports/income?month=2026-11',
      '/api/v1/reports/balances',
      '/api/v1/reports/income-by-month',
      `/api/v1/ledger?memberId=${ada}`,
      '/api/v1/invoices',
      `/api/v1/invoices/${invoiceId}`,
      '/api/v1/devices',
      `/api/v1/decisions?memberId=${ada}`,
      '/api/v1/events',
    ];
    for (const path of staffRoutes) {
      const response = await hub.call(path, { cookie: member });
      assert.equal(response.status, 403, path);
      assert.equal(((await response.json()) as { code: string }).code, 'SERVER_FORBIDDEN', path);
      assert.equal((await hub.call(path)).status, 401, `${path} without a login`);
    }
    const { token } = await hub.h.apiToken('door-display');
    const withToken = (path: string) => hub.call(path, { headers: { authorization: `Bearer ${token}` } });
    assert.equal((await withToken('/api/v1/devices')).status, 200);
    assert.equal((await withToken('/api/v1/events')).status, 403);
  });

  test('malformed query values are refused with 400 naming the parameter', async () => {
    const cases: [string, RegExp][] = [
      ['/api/v1/reports/income?month=2026-13', /month/],
      ['/api/v1/reports/income?format=xml', /format/],
      ['/api/v1/reports/balances?limit=0', /limit/],
      ['/api/v1/reports/balances?limit=201', /limit/],
      ['/api/v1/reports/income-by-month?months=0', /months/],
      ['/api/v1/reports/income-by-month?months=37', /months/],
      ['/api/v1/reports/income-by-month?months=twelve', /months/],
      ['/api/v1/ledger?after=not-an-entry-id', /after/],
      ['/api/v1/ledger?memberId=ada%20lovelace', /memberId/],
      ['/api/v1/invoices?state=paid', /state/],
      ['/api/v1/invoices?limit=51', /limit/],
      ['/api/v1/invoices/not-an-invoice', /invoiceId/],
      ['/api/v1/decisions?since=yesterday', /since/],
      ['/api/v1/decisions?since=-1', /since/],
      ['/api/v1/decisions?device=Front%20Door', /device/],
      ['/api/v1/decisions?before=123', /before/],
      ['/api/v1/events?type=Machine%20Tap', /type/],
      ['/api/v1/events?issuer=-door', /issuer/],
      ['/api/v1/events?after=x', /after/],
      ['/api/v1/events?limit=1000', /limit/],
    ];
    for (const [path, names] of cases) {
      const response = await hub.call(path, { cookie: admin });
      assert.equal(response.status, 400, path);
      const body = (await response.json()) as { code: string; message: string };
      assert.equal(body.code, 'SERVER_BAD_REQUEST', path);
      assert.match(body.message, names, `${path}: ${body.message}`);
    }
    const unknown = await hub.call('/api/v1/devices?colour=red', { cookie: admin });
    assert.equal(unknown.status, 200, 'a route without a query schema ignores the query');
    const extra = await hub.call('/api/v1/ledger?colour=red', { cookie: admin });
    assert.equal(extra.status, 400, 'a parameter the route does not take');
  });

  test('a Server started after a device’s last heartbeat knows it: retained, or kept by its session', async () => {
    await door.publish(
      MachineStatus,
      doorStatus(clock.now(), {
        mode: 'offline',
        allowList: { version: 3, expiresAt: clock.now() + 86_400_000, entries: 2 },
        offlineLogPending: 4,
      }),
      { expiresInMs: 30_000 },
    );
    const beatAt = clock.now();
    // Heard by the running Server first. The next one gets it again as the retained heartbeat, or sooner from its
    // persistent session, the moment it connects: its board must already be listening then (devices.ts).
    const heardAt = async () =>
      (await json<{ devices: { device: string; lastSeenAt: number | null }[] }>('/api/v1/devices', treasurer)).devices[0]!
        .lastSeenAt;
    for (let tries = 0; tries < 150 && (await heardAt()) !== beatAt; tries++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(await heardAt(), beatAt);
    // Last, since the hub's own Server stays stopped: a second client named server would take over its session.
    await hub.server.stop();
    const again = createServer(await hub.h.context('server'), hub.database);
    await again.start();
    try {
      type Device = {
        device: string;
        online: boolean;
        lastSeenAt: number;
        detail: { mode: string; allowListVersion: number } | null;
      };
      const frontDoorNow = async () => {
        const response = await fetch(`${again.url}api/v1/devices`, { headers: { cookie: treasurer } });
        return ((await response.json()) as { devices: Device[] }).devices.find((device) => device.device === 'front-door')!;
      };
      // Retained messages come right after the subscription is granted, and are checked like any other first.
      let frontDoor = await frontDoorNow();
      for (let tries = 0; tries < 150 && frontDoor.detail === null; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        frontDoor = await frontDoorNow();
      }
      assert.deepEqual(
        [frontDoor.online, frontDoor.lastSeenAt, frontDoor.detail?.mode, frontDoor.detail?.allowListVersion],
        [true, beatAt, 'offline', 3],
      );
    } finally {
      await again.stop();
    }
  });
});
