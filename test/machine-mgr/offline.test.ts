// Broker down: the door decides taps from its allow-list (allowed fob opens; unknown, outside hours and expired list
// deny), boots without the hub, and uploads its log once when the broker returns, even across a restart; a command
// for a tap already decided offline is ignored.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { deviceLinkOf } from '../../src/core/device-link.js';
import { fobKey } from '../../src/core/door-access.js';
import { MachineCommand, MachineTopics, OfflineLog, type offlineReasons } from '../../src/core/messages-machine.js';
import type { PayloadOf } from '../../src/core/contract.js';
import { createSubscriptionMgr, type SubscriptionMgr } from '../../src/subscription-mgr/index.js';
import { eventually } from '../helpers/harness.js';
import { freePort } from '../helpers/mosquitto.js';
import { allowListFor, fob, sleep, startFixture, until, type Fixture } from './fixture.js';

type Entry = PayloadOf<typeof OfflineLog>['entries'][number];

let f: Fixture;
let replacement: SubscriptionMgr | undefined;
const uploads: Entry[][] = [];

const keyholder = fob(0x11);
const member = fob(0x22);
const lateMember = fob(0x33);
const stranger = fob(0x44);

before(async () => {
  f = await startFixture(
    {
      machines: {
        devices: {
          'door-1': { kind: 'door', offlineAfterMs: 200, answerTimeoutMs: 300 },
          'door-2': { kind: 'door', offlineAfterMs: 200, answerTimeoutMs: 300 },
        },
      },
    },
    { brokerPort: await freePort() },
  );
  // BusinessMgr's side of the upload: it stores each entry once by its local id.
  await f.bm.respond(OfflineLog, (request) => {
    uploads.push(request.entries);
    return { stored: request.entries.length, duplicates: 0 };
  });
});
after(async () => {
  await replacement?.stop();
  await f.stop();
});

const tapId = () => f.nextId();
function tap(
  device: string,
  who: { hash: string; lastDigits: string },
  published: boolean,
  id = tapId(),
  at = Date.now(),
): string {
  deviceLinkOf(f.h.shared).tap({ tapId: id, device, fob: who, at, published });
  return id;
}

const uploaded = () => uploads.flat();

test('broker down: decisions from the allow-list, a restart without the hub, and the log uploaded once when it returns', async () => {
  const door = await f.machine('door-1');
  const short = await f.machine('door-2');
  await eventually(() => door.connected() && short.connected(), 'doors online');
  const hour = new Date().getUTCHours();
  const now = Date.now();
  const schedules = [
    [{ days: [0, 1, 2, 3, 4, 5, 6], from: '00:00', to: '00:00' }], // every day, all day
    [
      {
        days: [0, 1, 2, 3, 4, 5, 6],
        from: `${String((hour + 2) % 24).padStart(2, '0')}:00`,
        to: `${String((hour + 3) % 24).padStart(2, '0')}:00`,
      },
    ],
  ];
  await f.allowList(
    allowListFor(
      'door-1',
      1,
      now,
      [
        [fobKey(keyholder.hash), -1],
        [fobKey(member.hash), 0],
        [fobKey(lateMember.hash), 1],
      ],
      schedules,
    ),
  );
  // door-2's list expires in 1.5 s: once it has, the door denies every tap offline.
  await f.allowList(allowListFor('door-2', 1, now, [[fobKey(keyholder.hash), -1]], [], 1_500));
  await eventually(() => door.allowList()?.version === 1 && short.allowList()?.version === 1, 'the lists stored');

  await f.h.broker.stop();
  await eventually(() => door.mode() === 'offline' && short.mode() === 'offline', 'offline after offlineAfterMs');

  // Published or not, once offline a tap is decided at once.
  tap('door-1', keyholder, true);
  tap('door-1', member, false);
  tap('door-1', lateMember, false);
  tap('door-1', stranger, true);
  await eventually(() => door.pulses().length === 2, 'two opens');
  const log = await door.offlineLog();
  assert.deepEqual(
    log.map((entry) => [entry.fob.lastDigits, entry.allowed, entry.reason, entry.actuated, entry.allowListVersion]),
    [
      [keyholder.lastDigits, true, 'keyholder', true, 1],
      [member.lastDigits, true, 'allow-listed', true, 1],
      [lateMember.lastDigits, false, 'outside-hours', false, 1],
      [stranger.lastDigits, false, 'unknown-fob', false, 1],
    ] satisfies [string, boolean, (typeof offlineReasons)[number], boolean, number][],
  );
  assert.equal(log[0]!.fob.key, fobKey(keyholder.hash));
  assert.ok(log.every((entry) => entry.sentAt === null));

  await sleep(Math.max(0, now + 1_600 - Date.now()));
  tap('door-2', keyholder, false);
  await until(async () => (await short.offlineLog()).length === 1, 'door-2 decided');
  const [expired] = await short.offlineLog();
  assert.deepEqual([expired!.allowed, expired!.reason], [false, 'allow-list-expired']);
  assert.equal(short.pulses().length, 0);

  // A restart while the hub is still away: the stored list still opens for the keyholder.
  await door.stop();
  const rebooted = await f.machine('door-1');
  assert.equal(rebooted.allowList()?.version, 1);
  assert.equal(rebooted.connected(), false);
  await eventually(() => rebooted.mode() === 'offline', 'offline after boot');
  tap('door-1', keyholder, false);
  await eventually(() => rebooted.pulses().length === 1, 'the keyholder let in after the reboot');
  // The clock set back an hour (a Pi with no hardware clock): behind the latest time the door has seen, so denied.
  tap('door-1', keyholder, false, tapId(), Date.now() - 3_600_000);
  await until(async () => (await rebooted.offlineLog()).some((entry) => entry.reason === 'clock-behind'), 'clock-behind');
  await sleep(100);
  assert.equal(rebooted.pulses().length, 1, 'nothing opened for the clock set back');
  assert.equal(uploads.length, 0);

  replacement = createSubscriptionMgr(await f.h.context('subscription-mgr'));
  await replacement.start();
  await eventually(
    () => uploaded().length === 7,
    () => `seven entries uploaded, got ${uploaded().length}`,
    20_000,
  );
  await until(async () => (await rebooted.offlineLog()).every((entry) => entry.sentAt !== null), 'marked sent');
  await sleep(500);
  const ids = uploaded().map((entry) => entry.localId);
  assert.equal(new Set(ids).size, 7, 'each entry once');
  assert.equal(uploaded().length, 7);
  assert.ok(uploaded().every((entry) => entry.tapId !== null));
  assert.deepEqual(
    uploaded()
      .filter((entry) => entry.allowed)
      .map((entry) => entry.reason),
    ['keyholder', 'allow-listed', 'keyholder'],
  );
  await rebooted.stop();
  await short.stop();
});

