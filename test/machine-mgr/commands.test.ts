// Commands on a real bus: a signed open moves the door once, and forged, replayed, expired and misaddressed ones
// move nothing and are refused with their code; vends are spaced; a second open extends the hold; status is sent.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { generateSigningKey } from '../../src/core/keys.js';
import { MachineCommand, MachineTopics } from '../../src/core/messages-machine.js';
import { MachineMgrError, SimulatedDriver, type MachineMgr } from '../../src/machine-mgr/index.js';
import { eventually } from '../helpers/harness.js';
import { sleep, startFixture, type Fixture } from './fixture.js';

let f: Fixture;
let door: MachineMgr;

before(async () => {
  f = await startFixture({
    bus: { heartbeatMs: 400 },
    machines: {
      devices: {
        'door-1': { kind: 'door' },
        'door-2': { kind: 'door' },
        'vending-1': {
          kind: 'vending',
          vendSpacingMs: 150,
          outputs: { cola: { driver: 'simulated' }, mate: { driver: 'simulated', pulseMs: 700 } },
        },
      },
    },
  });
  door = await f.machine('door-1');
  await eventually(() => door.connected() && f.statuses.some((s) => s.device === 'door-1'), 'door-1 online');
});
after(async () => f.stop());

const refusalsOf = (id: string) => f.refusals.filter((refusal) => refusal.id === id);

test('a signed open pulses the door output once for 12 s and reports the actuation with its latency', async () => {
  const before = door.pulses().length;
  const sent = await f.command('door-1', { device: 'door-1', action: 'open' });
  await eventually(() => f.actuations.some((a) => a.commandId === sent.id), 'the actuation');
  const pulses = door.pulses().slice(before);
  assert.equal(pulses.length, 1);
  assert.deepEqual(
    { output: pulses[0]!.output, ms: pulses[0]!.ms, action: pulses[0]!.action },
    { output: 'door', ms: 12_000, action: 'open' },
  );
  const actuation = f.actuations.find((a) => a.commandId === sent.id)!;
  assert.equal(actuation.outcome, 'actuated');
  assert.equal(actuation.driver, 'simulated');
  assert.equal(actuation.decisionId, sent.payload.decisionId);
  assert.equal(actuation.output, 'door');
  assert.ok(
    actuation.latencyMs !== null && actuation.latencyMs >= 0 && actuation.latencyMs < 2_000,
    `latency ${actuation.latencyMs}`,
  );
  // The report's start is taken just before the driver is called, the driver's own a moment later.
  const skew = pulses[0]!.startedAt - actuation.startedAt;
  assert.ok(skew >= 0 && skew <= 5, `report start ${actuation.startedAt}, pulse start ${pulses[0]!.startedAt}`);
});

test('a command signed by a key that is not the pinned one moves nothing and is refused', async () => {
  const wrongPin = await f.machine('door-2', { pin: generateSigningKey().publicKeyB64 });
  await eventually(() => wrongPin.connected(), 'door-2 online');
  const sent = await f.command('door-2', { device: 'door-2', action: 'open' });
  await eventually(() => refusalsOf(sent.id).length > 0, 'the refusal');
  assert.equal(refusalsOf(sent.id)[0]!.code, 'MACHINE_MGR_SIGNER_NOT_PINNED');
  assert.equal(refusalsOf(sent.id)[0]!.what, 'command');
  assert.equal(refusalsOf(sent.id)[0]!.device, 'door-2');
  await sleep(100);
  assert.equal(wrongPin.pulses().length, 0);
  await wrongPin.stop();
});

test('a command for another device, sent on this device’s topic, moves nothing', async () => {
  const before = door.pulses().length;
  const sent = await f.command('door-1', { device: 'door-2', action: 'open' });
  await eventually(() => refusalsOf(sent.id).length > 0, 'the refusal');
  assert.equal(refusalsOf(sent.id)[0]!.code, 'MACHINE_MGR_WRONG_DEVICE');
  assert.equal(door.pulses().length, before);
});

