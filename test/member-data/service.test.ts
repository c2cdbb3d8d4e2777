// MemberData over the bus: an editor records facts, everyone hears of them, fobs travel only as keyed hashes,
// and the tiers are checked against BusinessData, which runs beside it on the same database.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { createBusinessData } from '../../src/business-data/index.js';
import { RemoteError } from '../../src/core/errors.js';
import { MemberChanged, MemberCommand, MemberEvents, MemberImport, MemberQuery, SettingSet } from '../../src/core/messages.js';
import type { Service } from '../../src/core/service.js';
import { openDatabase, type DatabaseHandle } from '../../src/core/storage/index.js';
import { hashFob } from '../../src/core/fob-hash.js';
import { createMemberData } from '../../src/member-data/index.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';

interface Member {
  memberId: string;
  name: string;
  fobs: { lastDigits: string }[];
  groups: string[];
  badges: string[];
}
interface EventsPage {
  events: { id: string; memberId: string; event: { type: string }; recordedBy: string }[];
  more: boolean;
}

let h: Harness;
let database: DatabaseHandle;
let businessData: Service;
let memberData: Service;
const fobKey = randomBytes(32);
const heard: { eventId: string; event: string; name: string }[] = [];

/** The error a request came back with, so a test can check its code and message. */
async function refusal(request: Promise<unknown>): Promise<RemoteError> {
  const error = await request.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  assert.ok(error instanceof RemoteError, `expected a coded refusal, got ${String(error)}`);
  return error;
}

/** Every recorded event, page by page, as a catching-up reader would get them. */
async function allEvents(asker: BusClient): Promise<EventsPage['events']> {
  const events: EventsPage['events'] = [];
  for (;;) {
    const page = (await asker.request(MemberEvents, { afterId: events.at(-1)?.id, limit: 200 })) as EventsPage;
    events.push(...page.events);
    if (!page.more) return events;
  }
}

const storedEventCount = async () =>
  Number((await sql<{ count: number }>`SELECT count(*) AS count FROM member_data_events`.execute(database.db)).rows[0]!.count);

before(async () => {
  // Short requests, so the test of BusinessData being away does not wait long; small messages, so a page of
  // events has to be cut to fit.
  h = await startHarness({ config: { bus: { requestTimeoutMs: 2_000, maxMessageBytes: 4_096 } } });
  database = await openDatabase({ sqliteFile: join(h.dataDir, 'dctrl.db') });
  h.keeper.ensureClient('business-data');
  h.keeper.ensureClient('member-data');
  await h.vault.publishChanges();
  businessData = createBusinessData(await h.context('business-data'), database);
  await businessData.start();
  memberData = createMemberData(await h.context('member-data'), database);
  await memberData.start();
  // Member facts travel sealed to their readers; the Server is one.
  const watcher = await h.client('server', { extra: { sub: ['dctrl/v1/member-data/changed'] } });
  await watcher.listen(
    MemberChanged,
    (change) => void heard.push({ eventId: change.eventId, event: change.event, name: change.member.name }),
  );
});
after(async () => {
  await memberData.stop();
  await businessData.stop();
  await database.close();
  await h.stop();
});

test('join, issue a fob, query: each fact is announced with its event id, and the answer holds only the hash and the last digits', async () => {
  const cli = await h.client('cli');
  const { member } = (await cli.request(MemberCommand, {
    action: 'join',
    name: 'Ada',
    email: 'ada@example.org',
    tier: 'member',
  })) as { member: Member };
  assert.deepEqual([member.groups, member.badges], [[], []]);
  await cli.request(MemberCommand, { action: 'issue-fob', memberId: member.memberId, fob: hashFob('0004231337', fobKey) });
  await eventually(() => heard.filter((one) => one.name === 'Ada').length === 2, 'both announcements');
  const events = await allEvents(cli);
  assert.deepEqual(
    heard.filter((one) => one.name === 'Ada').map((one) => [one.event, one.eventId]),
    events.map((one) => [one.event.type, one.id]),
  );
  assert.deepEqual(
    events.map((one) => one.event.type),
    ['joined', 'fob-issued'],
  );
  const { members } = (await cli.request(MemberQuery, { memberId: member.memberId })) as { members: Member[] };
  assert.deepEqual(
    members[0]!.fobs.map((fob) => fob.lastDigits),
    ['337'],
  );
  assert.ok(!JSON.stringify(members).includes('0004231337'));
});

