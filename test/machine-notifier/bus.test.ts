// The MachineNotifier on a real embedded broker with the Vault: taps published signed by the device with the fob's
// keyed hash (never its number) and handed to the DeviceLink at once; the key fetched and cached owner-only; while
// the broker is away taps still reach the DeviceLink, unpublished, and none is sent late; simulated taps answered.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { BusClient } from '../../src/auth-proxy/index.js';
import type { Envelope } from '../../src/core/envelope.js';
import { hashFob } from '../../src/core/fob-hash.js';
import { MachineTap, MachineTopics, SimulateTap } from '../../src/core/messages-machine.js';
import type { PayloadOf } from '../../src/core/contract.js';
import { fobKeyPath } from '../../src/machine-notifier/index.js';
import { createSubscriptionMgr, type SubscriptionMgr } from '../../src/subscription-mgr/index.js';
import { freePort } from '../helpers/mosquitto.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';
import { fobNumber, startRig, type Rig } from './rig.js';

type Tap = { payload: PayloadOf<typeof MachineTap>; envelope: Envelope<PayloadOf<typeof MachineTap>>; raw: string };

async function tapWatcher(h: Harness): Promise<{ client: BusClient; seen: Tap[] }> {
  // Taps carry fob hashes, sealed to BusinessMgr and the Server.
  const client = await h.client('server', { extra: { sub: ['dctrl/v1/+/tap'] } });
  const seen: Tap[] = [];
  await client.listen(
    MachineTap,
    (payload, envelope, context) => void seen.push({ payload, envelope, raw: context.raw.toString() }),
  );
  return { client, seen };
}

const DEVICES = {
  'front-door': { kind: 'door', reader: { kind: 'stdin' } },
  'sim-door': { kind: 'door', reader: { kind: 'simulated' } },
} as const;

describe('on the bus', () => {
  let h: Harness;
  let rig: Rig;
  let simulated: Rig;
  let watcher: { client: BusClient; seen: Tap[] };

  before(async () => {
    h = await startHarness({ config: { machines: { devices: DEVICES } } });
    rig = await startRig({ harness: h, device: 'front-door' });
    simulated = await startRig({ harness: h, device: 'sim-door' });
    watcher = await tapWatcher(h);
    await eventually(() => rig.notifier.stats().fobKey === 'vault', 'the fob-hash-key from the Vault');
    await eventually(() => simulated.notifier.stats().busConnected, 'the simulated door on the bus');
  });
  after(async () => {
    await rig.stop();
    await simulated.stop();
    await h.stop();
  });

  test('the fob-hash-key comes from the Vault and is cached owner-only in the data folder', () => {
    const path = fobKeyPath(h.dataDir, 'front-door');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(readFileSync(path, 'utf8').trim(), h.keeper.secret('fob-hash-key').toString('base64url'));
  });

  test('a tap reaches the DeviceLink at once and the bus signed by the device, with the hash and never the number', async () => {
    const fob = fobNumber(100);
    const before = rig.taps.length;
    rig.notifier.handleReaderText(`${fob}\r\n`, 'stdin');
    // Synchronously: MachineMgr has it before the bus does.
    assert.equal(rig.taps.length, before + 1);
    const local = rig.taps.at(-1)!;
    const expected = hashFob(fob, h.keeper.secret('fob-hash-key'));
    assert.deepEqual(local.fob, expected);
    assert.equal(local.published, true);
    await eventually(() => watcher.seen.some((seen) => seen.envelope.id === local.tapId), 'the tap on the bus');
    const seen = watcher.seen.find((each) => each.envelope.id === local.tapId)!;
    assert.equal(seen.envelope.issuer, 'front-door');
    assert.ok(seen.envelope.sig, 'signed');
    assert.deepEqual(seen.payload, { device: 'front-door', fob: expected, at: local.at, reader: 'stdin' });
    assert.ok(!seen.raw.includes(fob), 'the number is not on the wire');
    assert.ok(!rig.logText().includes(fob), 'nor in the log');
  });

  test('a simulated reader answers SimulateTap with the tap id; the same fob again is debounced', async () => {
    const cli = await h.client('cli');
    const fob = hashFob(fobNumber(101), h.keeper.secret('fob-hash-key'));
    const topic = MachineTopics.simulateTap('sim-door');
    const first = (await cli.request(SimulateTap, { fob }, { topic })) as { tapId: string | null; debounced: boolean };
    assert.equal(first.debounced, false);
    assert.ok(first.tapId);
    assert.ok(simulated.taps.some((tap) => tap.tapId === first.tapId && tap.fob.hash === fob.hash && tap.published));
    await eventually(
      () => watcher.seen.some((seen) => seen.envelope.id === first.tapId && seen.payload.reader === 'simulated'),
      'the simulated tap on the bus',
    );
    const again = await cli.request(SimulateTap, { fob }, { topic });
    assert.deepEqual(again, { tapId: null, debounced: true });
  });

  test('a device with a real reader refuses simulated taps with a code', async () => {
    const cli = await h.client('cli', { instance: 'second' });
    const fob = hashFob(fobNumber(102), h.keeper.secret('fob-hash-key'));
    await assert.rejects(cli.request(SimulateTap, { fob }, { topic: MachineTopics.simulateTap('front-door') }), {
      code: 'MACHINE_NOTIFIER_NOT_SIMULATED',
    });
    assert.ok(!rig.taps.some((tap) => tap.fob.hash === fob.hash));
  });
});