test('an expired command moves nothing, even while the bus still lets it through within the clock skew', async () => {
  const before = door.pulses().length;
  const sealed = f.sealCommand('door-1', { device: 'door-1', action: 'open' }, 50);
  await sleep(120);
  await f.bm.sendSealed(MachineCommand, sealed, MachineTopics.command('door-1'));
  await eventually(() => refusalsOf(sealed.id).length > 0, 'the refusal');
  assert.equal(refusalsOf(sealed.id)[0]!.code, 'MACHINE_MGR_COMMAND_EXPIRED');
  assert.equal(door.pulses().length, before);
});

test('a command for an output the device does not have moves nothing', async () => {
  const sent = await f.command('door-1', { device: 'door-1', action: 'open', output: 'garage' });
  await eventually(() => refusalsOf(sent.id).length > 0, 'the refusal');
  assert.equal(refusalsOf(sent.id)[0]!.code, 'MACHINE_MGR_UNKNOWN_OUTPUT');
});

test('a replayed command is refused, and again after MachineMgr restarts (the seen ids are on disk)', async () => {
  const first = await f.machine('door-2');
  await eventually(() => first.connected(), 'door-2 online');
  const sent = await f.command('door-2', { device: 'door-2', action: 'open' }, 30_000);
  await eventually(() => first.pulses().length === 1, 'the first open');
  // The exact same signed bytes again.
  await f.bm.sendSealed(MachineCommand, sent, MachineTopics.command('door-2'));
  await eventually(() => refusalsOf(sent.id).length >= 1, 'the first refusal');
  assert.equal(refusalsOf(sent.id)[0]!.code, 'MACHINE_MGR_COMMAND_REPLAYED');
  await first.stop();

  const second = await f.machine('door-2');
  await eventually(() => second.connected(), 'door-2 restarted');
  await sleep(200);
  await f.bm.sendSealed(MachineCommand, sent, MachineTopics.command('door-2'));
  await eventually(() => refusalsOf(sent.id).length >= 2, 'the refusal after the restart');
  assert.equal(refusalsOf(sent.id)[1]!.code, 'MACHINE_MGR_COMMAND_REPLAYED');
  assert.equal(second.pulses().length, 0);
  assert.equal(first.pulses().length, 1);
  await second.stop();
});

test('vend count 3: three pulses in order, their starts at least vendSpacingMs apart, across commands', async () => {
  const vending = await f.machine('vending-1');
  await eventually(() => vending.connected(), 'vending online');
  const three = await f.command('vending-1', { device: 'vending-1', action: 'vend', output: 'cola', count: 3 });
  const one = await f.command('vending-1', { device: 'vending-1', action: 'vend', output: 'mate' });
  await eventually(
    () => vending.pulses().length === 4,
    () => `four pulses, got ${vending.pulses().length}`,
    5_000,
  );
  const pulses = vending.pulses();
  assert.deepEqual(
    pulses.map((p) => [p.output, p.ms]),
    [
      ['cola', 500],
      ['cola', 500],
      ['cola', 500],
      ['mate', 700],
    ],
  );
  for (let i = 1; i < pulses.length; i++) {
    const gap = pulses[i]!.startedAt - pulses[i - 1]!.startedAt;
    assert.ok(gap >= 148, `vend ${i + 1} started ${gap} ms after the one before`);
  }
  await eventually(() => f.actuations.filter((a) => a.device === 'vending-1').length === 4, 'four actuations');
  assert.deepEqual(
    f.actuations.filter((a) => a.commandId === three.id).map((a) => a.sequence),
    [1, 2, 3],
  );
  assert.equal(f.actuations.find((a) => a.commandId === one.id)?.output, 'mate');
});

