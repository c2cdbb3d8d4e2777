// The offline allow-list: stored only when signed by the pinned key, for this door, newer and not expired; the same
// envelope again is ignored quietly; and what is stored is verified again when MachineMgr starts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AllowList, MachineTopics } from '../../src/core/messages-machine.js';
import { signEnvelope } from '../../src/core/envelope.js';
import { generateSigningKey } from '../../src/core/keys.js';
import { join } from 'node:path';
import { DeviceStore } from '../../src/machine-mgr/store.js';
import { eventually } from '../helpers/harness.js';
import { allowListFor, sleep, startFixture, type Fixture } from './fixture.js';
import type { MachineMgr } from '../../src/machine-mgr/index.js';

let f: Fixture;
let door: MachineMgr;
const key = 'ab'.repeat(16);

before(async () => {
  f = await startFixture({
    machines: { devices: { 'door-1': { kind: 'door' }, 'door-2': { kind: 'door' }, 'door-3': { kind: 'door' } } },
  });
  door = await f.machine('door-1');
  await eventually(() => door.connected(), 'door-1 online');
});
after(async () => f.stop());

const refusalsOf = (id: string) => f.refusals.filter((refusal) => refusal.id === id);

test('a signed list for this door is stored; the same envelope again is ignored without a refusal', async () => {
  const sent = await f.allowList(allowListFor('door-1', 5, Date.now(), [[key, -1]]));
  await eventually(() => door.allowList()?.version === 5, 'version 5 stored');
  await f.bm.sendSealed(AllowList, sent, MachineTopics.allowList('door-1'));
  await sleep(200);
  assert.equal(refusalsOf(sent.id).length, 0);
});

test('a list with a bad signature is refused (the bus drops it) and the stored one stays', async () => {
  const sealed = f.bm.seal(AllowList, allowListFor('door-1', 9, Date.now(), [['cd'.repeat(16), -1]]), { expiresInMs: 3_600_000 });
  const tampered = { ...sealed, payload: { ...sealed.payload, version: 10 } };
  await f.bm.sendSealed(AllowList, tampered, MachineTopics.allowList('door-1'));
  await eventually(() => refusalsOf(sealed.id).length > 0, 'the refusal');
  assert.equal(refusalsOf(sealed.id)[0]!.what, 'allow-list');
  assert.equal(refusalsOf(sealed.id)[0]!.code, 'CORE_ENVELOPE_BAD_SIGNATURE');
  assert.equal(door.allowList()?.version, 5);
});

test('a list for another door, sent to this one, is refused', async () => {
  const sent = await f.allowList(allowListFor('door-2', 6, Date.now(), []), undefined, 'door-1');
  await eventually(() => refusalsOf(sent.id).length > 0, 'the refusal');
  assert.equal(refusalsOf(sent.id)[0]!.code, 'MACHINE_MGR_WRONG_DEVICE');
  assert.equal(door.allowList()?.version, 5);
});

test('a list sealed to another door, sent on this one’s topic, is refused unread', async () => {
  const sent = await f.bm.publish(AllowList, allowListFor('door-2', 6, Date.now(), []), {
    topic: MachineTopics.allowList('door-1'),
    expiresInMs: 3_600_000,
  });
  await eventually(() => refusalsOf(sent.id).length > 0, 'the refusal');
  assert.equal(refusalsOf(sent.id)[0]!.code, 'CORE_SEAL_NOT_RECIPIENT');
  assert.equal(door.allowList()?.version, 5);
});

test('a list from the past (version not above the stored one) is refused', async () => {
  for (const version of [4, 5]) {
    const sent = await f.allowList(allowListFor('door-1', version, Date.now(), []));
    await eventually(() => refusalsOf(sent.id).length > 0, `the refusal of version ${version}`);
    assert.equal(refusalsOf(sent.id)[0]!.code, 'MACHINE_MGR_ALLOW_LIST_FROM_PAST');
  }
  assert.deepEqual(door.allowList()?.entries, [[key, -1]]);
});

test('an expired list is refused by MachineMgr, though the bus still lets it through within the clock skew', async () => {
  const now = Date.now();
  const justExpired = f.bm.seal(AllowList, allowListFor('door-1', 7, now, [], [], 50), { expiresInMs: 50 });
  await sleep(100);
  await f.bm.sendSealed(AllowList, justExpired, MachineTopics.allowList('door-1'));
  await eventually(() => refusalsOf(justExpired.id).length > 0, 'the refusal');
  assert.equal(refusalsOf(justExpired.id)[0]!.code, 'MACHINE_MGR_ALLOW_LIST_EXPIRED');
  assert.equal(door.allowList()?.version, 5);
});

test('a list signed by a key that is not pinned is refused; a restart keeps the stored list after re-verifying it', async () => {
  const other = await f.machine('door-2', { pin: generateSigningKey().publicKeyB64 });
  await eventually(() => other.connected(), 'door-2 online');
  const sent = await f.allowList(allowListFor('door-2', 1, Date.now(), []));
  await eventually(() => refusalsOf(sent.id).length > 0, 'the refusal');
  assert.equal(refusalsOf(sent.id)[0]!.code, 'MACHINE_MGR_SIGNER_NOT_PINNED');
  assert.equal(other.allowList(), undefined);
  await other.stop();

  // door-2 with the right pin takes the retained list; stopped, restarted with a wrong pin, it no longer trusts it.
  const right = await f.machine('door-2');
  await eventually(() => right.allowList()?.version === 1, 'the retained list stored');
  await right.stop();
  const again = await f.machine('door-2');
  assert.equal(again.allowList()?.version, 1, 'loaded from disk before the bus is back');
  await again.stop();
  const repinned = await f.machine('door-2', { pin: generateSigningKey().publicKeyB64 });
  assert.equal(repinned.allowList(), undefined);
  await repinned.stop();
});

test('a clear list stored before sealing is used only when it is signed and fits the schema', async () => {
  const signed = (payload: unknown) =>
    signEnvelope(
      { v: 1, id: f.nextId(), type: AllowList.type, issuer: 'business-mgr', issuedAt: Date.now(), payload },
      f.h.keeper.signingKey('business-mgr'),
    );
  const store = async (payload: unknown) => {
    const file = await DeviceStore.open(join(f.h.config.dataDir, 'device-door-3.db'), 'door-3');
    await file.saveAllowList(signed(payload) as never, Date.now());
    await file.close();
  };
  // Signed by the pinned key but not an allow-list: an entry with no fob hash.
  await store({ ...allowListFor('door-3', 7, Date.now(), []), entries: [['not-a-hash', 1]] });
  const bad = await f.machine('door-3');
  assert.equal(bad.allowList(), undefined);
  await bad.stop();
  await store(allowListFor('door-3', 8, Date.now(), [['cd'.repeat(16), 1]]));
  const good = await f.machine('door-3');
  assert.equal(good.allowList()?.version, 8);
  await good.stop();
});