describe('while the broker is away', () => {
  let port: number;
  let h: Harness;
  let replacement: SubscriptionMgr | undefined;

  before(async () => {
    port = await freePort();
    h = await startHarness({ config: { broker: { port }, machines: { devices: DEVICES } } });
  });
  after(async () => {
    await replacement?.stop();
    await h.stop();
  });

  test('a tap reaches the DeviceLink unpublished, and is never sent when the broker is back', async () => {
    const rig = await startRig({ harness: h, device: 'front-door' });
    const watcher = await tapWatcher(h);
    try {
      await eventually(() => rig.notifier.stats().fobKey === 'vault', 'the key from the Vault');
      await h.broker.stop();
      await eventually(() => !rig.notifier.stats().busConnected, 'the notifier to notice');
      const offline = fobNumber(200);
      rig.notifier.handleReaderText(`${offline}\n`, 'stdin');
      const held = rig.taps.at(-1)!;
      assert.equal(held.published, false);
      assert.deepEqual(held.fob, hashFob(offline, h.keeper.secret('fob-hash-key')), 'hashed with the cached key');
      assert.equal(rig.notifier.stats().unpublished, 1);

      replacement = createSubscriptionMgr(await h.context('subscription-mgr'));
      await replacement.start();
      await eventually(() => rig.notifier.stats().busConnected && watcher.client.connected, 'both back', 10_000);
      // Taps from one client arrive in order: had the offline tap been queued, it would come before this one.
      const online = fobNumber(201);
      rig.notifier.handleReaderText(`${online}\n`, 'stdin');
      const sent = rig.taps.at(-1)!;
      assert.equal(sent.published, true);
      await eventually(() => watcher.seen.some((seen) => seen.envelope.id === sent.tapId), 'the tap after the return', 10_000);
      assert.ok(!watcher.seen.some((seen) => seen.envelope.id === held.tapId), 'the offline tap was never sent');
    } finally {
      await rig.stop();
    }
  });
});

describe('starting while the hub is down', () => {
  test('start() returns at once, taps are decided locally, and the bus is joined when the broker comes', async () => {
    const port = await freePort();
    const h = await startHarness({ config: { broker: { port }, machines: { devices: DEVICES } } });
    let replacement: SubscriptionMgr | undefined;
    // A device rebooted while the hub is down: its key is cached from an earlier run.
    const rig = await startRig({
      harness: h,
      device: 'front-door',
      cacheKey: true,
      start: false,
      // The Vault may rejoin after the device: ask again soon.
      notifier: { busRetryMs: 200, keyRetryMs: 300 },
    });
    await h.broker.stop();
    try {
      const startedAt = Date.now();
      await rig.notifier.start();
      assert.ok(Date.now() - startedAt < 1_000, 'start() does not wait for the bus');
      const offline = fobNumber(300);
      rig.notifier.handleReaderText(`${offline}\n`, 'stdin');
      assert.deepEqual(rig.taps.at(-1)!.fob, hashFob(offline, rig.key));
      assert.equal(rig.taps.at(-1)!.published, false);
      await eventually(() => rig.logCodes().includes('MACHINE_NOTIFIER_BUS_UNREACHABLE'), 'the unreachable bus logged');

      replacement = createSubscriptionMgr(await h.context('subscription-mgr'));
      await replacement.start();
      const watcher = await tapWatcher(h);
      await eventually(() => rig.notifier.stats().busConnected, 'the notifier joins the bus', 10_000);
      // The Vault's key replaces the one cached from before.
      await eventually(
        () => rig.notifier.stats().fobKey === 'vault',
        () => `the key from the Vault: ${rig.logCodes().join()}`,
        10_000,
      );
      const online = fobNumber(301);
      rig.notifier.handleReaderText(`${online}\n`, 'stdin');
      const sent = rig.taps.at(-1)!;
      assert.equal(sent.published, true);
      assert.deepEqual(sent.fob, hashFob(online, h.keeper.secret('fob-hash-key')));
      await eventually(() => watcher.seen.some((seen) => seen.envelope.id === sent.tapId), 'the tap on the bus', 10_000);
      assert.equal(watcher.seen.length, 1, 'only the tap made while on the bus');
    } finally {
      await rig.stop();
      await replacement?.stop();
      await h.stop();
    }
  });

  test('stop() while the bus is still being retried ends at once', async () => {
    const rig = await startRig({ online: false });
    await eventually(() => rig.logCodes().includes('MACHINE_NOTIFIER_BUS_UNREACHABLE'), 'a failed attempt');
    const stoppingAt = Date.now();
    await rig.notifier.stop();
    assert.ok(Date.now() - stoppingAt < 1_000, `stop() took ${Date.now() - stoppingAt} ms`);
    await rig.stop();
  });
});

describe('when a tap cannot be sealed', () => {
  test('a door whose directory lists no key for the tap’s readers decides the tap offline, logged with its code', async () => {
    // A fresh harness: BusinessMgr has no key yet, so the directory lists no encryption key to seal taps to.
    const rig = await startRig({ device: 'lonely-door' });
    try {
      await eventually(() => rig.notifier.stats().fobKey === 'vault', 'the door on the bus with its fob key');
      rig.notifier.handleReaderText(`${fobNumber(400)}\n`, 'stdin');
      const tap = rig.taps.at(-1);
      assert.ok(tap, 'the DeviceLink heard the tap: MachineMgr decides it from its allow-list');
      assert.equal(tap.published, false);
      assert.equal(rig.notifier.stats().unpublished, 1);
      const record = rig
        .logText()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { code?: string; cause?: string })
        .find((each) => each.code === 'MACHINE_NOTIFIER_TAP_NOT_SEALED');
      assert.equal(record?.cause, 'CORE_SEAL_NO_KEY');
    } finally {
      await rig.stop();
    }
  });
});
