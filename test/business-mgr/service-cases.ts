// BusinessMgr on the bus with the real BusinessData, MemberData and Reporter, on SQLite or PostgreSQL: doors
// opened and denied, allow-lists, fob purchases charged once and refunded once, invoices vended once, offline logs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DateTime } from 'luxon';
import { createBusClient, type BusClient } from '../../src/auth-proxy/index.js';
import { createBusinessData } from '../../src/business-data/index.js';
import { createBusinessMgr, type BusinessMgr } from '../../src/business-mgr/index.js';
import { ManualClock } from '../../src/core/clock.js';
import type { PayloadOf } from '../../src/core/contract.js';
import { RemoteError } from '../../src/core/errors.js';
import { createIdFactory } from '../../src/core/ids.js';
import { ChainInvoice, InvoiceList } from '../../src/core/messages-chain.js';
import {
  AllowList,
  DecisionsQuery,
  MachineActuation,
  MachineCommand,
  MachineInput,
  MachineRefused,
  MachineTap,
  MachineTopics,
  OfflineLog,
  type Decision,
} from '../../src/core/messages-machine.js';
import {
  LedgerRecord,
  MemberCommand,
  MemberStatusChanged,
  ReporterRun,
  ReportRequest,
  SettingSet,
} from '../../src/core/messages.js';
import type { Service } from '../../src/core/service.js';
import type { DatabaseHandle } from '../../src/core/storage/index.js';
import { createMemberData } from '../../src/member-data/index.js';
import { createReporter } from '../../src/reporter/index.js';
import type { DatabaseFactory } from '../helpers/databases.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';

const ZONE = 'America/Vancouver';
const local = (iso: string) => DateTime.fromISO(iso, { zone: ZONE }).toMillis();
const DAY = 7 * 86_400;
type Command = PayloadOf<typeof MachineCommand> & { id: string };
type AllowListPayload = PayloadOf<typeof AllowList>;
type InvoicePayload = PayloadOf<typeof ChainInvoice>;

const fob = (digit: string, lastDigits: string) => ({ hash: digit.repeat(64), lastDigits });
const FOBS = {
  ada: fob('a', '111'),
  kay: fob('b', '222'),
  lee: fob('c', '333'),
  ina: fob('d', '444'),
  nobody: fob('e', '555'),
};
const MEMBERS_WINDOW = { days: [0, 1, 2, 3, 4, 5, 6], from: '06:00', to: '02:00' };

