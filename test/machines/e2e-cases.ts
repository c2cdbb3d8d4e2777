// The door and the vending machine end to end, as members use them: reader → MachineNotifier → broker → BusinessMgr
// → signed command → MachineMgr → output. Run on the embedded broker and on a real Mosquitto.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DateTime } from 'luxon';
import mqtt from 'mqtt';
import { encodeEnvelope, signEnvelope } from '../../src/core/envelope.js';
import { createIdFactory } from '../../src/core/ids.js';
import { MemberCommand, ReporterRun, ReportRequest, SettingSet } from '../../src/core/messages.js';
import { MachineCommand, MachineTopics } from '../../src/core/messages-machine.js';
import { eventually } from '../helpers/harness.js';
import { DOOR, startSpace, VENDING, type Space, type SpaceOptions } from './space.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface BrokerSetup {
  name: string;
  start(): Promise<SpaceOptions & { brokerUrl?: string }>;
  /** Takes the broker away and brings it back on the same address. */
  down(space: Space): Promise<void>;
  up(space: Space): Promise<void>;
  stop(): Promise<void>;
}

export function machineSuite(broker: BrokerSetup): void {
  let space: Space;
  let ada: string;
  let ken: string;
  let grace: string;
  let barbara: string;

  before(async () => {
    space = await startSpace(await broker.start());
    ada = await space.addMember('Ada Lovelace', '0004231000');
    grace = await space.addMember('Grace Hopper', '0004231001', ['keyholders']);
    ken = await space.addMember('Ken Thompson', '0004231004');
    barbara = await space.addMember('Barbara Liskov', '0004231009');
    // Honorary: no dues when the month turns, so her balance is what she paid and drank.
    await space.cli.request(MemberCommand, { action: 'set-exempt', memberId: barbara, reason: 'honorary' });
    await space.pay(barbara, 1_000, 'receipt-barbara-1');
    await space.pay(ada, 15_000, 'receipt-ada-1');
    await space.pay(grace, 7_500, 'receipt-grace-1');
    await space.cli.request(MemberCommand, { action: 'leave', memberId: ken });
  });
  after(async () => {
    await space?.stop();
    await broker.stop();
  });

  const tap = (device: string, fobNumber: string) => {
    const result = space.devices[device]!.notifier.handleHashedFob(space.fob(fobNumber), 'simulated');
    assert.ok(result.tapId, `the tap at ${device} was passed on: ${JSON.stringify(result)}`);
    return result.tapId;
  };
  const pulses = (device: string) => space.devices[device]!.driver.pulses();

  test(`${broker.name}: an active member taps the reader; the door opens once and the decision is recorded`, async () => {
    const before = pulses(DOOR).length;
    const read = space.devices[DOOR]!.notifier;
    // Through the reader's own input path: ten digits and Enter.
    read.handleReaderText('0004231000\n', 'stdin');
    await eventually(() => pulses(DOOR).length === before + 1, 'the door output pulsed');
    const [decision] = await space.decisions({ device: DOOR, memberId: ada });
    assert.equal(decision?.allowed, true);
    assert.equal(decision?.reason, 'member-active');
    assert.equal(pulses(DOOR).at(-1)?.output, 'door');
    await sleep(200);
    assert.equal(pulses(DOOR).length, before + 1, 'one tap, one pulse');
  });

  test(`${broker.name}: a member who left and an unknown fob are refused, with their reasons, and nothing moves`, async () => {
    const before = pulses(DOOR).length;
    const left = await space.decisionFor(tap(DOOR, '0004231004'));
    const unknown = await space.decisionFor(tap(DOOR, '9999999999'));
    assert.deepEqual([left.allowed, left.reason], [false, 'left']);
    assert.deepEqual([unknown.allowed, unknown.reason, unknown.fobLastDigits], [false, 'unknown-fob', '999']);
    await sleep(space.h.config.machines.devices[DOOR]!.answerTimeoutMs + 300);
    assert.equal(pulses(DOOR).length, before, 'a denial settles the tap: the door does not fall back to its list');
  });

  test(`${broker.name}: a member whose dues are unpaid when the month turns (no grace) is refused as inactive`, async () => {
    await space.cli.request(SettingSet, { kind: 'policy', key: 'graceDays', value: 0, effectiveFrom: '2026-11-30' });
    const lapsed = await space.addMember('Claude Shannon', '0004231010');
    assert.equal((await space.decisionFor(tap(DOOR, '0004231010'))).reason, 'member-active');
    space.clock.advance(45 * 60_000);
    await space.cli.request(ReporterRun, { action: 'dues' }, { timeoutMs: 30_000 });
    let decision = await space.decisionFor(tap(DOOR, '0004231010'));
    for (let attempt = 0; decision.reason !== 'inactive' && attempt < 50; attempt++) {
      await sleep(100);
      decision = await space.decisionFor(tap(DOOR, '0004231010'));
    }
    assert.deepEqual([decision.allowed, decision.reason, decision.memberId], [false, 'inactive', lapsed]);
    // Ada paid ahead for December, so she is still let in.
    assert.equal((await space.decisionFor(tap(DOOR, '0004231000'))).reason, 'member-active');
  });

  test(`${broker.name}: outside the door hours a member is refused; a keyholder still gets in`, async () => {
    await space.cli.request(SettingSet, {
      kind: 'policy',
      key: 'doorHours',
      value: { members: [{ days: [0, 1, 2, 3, 4, 5, 6], ...windowAwayFrom(space.clock.now(), 'America/Vancouver') }] },
    });
    try {
      let member = await space.decisionFor(tap(DOOR, '0004231000'));
      for (let attempt = 0; member.reason !== 'outside-hours' && attempt < 50; attempt++) {
        await sleep(100);
        member = await space.decisionFor(tap(DOOR, '0004231000'));
      }
      assert.deepEqual([member.allowed, member.reason], [false, 'outside-hours']);
      const keyholder = await space.decisionFor(tap(DOOR, '0004231001'), true);
      assert.deepEqual([keyholder.allowed, keyholder.reason, keyholder.outcome], [true, 'keyholder', 'actuated']);
    } finally {
      await space.cli.request(SettingSet, {
        kind: 'policy',
        key: 'doorHours',
        value: { members: [{ days: [0, 1, 2, 3, 4, 5, 6], from: '00:00', to: '00:00' }] },
      });
    }
  });

  test(`${broker.name}: a forged command, a recorded one replayed, an expired one and one for another device move nothing`, async () => {
    const door = space.devices[DOOR]!;
    const nextId = createIdFactory(space.h.clock);
    const opened = await space.decisionFor(tap(DOOR, '0004231001'), true);
    assert.equal(opened.outcome, 'actuated');
    const before = pulses(DOOR).length;
    // Someone on the broker records the open command and sends its exact bytes again.
    const raw = mqtt.connect(space.h.brokerUrl, {
      clientId: 'cli:raw',
      username: 'cli',
      password: await cliToken(space),
      protocolVersion: 4,
    });
    await eventually(() => raw.connected, 'a raw client on the broker');
    const bm = await space.h.client('business-mgr', { instance: 'forger' });
    const replayed = bm.seal(
      MachineCommand,
      { device: DOOR, action: 'open', count: 1, decisionId: opened.decisionId, reason: 'replay' },
      { expiresInMs: 10_000 },
    );
    await bm.sendSealed(MachineCommand, replayed, MachineTopics.command(DOOR));
    await eventually(() => pulses(DOOR).length === before + 1, 'the genuine command acts once');
    await bm.sendSealed(MachineCommand, replayed, MachineTopics.command(DOOR)).catch(() => undefined);
    // The vending machine's key signs a command in BusinessMgr's name and sends it past the broker's ACLs.
    const { issuer, issuedAt, expiresAt, payload } = replayed;
    const forged = signEnvelope(
      { v: 1, id: nextId(), type: MachineCommand.type, issuer, issuedAt, ...(expiresAt ? { expiresAt } : {}), payload },
      space.h.keeper.signingKey(VENDING),
    );
    // The embedded broker cuts a client that publishes outside its grants, so the ack may never come.
    void raw.publishAsync(MachineTopics.command(DOOR), encodeEnvelope(forged), { qos: 1 }).catch(() => undefined);
    const expired = bm.seal(MachineCommand, { ...replayed.payload, reason: 'late' }, { expiresInMs: 1 });
    await sleep(20);
    await bm.sendSealed(MachineCommand, expired, MachineTopics.command(DOOR)).catch(() => undefined);
    const misaddressed = bm.seal(
      MachineCommand,
      { ...replayed.payload, device: VENDING, reason: 'elsewhere' },
      { expiresInMs: 10_000 },
    );
    await bm.sendSealed(MachineCommand, misaddressed, MachineTopics.command(DOOR));
    await sleep(500);
    assert.equal(pulses(DOOR).length, before + 1, 'only the genuine command moved the door');
    assert.equal(door.mgr.connected(), true);
    raw.end(true);
  });

  test(`${broker.name}: a drink on the member's balance is charged once, and refused when the balance would go below the limit`, async () => {
    const before = pulses(VENDING).length;
    const first = await space.decisionFor(tap(VENDING, '0004231009'), true);
    assert.deepEqual([first.allowed, first.reason, first.cents, first.outcome], [true, 'member-active', 350, 'actuated']);
    assert.equal(pulses(VENDING).length, before + 1);
    const second = await space.decisionFor(tap(VENDING, '0004231009'), true);
    assert.equal(second.allowed, true);
    // 10.00 paid, two drinks at 3.50: 3.00 left, not enough for a third.
    const third = await space.decisionFor(tap(VENDING, '0004231009'));
    assert.deepEqual([third.allowed, third.reason], [false, 'insufficient-balance']);
    const statement = (await space.cli.request(ReportRequest, { report: 'statement', memberId: barbara, format: 'json' })) as {
      json: { entries: { kind: string; cents: number }[]; member: { balanceCents: number } };
    };
    const purchases = statement.json.entries.filter((entry) => entry.kind === 'purchase');
    assert.equal(purchases.length, 2, 'one purchase per vend');
    assert.equal(statement.json.member.balanceCents, 300);
    assert.equal(pulses(VENDING).length, before + 2);
  });

  test(`${broker.name}: with the broker down the door decides from its allow-list, and uploads the log when it returns`, async () => {
    const door = space.devices[DOOR]!;
    await eventually(() => door.mgr.allowList() !== undefined, 'an allow-list at the door');
    const before = pulses(DOOR).length;
    await broker.down(space);
    await eventually(() => door.mgr.mode() === 'offline', 'the door offline', 10_000);
    const granted = door.notifier.handleHashedFob(space.fob('0004231001'), 'simulated');
    const refused = door.notifier.handleHashedFob(space.fob('0004231004'), 'simulated');
    assert.equal(granted.published, false);
    await eventually(() => pulses(DOOR).length === before + 1, 'the keyholder let in offline');
    assert.equal(refused.published, false);
    await broker.up(space);
    let uploaded: { reason: string; allowed: boolean; via: string }[] = [];
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      uploaded = (await space.decisions({ device: DOOR }).catch(() => [])).filter((decision) => decision.via === 'offline');
      if (uploaded.length >= 2) break;
      await sleep(100);
    }
    const reasons = uploaded.map((decision) => `${decision.allowed}:${decision.reason}`).sort();
    assert.deepEqual(reasons, ['false:unknown-fob', 'true:keyholder']);
    assert.equal(pulses(DOOR).length, before + 1);
  });
}

/** A one-minute window twelve hours from `at` in the space's time zone: it never contains now. */
function windowAwayFrom(at: number, zone: string): { from: string; to: string } {
  const hour = DateTime.fromMillis(at, { zone }).plus({ hours: 12 }).toFormat('HH');
  return { from: `${hour}:00`, to: `${hour}:01` };
}

async function cliToken(space: Space): Promise<string> {
  return (await space.h.credentials('cli')).token;
}