test('a client that is not an editor is refused; a duplicate email comes back as its code', async () => {
  const stranger = await h.client('stranger', { extra: { pub: ['dctrl/v1/member-data/rpc/#'] } });
  const refused = await refusal(
    stranger.request(MemberCommand, { action: 'join', name: 'Eve', email: 'eve@example.org', tier: 'member' }),
  );
  assert.equal(refused.code, 'AUTH_PROXY_ASKER_NOT_ALLOWED');
  const importRefused = await refusal(
    stranger.request(MemberImport, { rows: [{ line: 2, name: 'Eve', email: 'eve@example.org', tier: 'member' }] }),
  );
  assert.equal(importRefused.code, 'AUTH_PROXY_ASKER_NOT_ALLOWED');
  const cli = await h.client('cli', { instance: 'second' });
  const duplicate = await refusal(
    cli.request(MemberCommand, { action: 'join', name: 'Ada Two', email: 'ADA@example.org', tier: 'member' }),
  );
  assert.equal(duplicate.code, 'MEMBER_DATA_EMAIL_TAKEN');
  const unknown = await refusal(cli.request(MemberQuery, { memberId: 'nobody' }));
  assert.equal(unknown.code, 'MEMBER_DATA_NOT_FOUND');
});

test('groups and badges over the bus; adding a group twice is refused with its code', async () => {
  const cli = await h.client('cli', { instance: 'groups' });
  const { members } = (await cli.request(MemberQuery, {})) as { members: Member[] };
  const ada = members.find((member) => member.name === 'Ada')!;
  await cli.request(MemberCommand, { action: 'add-group', memberId: ada.memberId, group: 'keyholders' });
  const { member } = (await cli.request(MemberCommand, {
    action: 'award-badge',
    memberId: ada.memberId,
    badge: 'laser-cutter',
  })) as { member: Member };
  assert.deepEqual([member.groups, member.badges], [['keyholders'], ['laser-cutter']]);
  const twice = await refusal(cli.request(MemberCommand, { action: 'add-group', memberId: ada.memberId, group: 'keyholders' }));
  assert.equal(twice.code, 'MEMBER_DATA_STATE_INVALID');
  await cli.request(MemberCommand, { action: 'revoke-badge', memberId: ada.memberId, badge: 'laser-cutter' });
  const { member: after } = (await cli.request(MemberCommand, {
    action: 'remove-group',
    memberId: ada.memberId,
    group: 'keyholders',
  })) as { member: Member };
  assert.deepEqual([after.groups, after.badges], [[], []]);
  await eventually(() => heard.some((one) => one.event === 'group-removed'), 'the group-removed announcement');
});

test('a tier BusinessData does not offer is refused on join and tier change until the treasurer adds it', async () => {
  const cli = await h.client('cli', { instance: 'tiers' });
  const before = (await allEvents(cli)).length;
  const onJoin = await refusal(
    cli.request(MemberCommand, { action: 'join', name: 'Bea', email: 'bea@example.org', tier: 'student' }),
  );
  assert.equal(onJoin.code, 'MEMBER_DATA_TIER_UNKNOWN');
  assert.match(onJoin.message, /"student" is not an active tier.*the active tiers are member/);
  const { members } = (await cli.request(MemberQuery, {})) as { members: Member[] };
  const onChange = await refusal(
    cli.request(MemberCommand, { action: 'change-tier', memberId: members[0]!.memberId, tier: 'student' }),
  );
  assert.equal(onChange.code, 'MEMBER_DATA_TIER_UNKNOWN');
  assert.equal((await allEvents(cli)).length, before);
  await cli.request(SettingSet, { kind: 'tier', key: 'student', value: { name: 'Student', monthlyDuesCents: 4_000 } });
  await cli.request(MemberCommand, { action: 'change-tier', memberId: members[0]!.memberId, tier: 'student' });
  // A tier set inactive is no longer offered.
  await cli.request(SettingSet, {
    kind: 'tier',
    key: 'student',
    value: { name: 'Student', monthlyDuesCents: 4_000, active: false },
  });
  const inactive = await refusal(
    cli.request(MemberCommand, { action: 'join', name: 'Bea', email: 'bea@example.org', tier: 'student' }),
  );
  assert.equal(inactive.code, 'MEMBER_DATA_TIER_UNKNOWN');
});