test('back online: a tap BusinessMgr answers in time opens once; one it does not is decided offline and its late command ignored', async () => {
  const door = await f.machine('door-1');
  await eventually(() => door.connected(), 'door-1 online', 10_000);

  const answered = tap('door-1', stranger, true);
  await f.command('door-1', { device: 'door-1', action: 'open', tapId: answered });
  await eventually(() => door.pulses().length === 1, 'the door opened by the command');
  await sleep(400);
  assert.equal(door.pulses().length, 1, 'the answered tap is not decided offline too');
  assert.equal((await door.offlineLog()).filter((entry) => entry.tapId === answered).length, 0);

  const unanswered = tap('door-1', keyholder, true);
  await eventually(() => door.pulses().length === 2, 'the keyholder let in after answerTimeoutMs');
  const late = await f.command('door-1', { device: 'door-1', action: 'open', tapId: unanswered });
  await eventually(() => f.refusals.some((r) => r.id === late.id), 'the late command refused');
  assert.equal(f.refusals.find((r) => r.id === late.id)!.code, 'MACHINE_MGR_TAP_DECIDED_OFFLINE');
  await sleep(100);
  assert.equal(door.pulses().length, 2);
  // The offline decision made while connected is reported and uploaded at once.
  await eventually(() => uploaded().some((entry) => entry.tapId === unanswered), 'uploaded while online');
  await eventually(() => f.actuations.some((a) => a.commandId === null && a.device === 'door-1'), 'actuation with no command');
  await door.stop();
});

test('a deny keeps the door shut even when it arrives expired or was seen before: no fall back to the allow-list', async () => {
  const door = await f.machine('door-1');
  await eventually(() => door.connected(), 'door-1 online', 10_000);
  const before = door.pulses().length;
  // The keyholder is on the allow-list, so a fall back would open; BusinessMgr said no.
  const lateDeny = tap('door-1', keyholder, true);
  await f.command('door-1', { device: 'door-1', action: 'deny', tapId: lateDeny, reason: 'inactive' }, 1);
  const seenDeny = tap('door-1', keyholder, true);
  const sealed = f.sealCommand('door-1', { device: 'door-1', action: 'deny', tapId: seenDeny, reason: 'inactive' });
  await f.bm.sendSealed(MachineCommand, sealed, MachineTopics.command('door-1'));
  await f.bm.sendSealed(MachineCommand, sealed, MachineTopics.command('door-1'));
  await sleep(f.h.config.machines.devices['door-1']!.answerTimeoutMs + 400);
  assert.equal(door.pulses().length, before, 'nothing opened');
  const log = await door.offlineLog();
  assert.equal(log.filter((entry) => entry.tapId === lateDeny || entry.tapId === seenDeny).length, 0);
  await door.stop();
});
