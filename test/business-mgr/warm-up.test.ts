// BusinessMgr started before MemberData, the Reporter and BusinessData: taps are denied (not guessed) until its
// cache is loaded, and it keeps trying until they answer.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { createBusinessData } from '../../src/business-data/index.js';
import { createBusinessMgr, type BusinessMgr } from '../../src/business-mgr/index.js';
import type { PayloadOf } from '../../src/core/contract.js';
import { MachineCommand, MachineTap, MachineTopics } from '../../src/core/messages-machine.js';
import { MemberCommand, SettingSet } from '../../src/core/messages.js';
import type { Service } from '../../src/core/service.js';
import { openDatabase, type DatabaseHandle } from '../../src/core/storage/index.js';
import { createMemberData } from '../../src/member-data/index.js';
import { createReporter } from '../../src/reporter/index.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';

const FOB = { hash: 'f'.repeat(64), lastDigits: '999' };
let h: Harness;
let database: DatabaseHandle;
let mgr: BusinessMgr;
let services: Service[] = [];
let door: BusClient;
const commands: PayloadOf<typeof MachineCommand>[] = [];

before(async () => {
  h = await startHarness({
    config: {
      bus: { requestTimeoutMs: 500 },
      reporter: { checkIntervalMs: 3_600_000 },
      machines: { devices: { 'front-door': { kind: 'door' } } },
    },
  });
  database = await openDatabase({ sqliteFile: join(h.dataDir, 'dctrl.db') });
  for (const client of ['business-data', 'member-data', 'reporter', 'business-mgr']) h.keeper.ensureClient(client);
  await h.vault.publishChanges();
  door = await h.client('front-door');
  await door.listen(MachineCommand, (command) => void commands.push(command), MachineTopics.command('front-door'));
  mgr = createBusinessMgr(await h.context('business-mgr'), database);
  await mgr.start();
});
after(async () => {
  await mgr.stop();
  for (const service of services.reverse()) await service.stop();
  await database.close();
  await h.stop();
});

const tap = async () =>
  (await door.publish(MachineTap, { device: 'front-door', fob: FOB, at: h.clock.now(), reader: 'simulated' })).id;

test('with no one to ask, BusinessMgr starts anyway and leaves a tap unanswered, for the door to decide offline', async () => {
  assert.equal(mgr.ready, false);
  const tapId = await tap();
  const answered = await eventually(() => commands.some((command) => command.tapId === tapId), 'an answer', 1_000).then(
    () => true,
    () => false,
  );
  assert.equal(answered, false);
});

test('once its sources answer it loads the cache on its own and opens for an active member', async () => {
  services = [
    createBusinessData(await h.context('business-data'), database),
    createMemberData(await h.context('member-data'), database),
    createReporter(await h.context('reporter'), database),
  ];
  for (const service of services) await service.start();
  const cli = await h.client('cli');
  // Open at every hour, so the test does not depend on when it runs.
  await cli.request(SettingSet, {
    kind: 'policy',
    key: 'doorHours',
    value: { members: [{ days: [0, 1, 2, 3, 4, 5, 6], from: '00:00', to: '00:00' }] },
  });
  const { member } = (await cli.request(MemberCommand, {
    action: 'join',
    name: 'Ada',
    email: 'ada@example.org',
    tier: 'member',
  })) as { member: { memberId: string } };
  await cli.request(MemberCommand, { action: 'issue-fob', memberId: member.memberId, fob: FOB });
  await eventually(() => mgr.ready, 'the cache loaded', 10_000);
  let opened = false;
  const deadline = Date.now() + 10_000;
  while (!opened && Date.now() < deadline) {
    const tapId = await tap();
    await eventually(() => commands.some((command) => command.tapId === tapId), 'an answer');
    opened = commands.find((command) => command.tapId === tapId)!.action === 'open';
    if (!opened) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.ok(opened, commands.map((command) => command.reason).join(', '));
});