test('an import adds every row and announces each event; a bad row names its line and nothing is recorded', async () => {
  const cli = await h.client('cli', { instance: 'import' });
  const before = (await allEvents(cli)).length;
  const bad = await refusal(
    cli.request(MemberImport, {
      rows: [
        { line: 2, name: 'Cy', email: 'cy@example.org', tier: 'member' },
        { line: 3, name: 'Di', email: 'di@example.org', tier: 'gold' },
      ],
    }),
  );
  assert.equal(bad.code, 'MEMBER_DATA_TIER_UNKNOWN');
  assert.match(bad.message, /^line 3: "gold"/);
  assert.equal((await allEvents(cli)).length, before);
  const { memberIds } = (await cli.request(MemberImport, {
    rows: [
      { line: 2, name: 'Cy', email: 'cy@example.org', tier: 'member', fob: hashFob('7777777777', fobKey) },
      { line: 3, name: 'Di', email: 'di@example.org', tier: 'member' },
    ],
  })) as { memberIds: string[] };
  assert.equal(memberIds.length, 2);
  const added = (await allEvents(cli)).slice(before);
  assert.deepEqual(
    added.map((one) => [one.memberId, one.event.type]),
    [
      [memberIds[0], 'joined'],
      [memberIds[0], 'fob-issued'],
      [memberIds[1], 'joined'],
    ],
  );
  await eventually(
    () => added.every((one) => heard.some((announced) => announced.eventId === one.id)),
    'an announcement per imported event',
  );
});

test('the Reporter pages through the events; a stranger may not; a page too large for one bus message is cut short with more', async () => {
  const cli = await h.client('cli', { instance: 'paging' });
  const rows = Array.from({ length: 20 }, (_, index) => ({
    line: index + 2,
    name: `Member ${index}`,
    email: `member-${index}@example.org`,
    tier: 'member',
  }));
  await cli.request(MemberImport, { rows });
  const stranger = await h.client('reader', { extra: { pub: ['dctrl/v1/member-data/rpc/events'] } });
  assert.equal((await refusal(stranger.request(MemberEvents, { limit: 2 }))).code, 'AUTH_PROXY_ASKER_NOT_ALLOWED');
  const reader = await h.client('reporter', { instance: 'paging' });
  const first = (await reader.request(MemberEvents, { limit: 2 })) as EventsPage;
  assert.equal(first.events.length, 2);
  assert.equal(first.more, true);
  const seen = [...first.events];
  let page = first;
  let pages = 1;
  while (page.more) {
    pages += 1;
    page = (await reader.request(MemberEvents, { afterId: seen.at(-1)!.id, limit: 200 })) as EventsPage;
    assert.ok(page.events.length > 0 && page.events.length < 200);
    seen.push(...page.events);
  }
  const count = await storedEventCount();
  assert.equal(seen.length, count);
  assert.ok(pages >= 3, `${count} events came in ${pages} pages: the pages after the first were not cut to fit`);
  assert.deepEqual(
    seen.map((one) => one.id),
    seen.map((one) => one.id).sort(),
  );
  assert.equal(seen[0]!.recordedBy, 'cli');
});

test('with BusinessData away, a join fails with a clear error instead of recording an unchecked tier', async () => {
  await businessData.stop();
  const cli = await h.client('cli', { instance: 'away' });
  const before = (await allEvents(cli)).length;
  const away = await refusal(
    cli.request(MemberCommand, { action: 'join', name: 'Flo', email: 'flo@example.org', tier: 'member' }),
  );
  assert.equal(away.code, 'MEMBER_DATA_TIERS_UNAVAILABLE');
  assert.match(away.message, /AUTH_PROXY_REQUEST_TIMEOUT/);
  assert.equal((await allEvents(cli)).length, before);
  // Facts that do not name a tier are still recorded.
  const [firstEvent] = await allEvents(cli);
  await cli.request(MemberCommand, { action: 'add-group', memberId: firstEvent!.memberId, group: 'board' });
});

test('the member list comes a page at a time, each page within one bus message, every current member once', async () => {
  const cli = await h.client('cli', { instance: 'pages' });
  const everyone = async (limit?: number) => {
    const seen: Member[] = [];
    let after: string | undefined;
    let pages = 0;
    do {
      const page = (await cli.request(MemberQuery, {
        ...(limit !== undefined ? { limit } : {}),
        ...(after !== undefined ? { after } : {}),
      })) as { members: Member[]; next: string | null };
      seen.push(...page.members);
      after = page.next ?? undefined;
      pages += 1;
    } while (after !== undefined);
    return { ids: seen.map((member) => member.memberId), pages };
  };
  const current = await sql<{
    member_id: string;
  }>`SELECT member_id FROM member_data_members WHERE status = 'member' ORDER BY member_id`.execute(database.db);
  const byTwo = await everyone(2);
  const bySize = await everyone();
  assert.ok(current.rows.length >= 3, 'enough members to need pages');
  assert.deepEqual(
    byTwo.ids,
    current.rows.map((row) => row.member_id),
  );
  assert.deepEqual(bySize.ids, byTwo.ids);
  assert.equal(byTwo.pages, Math.ceil(current.rows.length / 2));
});