export function runBusinessMgrCases(name: string, factory: DatabaseFactory): void {
  describe(`business-mgr: ${name}`, () => {
    const clock = new ManualClock(local('2026-11-30T23:40'));
    const nextId = createIdFactory(clock);
    let h: Harness;
    let database: DatabaseHandle;
    let services: Service[];
    let mgr: BusinessMgr;
    let cli: BusClient;
    let door: BusClient;
    let vending: BusClient;
    let chain: BusClient;
    const ids: Record<string, string> = {};
    const commands: Record<string, Command[]> = { 'front-door': [], vending: [] };
    const allowLists: AllowListPayload[] = [];
    const statuses: string[] = [];
    let listedInvoices: InvoicePayload[] = [];

    const startMgr = async () => {
      mgr = createBusinessMgr(await h.context('business-mgr'), database);
      await mgr.start();
    };
    const tap = async (client: BusClient, who: { hash: string; lastDigits: string }, device = client.client) => {
      const envelope = await client.publish(MachineTap, { device, fob: who, at: clock.now(), reader: 'simulated' });
      return envelope.id;
    };
    const decisions = async (query: PayloadOf<typeof DecisionsQuery>) =>
      ((await cli.request(DecisionsQuery, query)) as { decisions: Decision[]; next: string | null }).decisions;
    const decisionOf = async (tapId: string): Promise<Decision> => {
      let found: Decision | undefined;
      const deadline = Date.now() + 5_000;
      while (!found && Date.now() < deadline) {
        found = (await decisions({ tapId }))[0];
        if (!found) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.ok(found, `a decision for tap ${tapId}`);
      return found;
    };
    const commandFor = async (device: string, tapId: string): Promise<Command> => {
      await eventually(() => commands[device]!.some((command) => command.tapId === tapId), `a command to ${device} for ${tapId}`);
      return commands[device]!.find((command) => command.tapId === tapId)!;
    };
    const statement = async (memberId: string) =>
      (
        (await cli.request(ReportRequest, { report: 'statement', memberId, format: 'json' })) as {
          json: { member: { balanceCents: number }; entries: { kind: string; cents: number; causedBy: string }[] };
        }
      ).json;
    const invoice = (fields: Partial<InvoicePayload>): InvoicePayload => ({
      id: nextId(),
      state: 'settled',
      previousState: 'processing',
      // One Club-Mate: a product invoice is for one at its price; paying a multiple buys that many.
      cents: 250,
      currency: 'CAD',
      sats: 2_500,
      // 100 000.00 CAD a bitcoin: 2 500 sats are 2.50
      rate: { centsPerBtc: 10_000_000, source: 'test', at: clock.now() },
      address: 'bcrt1qtest',
      uri: 'bitcoin:bcrt1qtest',
      memberId: null,
      product: 'club-mate',
      memo: null,
      createdAt: clock.now() - 60_000,
      expiresAt: clock.now() + 600_000,
      watchUntil: clock.now() + 3_600_000,
      settledAt: clock.now(),
      paidSats: 2_500,
      settledSats: null,
      flags: { partial: false, over: false, late: false },
      ...fields,
    });

    before(async () => {
      h = await startHarness({
        clock,
        config: {
          bus: { requestTimeoutMs: 3_000 },
          vault: { tokenTtlSeconds: DAY, directoryTtlSeconds: DAY },
          reporter: { checkIntervalMs: 3_600_000 },
          businessMgr: { tapMaxAgeMs: 2_000 },
          machines: {
            devices: {
              'front-door': { kind: 'door' },
              vending: { kind: 'vending', outputs: { 'club-mate': { driver: 'simulated' }, cola: { driver: 'simulated' } } },
            },
          },
        },
      });
      database = await factory.create();
      for (const client of ['business-data', 'member-data', 'reporter', 'business-mgr']) h.keeper.ensureClient(client);
      await h.vault.publishChanges();
      services = [
        createBusinessData(await h.context('business-data'), database),
        createMemberData(await h.context('member-data'), database),
        createReporter(await h.context('reporter'), database),
      ];
      for (const service of services) await service.start();
      cli = await h.client('cli', { extra: { sub: ['dctrl/v1/business-mgr/decision', 'dctrl/v1/reporter/#'] } });
      // Status changes carry balances, sealed to their readers: the Server is one.
      const observer = await h.client('server', { extra: { sub: ['dctrl/v1/reporter/#'] } });
      await observer.listen(MemberStatusChanged, (status) => void statuses.push(`${status.memberId}:${status.active}`));
      door = await h.client('front-door');
      vending = await h.client('vending');
      chain = await h.client('chain-notifier');
      for (const device of [door, vending]) {
        await device.listen(
          MachineCommand,
          (command, envelope) => void commands[device.client]!.push({ ...command, id: envelope.id }),
          MachineTopics.command(device.client),
        );
      }
      await door.listen(AllowList, (list) => void allowLists.push(list), MachineTopics.allowList('front-door'));
      await chain.respond(InvoiceList, () => ({ invoices: listedInvoices.map(({ previousState: _, ...rest }) => rest) }));

      const set = (kind: 'policy' | 'product', key: string, value: unknown, effectiveFrom?: string) =>
        cli.request(SettingSet, { kind, key, value, ...(effectiveFrom ? { effectiveFrom } : {}) });
      // No grace: dues unpaid when the month turns make a member inactive at once.
      await set('policy', 'graceDays', 0, '2026-11-01');
      await set('policy', 'doorHours', { members: [MEMBERS_WINDOW] }, '2026-11-01');
      await set('product', 'club-mate', { name: 'Club-Mate', priceCents: 250, machine: 'vending', output: 'club-mate' });
      await set('product', 'cola', { name: 'Cola', priceCents: 200, machine: 'vending', output: 'cola' });
      for (const [who, paid] of [
        ['ada', 8_000],
        ['kay', 7_500],
        ['lee', 7_500],
        ['ina', 0],
      ] as const) {
        const { member } = (await cli.request(MemberCommand, {
          action: 'join',
          name: who,
          email: `${who}@example.org`,
          tier: 'member',
        })) as { member: { memberId: string } };
        ids[who] = member.memberId;
        await cli.request(MemberCommand, { action: 'issue-fob', memberId: member.memberId, fob: FOBS[who] });
        if (paid > 0) {
          await cli.request(LedgerRecord, {
            kind: 'payment',
            memberId: member.memberId,
            cents: paid,
            method: 'cash',
            causedBy: `receipt-${who}`,
          });
        }
      }
      await cli.request(MemberCommand, { action: 'add-group', memberId: ids['kay']!, group: 'keyholders' });
      await eventually(
        () => statuses.length >= 4,
        () => statuses.join(', '),
      );
      await startMgr();
    });

    after(async () => {
      await mgr?.stop();
      for (const service of [...(services ?? [])].reverse()) await service.stop();
      await h?.stop();
      await database?.close();
      await factory.cleanup();
    });

    test('at start each door gets an allow-list: keyholders at all hours, members by their schedule', async () => {
      assert.ok(mgr.ready);
      await eventually(() => allowLists.length > 0, 'an allow-list');
      const list = allowLists.at(-1)!;
      assert.equal(list.device, 'front-door');
      assert.equal(list.timezone, ZONE);
      assert.equal(list.expiresAt, list.issuedAt + 72 * 3_600_000);
      assert.deepEqual(list.schedules, [[MEMBERS_WINDOW]]);
      assert.deepEqual(list.entries, [
        ['a'.repeat(32), 0],
        ['b'.repeat(32), -1],
        ['c'.repeat(32), 0],
        ['d'.repeat(32), 0],
      ]);
    });

    test('the month turns: a member who did not pay lapses and the door’s list is pushed again without them', async () => {
      const before = allowLists.at(-1)!;
      clock.advance(25 * 60_000);
      const run = (await cli.request(ReporterRun, { action: 'dues' })) as { charged: number };
      assert.equal(run.charged, 4);
      await eventually(
        () => statuses.includes(`${ids['ina']}:false`),
        () => statuses.join(', '),
      );
      await eventually(
        () => !allowLists.at(-1)!.entries.some(([key]) => key === 'd'.repeat(32)),
        'a list without the lapsed member',
      );
      const after = allowLists.at(-1)!;
      assert.ok(after.version > before.version, `${after.version} > ${before.version}`);
      assert.deepEqual(
        after.entries.map(([key]) => key[0]),
        ['a', 'b', 'c'],
      );
    });

    test('an active member’s tap opens the door, answering that tap; the decision is stored', async () => {
      const tapId = await tap(door, FOBS.ada);
      const command = await commandFor('front-door', tapId);
      assert.equal(command.action, 'open');
      assert.equal(command.device, 'front-door');
      const decision = await decisionOf(tapId);
      assert.equal(decision.decisionId, command.decisionId);
      assert.deepEqual(
        [decision.allowed, decision.reason, decision.memberId, decision.via],
        [true, 'member-active', ids['ada'], 'fob'],
      );
    });

    test('an inactive member, a member who left and an unknown fob are denied, each with its reason', async () => {
      await cli.request(MemberCommand, { action: 'leave', memberId: ids['lee']! });
      await eventually(() => !allowLists.at(-1)!.entries.some(([key]) => key === 'c'.repeat(32)), 'lee off the list');
      for (const [who, reason] of [
        ['ina', 'inactive'],
        ['lee', 'left'],
        ['nobody', 'unknown-fob'],
      ] as const) {
        const tapId = await tap(door, FOBS[who]);
        const command = await commandFor('front-door', tapId);
        assert.deepEqual([command.action, command.reason], ['deny', reason], who);
        const decision = await decisionOf(tapId);
        assert.deepEqual([decision.allowed, decision.reason], [false, reason]);
      }
    });

    test('a tap that reached BusinessMgr too late is denied as stale', async () => {
      const behind = new ManualClock(clock.now() - 5_000);
      const late = createBusClient({ ...(await h.context('front-door')), clock: behind }, { instance: 'late' });
      await late.start();
      try {
        const envelope = await late.publish(MachineTap, {
          device: 'front-door',
          fob: FOBS.ada,
          at: behind.now(),
          reader: 'simulated',
        });
        const command = await commandFor('front-door', envelope.id);
        assert.deepEqual([command.action, command.reason], ['deny', 'stale-tap']);
      } finally {
        await late.stop();
      }
    });

    test('a tap from a device that is not configured, or that claims another device, commands nothing', async () => {
      const stranger = await h.client('side-door');
      const strangerCommands: unknown[] = [];
      await stranger.listen(MachineCommand, (command) => void strangerCommands.push(command), MachineTopics.command('side-door'));
      const fromStranger = await tap(stranger, FOBS.ada);
      const claimingOther = await tap(door, FOBS.ada, 'vending');
      for (const tapId of [fromStranger, claimingOther]) {
        const decision = await decisionOf(tapId);
        assert.deepEqual([decision.allowed, decision.reason], [false, 'unknown-device']);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(strangerCommands.length, 0);
      assert.ok(!commands['front-door']!.some((command) => command.tapId === fromStranger || command.tapId === claimingOther));
      assert.ok(!commands['vending']!.some((command) => command.tapId === claimingOther));
    });

    test('a fob at the vending machine buys the product whose button was pressed, charged once', async () => {
      await vending.publish(MachineInput, { device: 'vending', input: 'club-mate', kind: 'button', value: 1, at: clock.now() });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const tapId = await tap(vending, FOBS.ada);
      const command = await commandFor('vending', tapId);
      assert.deepEqual([command.action, command.output, command.count], ['vend', 'club-mate', 1]);
      const decision = await decisionOf(tapId);
      assert.deepEqual([decision.kind, decision.product, decision.cents], ['vend', 'club-mate', 250]);
      const { member, entries } = await statement(ids['ada']!);
      assert.equal(member.balanceCents, 250, '8000 paid − 7500 dues − 250');
      assert.deepEqual(
        entries.filter((entry) => entry.kind === 'purchase').map((entry) => [entry.cents, entry.causedBy]),
        [[-250, `tap:${tapId}`]],
      );
    });

    test('two quick taps cannot overdraw: one vends, the other is denied for the balance', async () => {
      await vending.publish(MachineInput, { device: 'vending', input: 'club-mate', kind: 'button', value: 1, at: clock.now() });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const taps = await Promise.all([tap(vending, FOBS.ada), tap(vending, FOBS.ada)]);
      const answers = await Promise.all(taps.map((tapId) => commandFor('vending', tapId)));
      assert.deepEqual(answers.map((command) => command.action).sort(), ['deny', 'vend']);
      assert.equal(answers.find((command) => command.action === 'deny')!.reason, 'insufficient-balance');
      const { member, entries } = await statement(ids['ada']!);
      assert.equal(member.balanceCents, 0);
      assert.equal(entries.filter((entry) => entry.kind === 'purchase').length, 2);
      const denied = await decisionOf(taps[answers.findIndex((command) => command.action === 'deny')]!);
      assert.equal(denied.reason, 'insufficient-balance');
    });

    test('a vend the machine reports failed is refunded once, and the decision says so', async () => {
      const vend = commands['vending']!.filter((command) => command.action === 'vend').at(-1)!;
      const report = (sequence: number) =>
        vending.publish(MachineActuation, {
          device: 'vending',
          commandId: vend.id,
          decisionId: vend.decisionId,
          action: 'vend',
          output: 'club-mate',
          sequence,
          outcome: 'failed',
          driver: 'simulated',
          latencyMs: 3,
          startedAt: clock.now(),
          finishedAt: clock.now(),
          error: { code: 'MACHINE_JAMMED', message: 'jammed' },
        });
      await report(1);
      await report(1);
      let refunds: { cents: number; causedBy: string }[] = [];
      const deadline = Date.now() + 5_000;
      while (refunds.length === 0 && Date.now() < deadline) {
        refunds = (await statement(ids['ada']!)).entries.filter((entry) => entry.kind === 'adjustment');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      const { member, entries } = await statement(ids['ada']!);
      assert.deepEqual(
        entries.filter((entry) => entry.kind === 'adjustment').map((entry) => [entry.cents, entry.causedBy]),
        [[250, `refund:${vend.decisionId}`]],
      );
      assert.equal(member.balanceCents, 250);
      const decision = await decisionOf(vend.tapId!);
      assert.deepEqual([decision.outcome, decision.reason], ['failed', 'vend-failed']);
    });

    test('a vend the machine refuses is refunded only when the refusal means nothing moved', async () => {
      await vending.publish(MachineInput, { device: 'vending', input: 'club-mate', kind: 'button', value: 1, at: clock.now() });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const tapId = await tap(vending, FOBS.ada);
      const vend = await commandFor('vending', tapId);
      assert.equal(vend.action, 'vend');
      const refuse = (code: string) =>
        vending.publish(MachineRefused, { device: 'vending', what: 'command', id: vend.id, code, message: 'test' });
      const refunds = async () =>
        (await statement(ids['ada']!)).entries.filter(
          (entry) => entry.kind === 'adjustment' && entry.causedBy === `refund:${vend.decisionId}`,
        );
      // A replay refused: the first copy may well have vended.
      await refuse('MACHINE_MGR_COMMAND_REPLAYED');
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert.deepEqual(await refunds(), []);
      await refuse('MACHINE_MGR_COMMAND_EXPIRED');
      const deadline = Date.now() + 5_000;
      while ((await refunds()).length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(
        (await refunds()).map((entry) => entry.cents),
        [250],
      );
      assert.equal((await decisionOf(tapId)).outcome, 'failed');
    });

    test('a paid invoice that covers two products vends two, once, whatever is re-delivered', async () => {
      const paid = invoice({ paidSats: 5_600 }); // 5.60 at the locked rate: two at 2.50
      await chain.publish(ChainInvoice, paid);
      await eventually(() => commands['vending']!.some((command) => command.reason === 'invoice-paid'), 'an invoice vend');
      const vends = () => commands['vending']!.filter((command) => command.reason === 'invoice-paid');
      assert.deepEqual(
        vends().map((command) => [command.action, command.output, command.count]),
        [['vend', 'club-mate', 2]],
      );
      await chain.publish(ChainInvoice, paid);
      await chain.publish(ChainInvoice, { ...paid, previousState: 'settled' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(vends().length, 1);
      const [decision] = await decisions({ invoiceId: paid.id });
      assert.deepEqual([decision!.via, decision!.reason, decision!.count, decision!.cents], ['bitcoin', 'invoice-paid', 2, 560]);
      listedInvoices = [paid];
    });

    test('an invoice counts the cans from the payments it was settled by, as the ledger books them', async () => {
      // 5.60 paid in all, but only 2.50 of it settled the invoice (the rest still unconfirmed): one can, as sold.
      const partlyConfirmed = invoice({ paidSats: 5_600, settledSats: 2_500 });
      await chain.publish(ChainInvoice, partlyConfirmed);
      await eventually(
        () => commands['vending']!.some((command) => command.reason === 'invoice-paid' && command.count === 1),
        'a vend of one',
      );
      const [decision] = await decisions({ invoiceId: partlyConfirmed.id });
      assert.deepEqual([decision!.count, decision!.cents], [1, 250]);
      listedInvoices = [partlyConfirmed, ...listedInvoices];
    });

    test('after a restart the catch-up vends what it missed and never an invoice already vended', async () => {
      await mgr.stop();
      const missed = invoice({ product: 'cola', cents: 200, sats: 2_000, paidSats: 5_000 }); // 5.00 at 2.00: two
      listedInvoices = [missed, ...listedInvoices];
      await startMgr();
      await eventually(() => commands['vending']!.some((command) => command.output === 'cola'), 'the missed invoice vended');
      await new Promise((resolve) => setTimeout(resolve, 300));
      const vends = commands['vending']!.filter((command) => command.reason === 'invoice-paid');
      assert.deepEqual(
        vends.map((command) => [command.output, command.count]),
        [
          ['club-mate', 2],
          ['club-mate', 1],
          ['cola', 2],
        ],
      );
      await mgr.catchUpInvoices();
      assert.equal(commands['vending']!.filter((command) => command.reason === 'invoice-paid').length, 3);
    });

    test('an invoice that settled too long ago is not vended but recorded for a refund', async () => {
      const late = invoice({ settledAt: clock.now() - 31 * 60_000 });
      const before = commands['vending']!.length;
      await chain.publish(ChainInvoice, late);
      let found: Decision | undefined;
      const deadline = Date.now() + 5_000;
      while (!found && Date.now() < deadline) {
        found = (await decisions({ invoiceId: late.id }))[0];
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.deepEqual([found?.allowed, found?.reason, found?.count], [false, 'invoice-too-late', 0]);
      assert.equal(commands['vending']!.length, before);
    });

    test('an offline log is stored once per entry; only a door may upload its own', async () => {
      const entry = (allowed: boolean, reason: 'allow-listed' | 'unknown-fob', who: { hash: string; lastDigits: string }) => ({
        localId: nextId(),
        tapId: null,
        at: clock.now() - 60_000,
        fob: { key: who.hash.slice(0, 32), lastDigits: who.lastDigits },
        allowed,
        reason,
        allowListVersion: allowLists.at(-1)!.version,
        actuated: allowed,
      });
      const upload = {
        device: 'front-door',
        entries: [entry(true, 'allow-listed', FOBS.ada), entry(false, 'unknown-fob', FOBS.nobody)],
      };
      assert.deepEqual(await door.request(OfflineLog, upload), { stored: 2, duplicates: 0 });
      assert.deepEqual(await door.request(OfflineLog, upload), { stored: 0, duplicates: 2 });
      const offline = (await decisions({ device: 'front-door', limit: 200 })).filter((decision) => decision.via === 'offline');
      assert.deepEqual(offline.map((decision) => [decision.reason, decision.memberId, decision.outcome]).sort(), [
        ['allow-listed', ids['ada'], 'actuated'],
        ['unknown-fob', null, null],
      ]);
      const refused = await vending.request(OfflineLog, { ...upload, device: 'vending' }).then(
        () => undefined,
        (error: unknown) => error,
      );
      assert.ok(refused instanceof RemoteError);
      assert.equal(refused.code, 'BUSINESS_MGR_NOT_A_DOOR');
      const claimed = await door.request(OfflineLog, { ...upload, device: 'vending' }).then(
        () => undefined,
        (error: unknown) => error,
      );
      assert.equal((claimed as RemoteError).code, 'BUSINESS_MGR_NOT_A_DOOR');
    });

    test('decisions come newest first, a page at a time', async () => {
      const first = (await cli.request(DecisionsQuery, { device: 'front-door', limit: 2 })) as {
        decisions: Decision[];
        next: string | null;
      };
      assert.equal(first.decisions.length, 2);
      assert.ok(first.decisions[0]!.decisionId > first.decisions[1]!.decisionId);
      assert.equal(first.next, first.decisions[1]!.decisionId);
      const second = (await cli.request(DecisionsQuery, { device: 'front-door', limit: 2, before: first.next })) as {
        decisions: Decision[];
      };
      assert.ok(second.decisions[0]!.decisionId < first.next);
    });

    test('at 03:00 a member is outside their hours; a keyholder still opens', async () => {
      clock.set(local('2026-12-01T03:00'));
      const member = await tap(door, FOBS.ada);
      assert.deepEqual(
        [(await commandFor('front-door', member)).action, (await commandFor('front-door', member)).reason],
        ['deny', 'outside-hours'],
      );
      const keyholder = await tap(door, FOBS.kay);
      const command = await commandFor('front-door', keyholder);
      assert.deepEqual([command.action, command.reason], ['open', 'keyholder']);
    });
  });
}