test('an open while the door is held extends the hold instead of queueing another 12 s', async () => {
  // A driver that waits a hundredth of real time: the 12 s pulse runs 120 ms.
  const driver = new SimulatedDriver({ timeScale: 0.01 });
  const held = await f.machine('door-2', { createDriver: () => driver });
  await eventually(() => held.connected(), 'door-2 online');
  const a = await f.command('door-2', { device: 'door-2', action: 'open' });
  await eventually(() => driver.pulses().length === 1, 'the hold');
  await sleep(40);
  const b = await f.command('door-2', { device: 'door-2', action: 'open' });
  await eventually(() => f.actuations.some((x) => x.commandId === b.id), 'the second actuation', 3_000);
  const pulses = driver.pulses();
  assert.equal(pulses.length, 2, 'the hold and one extension');
  assert.equal(pulses[0]!.ms, 12_000);
  assert.ok(pulses[1]!.ms > 0 && pulses[1]!.ms < 2_000, `the extension is the time between the opens, got ${pulses[1]!.ms}`);
  const reports = f.actuations.filter((x) => x.commandId === a.id || x.commandId === b.id);
  assert.equal(reports.length, 2);
  assert.ok(reports.every((x) => x.outcome === 'actuated'));
  await held.stop();
});

test('status: retained, on start and every heartbeat, with kind, mode and allow-list', async () => {
  const count = f.statuses.filter((s) => s.device === 'door-1').length;
  await eventually(() => f.statuses.filter((s) => s.device === 'door-1').length >= count + 2, 'two more heartbeats', 3_000);
  const last = f.statuses.filter((s) => s.device === 'door-1').at(-1)!;
  assert.equal(last.kind, 'door');
  assert.equal(last.mode, 'online');
  assert.equal(last.allowList, null);
  assert.equal(last.queuedVends, 0);
  assert.equal(last.offlineLogPending, 0);
  assert.ok(last.lastActuationAt !== null);
});

test('start refuses without a pinned BusinessMgr key, and for a device it does not know', async () => {
  const context = await f.h.context('door-1');
  const { createMachineMgr } = await import('../../src/machine-mgr/index.js');
  await assert.rejects(createMachineMgr(context, 'door-1').start(), (error: unknown) => {
    assert.ok(error instanceof MachineMgrError);
    assert.equal(error.code, 'MACHINE_MGR_NO_PINNED_KEY');
    return true;
  });
  const withPin = { ...context, credentials: { ...context.credentials, pinnedKeys: { 'business-mgr': 'not-a-key' } } };
  await assert.rejects(createMachineMgr(withPin, 'door-1').start(), { code: 'MACHINE_MGR_PINNED_KEY_INVALID' });
  await assert.rejects(createMachineMgr(withPin, 'no-such-door').start(), { code: 'MACHINE_MGR_UNKNOWN_DEVICE' });
});

test('vends still queued when MachineMgr stops are reported failed, so whoever paid for them is refunded', async () => {
  const vending = await f.machine('vending-1');
  await eventually(() => vending.connected(), 'vending online');
  const queued = await f.command('vending-1', { device: 'vending-1', action: 'vend', output: 'cola', count: 5 });
  await eventually(() => vending.pulses().length >= 1, 'the first vend');
  await vending.stop();
  await eventually(
    () => f.actuations.filter((a) => a.commandId === queued.id).length === 5,
    () => `five reports, got ${f.actuations.filter((a) => a.commandId === queued.id).length}`,
  );
  const reports = f.actuations.filter((a) => a.commandId === queued.id);
  const failed = reports.filter((a) => a.outcome === 'failed');
  assert.ok(failed.length >= 3, `the dropped vends reported failed: ${JSON.stringify(reports.map((a) => a.outcome))}`);
  assert.ok(failed.every((a) => a.error?.code === 'MACHINE_MGR_PULSE_ABORTED'));
  assert.deepEqual(
    reports.map((a) => a.sequence).sort((a, b) => a - b),
    [1, 2, 3, 4, 5],
  );
});
