// MemberData over the bus: an editor records facts, everyone hears of them, fobs travel only as keyed hashes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { RemoteError } from '../../src/core/errors.js';
import { MemberChanged, MemberCommand, MemberQuery } from '../../src/core/messages.js';
import type { Service } from '../../src/core/service.js';
import { openDatabase, type DatabaseHandle } from '../../src/core/storage/index.js';
import { hashFob } from '../../src/core/fob-hash.js';
import { createMemberData } from '../../src/member-data/index.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';

let h: Harness;
let database: DatabaseHandle;
let service: Service;
const fobKey = randomBytes(32);

before(async () => {
  h = await startHarness();
  database = await openDatabase({ sqliteFile: join(h.dataDir, 'dctrl.db') });
  h.keeper.ensureClient('member-data');
  await h.vault.publishChanges();
  service = createMemberData(await h.context('member-data'), database);
  await service.start();
});
after(async () => {
  await service.stop();
  await database.close();
  await h.stop();
});

test('join, issue a fob, query: each fact is announced, and the answer holds only the hash and the last digits', async () => {
  const cli = await h.client('cli');
  const watcher = await h.client('watcher', { extra: { sub: ['dctrl/v1/member-data/changed'] } });
  const heard: string[] = [];
  await watcher.listen(MemberChanged, (change) => void heard.push(`${change.event}:${change.member.name}`));
  const { member } = (await cli.request(MemberCommand, {
    action: 'join',
    name: 'Ada',
    email: 'ada@example.org',
    tier: 'member',
  })) as {
    member: { memberId: string };
  };
  await cli.request(MemberCommand, { action: 'issue-fob', memberId: member.memberId, fob: hashFob('0004231337', fobKey) });
  await eventually(() => heard.includes('join:Ada') && heard.includes('issue-fob:Ada'), 'both announcements');
  const { members } = (await cli.request(MemberQuery, { memberId: member.memberId })) as {
    members: { fobs: { lastDigits: string }[] }[];
  };
  assert.deepEqual(
    members[0]!.fobs.map((fob) => fob.lastDigits),
    ['337'],
  );
  assert.ok(!JSON.stringify(members).includes('0004231337'));
});

test('a client that is not an editor is refused; a duplicate email comes back as its code', async () => {
  const stranger = await h.client('stranger', { extra: { pub: ['dctrl/v1/member-data/rpc/#'] } });
  const refused = await stranger
    .request(MemberCommand, { action: 'join', name: 'Eve', email: 'eve@example.org', tier: 'member' })
    .catch((e: unknown) => e);
  assert.ok(refused instanceof RemoteError);
  assert.equal(refused.code, 'MEMBER_DATA_NOT_ALLOWED');
  const cli = await h.client('cli', { instance: 'second' });
  const duplicate = await cli
    .request(MemberCommand, { action: 'join', name: 'Ada Two', email: 'ADA@example.org', tier: 'member' })
    .catch((e: unknown) => e);
  assert.ok(duplicate instanceof RemoteError);
  assert.equal(duplicate.code, 'MEMBER_DATA_EMAIL_TAKEN');
  const unknown = await cli.request(MemberQuery, { memberId: 'nobody' }).catch((e: unknown) => e);
  assert.ok(unknown instanceof RemoteError);
  assert.equal(unknown.code, 'MEMBER_DATA_NOT_FOUND');
});
