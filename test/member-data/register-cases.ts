// MemberData's register, written once and run against SQLite and a real PostgreSQL.
import assert from 'node:assert/strict';
import type { DatabaseFactory } from '../helpers/databases.js';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { ManualClock } from '../../src/core/clock.js';
import type { DatabaseHandle } from '../../src/core/storage/index.js';
import { hashFob } from '../../src/core/fob-hash.js';
import { MemberDataError } from '../../src/member-data/errors.js';
import { MemberRegister, type ImportRow } from '../../src/member-data/register.js';

const fobKey = randomBytes(32);
/** What the reading side sends: the keyed hash and the last digits, never the number. */
const fob = (digits: string) => hashFob(digits, fobKey);
const code = (expected: string) => (error: Error & { code?: string }) => error.code === expected && error.message.length > 10;

export function runRegisterCases(name: string, factory: DatabaseFactory): void {
  describe(`member register: ${name}`, () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 1));
    /** What BusinessData would answer today; a test may replace it. */
    let activeTiers = (): Promise<readonly string[]> => Promise.resolve(['member', 'student']);
    const options = { activeTiers: () => activeTiers() };
    let handle: DatabaseHandle;
    let register: MemberRegister;
    const eventCount = async () =>
      Number((await sql<{ count: number }>`SELECT count(*) AS count FROM member_data_events`.execute(handle.db)).rows[0]!.count);
    before(async () => {
      handle = await factory.create();
      register = await MemberRegister.open(handle, clock, options);
    });
    after(async () => {
      await handle.close();
      await factory.cleanup();
    });

    test('a member joins, changes email and tier, gets a fob; the fob number is nowhere in the database', async () => {
      const { member: ada } = await register.join({ name: 'Ada', email: 'Ada@Example.org', tier: 'member' }, 'cli');
      assert.equal(ada.email, 'ada@example.org');
      assert.deepEqual([ada.groups, ada.badges], [[], []]);
      clock.advance(1_000);
      await register.changeEmail(ada.memberId, 'ada@hackerspace.example', 'cli');
      await register.changeTier(ada.memberId, 'student', 'cli');
      const { member: withFob } = await register.issueFob(ada.memberId, fob('0004231337'), 'cli');
      assert.deepEqual(
        withFob.fobs.map((fob) => fob.lastDigits),
        ['337'],
      );
      assert.equal(withFob.tier, 'student');
      const everything = await sql<{
        text: string;
      }>`SELECT payload AS text FROM member_data_events UNION ALL SELECT state FROM member_data_members`.execute(handle.db);
      assert.ok(!everything.rows.some((row) => row.text.includes('0004231337')), 'the fob number never rests in clear');
    });

    test('the same fob for a second member, or a taken email, is refused and nothing is recorded', async () => {
      const { member: bob } = await register.join({ name: 'Bob', email: 'bob@example.org', tier: 'member' }, 'cli');
      await assert.rejects(register.issueFob(bob.memberId, fob('0004231337'), 'cli'), code('MEMBER_DATA_FOB_TAKEN'));
      await assert.rejects(
        register.join({ name: 'Bobby', email: 'BOB@example.org', tier: 'member' }, 'cli'),
        code('MEMBER_DATA_EMAIL_TAKEN'),
      );
      await assert.rejects(register.changeEmail(bob.memberId, 'ada@hackerspace.example', 'cli'), code('MEMBER_DATA_EMAIL_TAKEN'));
      assert.deepEqual((await register.get(bob.memberId)).fobs, []);
      assert.equal((await register.list()).length, 2);
    });

    test('bad input is named: invalid email, bad fob number, unknown member, impossible state', async () => {
      await assert.rejects(
        register.join({ name: 'Eve', email: 'not-an-email', tier: 'member' }, 'cli'),
        code('MEMBER_DATA_EMAIL_INVALID'),
      );
      await assert.rejects(
        register.join({ name: '', email: 'eve@example.org', tier: 'member' }, 'cli'),
        code('MEMBER_DATA_VALUE_INVALID'),
      );
      await assert.rejects(
        register.join({ name: 'Eve', email: 'eve@example.org', tier: 'Gold Tier' }, 'cli'),
        code('MEMBER_DATA_VALUE_INVALID'),
      );
      const [ada] = await register.list();
      assert.throws(() => fob('12345'), code('CORE_FOB_NUMBER_INVALID'));
      await assert.rejects(
        register.issueFob(ada!.memberId, { hash: 'not-a-hash', lastDigits: '12' }, 'cli'),
        code('MEMBER_DATA_VALUE_INVALID'),
      );
      await assert.rejects(register.changeTier('01NOSUCHMEMBER', 'member', 'cli'), code('MEMBER_DATA_NOT_FOUND'));
      await assert.rejects(register.rejoin(ada!.memberId, 'cli'), code('MEMBER_DATA_STATE_INVALID'));
      await assert.rejects(register.revokeFob(ada!.memberId, '999', 'cli'), code('MEMBER_DATA_FOB_UNKNOWN'));
    });

    test('leaving frees the email and the fob and ends group access; rejoining keeps the history; revoking by the digits on the fob works', async () => {
      const { member: carol } = await register.join({ name: 'Carol', email: 'carol@example.org', tier: 'member' }, 'cli');
      await register.issueFob(carol.memberId, fob('1111111111'), 'cli');
      await register.issueFob(carol.memberId, fob('2222222222'), 'cli');
      const { member: revoked } = await register.revokeFob(carol.memberId, '111', 'cli');
      assert.deepEqual(
        revoked.fobs.map((fob) => fob.lastDigits),
        ['222'],
      );
      await register.setExempt(carol.memberId, 'honorary member', 'cli');
      await register.addGroup(carol.memberId, 'keyholders', 'cli');
      await register.awardBadge(carol.memberId, 'laser', 'cli');
      const { member: left } = await register.leave(carol.memberId, 'cli');
      assert.equal(left.status, 'left');
      assert.deepEqual([left.groups, left.badges], [[], ['laser']], 'access groups end with membership; training stays');
      await assert.rejects(register.leave(carol.memberId, 'cli'), code('MEMBER_DATA_STATE_INVALID'));
      const { member: dave } = await register.join({ name: 'Dave', email: 'carol@example.org', tier: 'member' }, 'cli');
      await register.issueFob(dave.memberId, fob('2222222222'), 'cli');
      await assert.rejects(register.rejoin(carol.memberId, 'cli'), code('MEMBER_DATA_EMAIL_TAKEN'));
      await register.changeEmail(dave.memberId, 'dave@example.org', 'cli');
      const { member: back } = await register.rejoin(carol.memberId, 'cli');
      assert.equal(back.status, 'member');
      assert.equal(back.exempt, true);
      assert.ok(!(await register.list()).some((m) => m.memberId === carol.memberId && m.fobs.length > 0));
    });

    test('groups and badges are added and taken away; twice, or taking what is not there, is refused by name', async () => {
      const { member: erin } = await register.join({ name: 'Erin', email: 'erin@example.org', tier: 'member' }, 'cli');
      await register.addGroup(erin.memberId, 'keyholders', 'cli');
      await register.addGroup(erin.memberId, 'board', 'cli');
      const { member: trained } = await register.awardBadge(erin.memberId, 'laser-cutter', 'cli');
      assert.deepEqual(trained.groups, ['keyholders', 'board']);
      assert.deepEqual(trained.badges, ['laser-cutter']);
      const stateInvalid = (words: RegExp) => (error: Error & { code?: string }) =>
        error.code === 'MEMBER_DATA_STATE_INVALID' && words.test(error.message);
      await assert.rejects(
        register.addGroup(erin.memberId, 'keyholders', 'cli'),
        stateInvalid(/already in the group "keyholders"/),
      );
      await assert.rejects(register.removeGroup(erin.memberId, 'staff', 'cli'), stateInvalid(/not in the group "staff"/));
      await assert.rejects(
        register.awardBadge(erin.memberId, 'laser-cutter', 'cli'),
        stateInvalid(/already has the badge "laser-cutter"/),
      );
      await assert.rejects(register.revokeBadge(erin.memberId, 'lathe', 'cli'), stateInvalid(/does not have the badge "lathe"/));
      await assert.rejects(register.addGroup(erin.memberId, 'Key Holders', 'cli'), code('MEMBER_DATA_VALUE_INVALID'));
      await assert.rejects(register.awardBadge(erin.memberId, '', 'cli'), code('MEMBER_DATA_VALUE_INVALID'));
      await assert.rejects(register.addGroup('01NOSUCHMEMBER', 'board', 'cli'), code('MEMBER_DATA_NOT_FOUND'));
      await register.removeGroup(erin.memberId, 'board', 'cli');
      const { member: after } = await register.revokeBadge(erin.memberId, 'laser-cutter', 'cli');
      assert.deepEqual([after.groups, after.badges], [['keyholders'], []]);
      assert.deepEqual(await register.get(erin.memberId), after);
    });

    test('a tier BusinessData does not offer today is refused on join and on a tier change, naming the known ones', async () => {
      const before = await eventCount();
      const unknownTier = (error: Error & { code?: string }) =>
        error.code === 'MEMBER_DATA_TIER_UNKNOWN' && /"gold".*member, student/.test(error.message);
      await assert.rejects(register.join({ name: 'Gil', email: 'gil@example.org', tier: 'gold' }, 'cli'), unknownTier);
      const [someone] = await register.list();
      await assert.rejects(register.changeTier(someone!.memberId, 'gold', 'cli'), unknownTier);
      // BusinessData not answering: the register records nothing it could not check.
      activeTiers = () => Promise.reject(new MemberDataError('MEMBER_DATA_TIERS_UNAVAILABLE', 'business-data is away'));
      try {
        await assert.rejects(
          register.join({ name: 'Gil', email: 'gil@example.org', tier: 'member' }, 'cli'),
          code('MEMBER_DATA_TIERS_UNAVAILABLE'),
        );
        await assert.rejects(register.changeTier(someone!.memberId, 'student', 'cli'), code('MEMBER_DATA_TIERS_UNAVAILABLE'));
      } finally {
        activeTiers = () => Promise.resolve(['member', 'student']);
      }
      assert.equal(await eventCount(), before);
    });

    test('events come in pages ordered by id: afterId, limit and more', async () => {
      const total = await eventCount();
      assert.ok(total > 10);
      const seen: string[] = [];
      let afterId: string | undefined;
      for (;;) {
        const page = await register.events({ afterId, limit: 4 });
        assert.ok(page.events.length <= 4);
        seen.push(...page.events.map((event) => event.id));
        if (!page.more) break;
        assert.equal(page.events.length, 4);
        afterId = page.events.at(-1)!.id;
      }
      assert.equal(seen.length, total);
      assert.deepEqual(seen, [...seen].sort());
      assert.equal(new Set(seen).size, total);
      const { events: first } = await register.events({ limit: 1 });
      assert.equal(first[0]!.event.type, 'joined');
      assert.equal(first[0]!.recordedBy, 'cli');
      assert.ok(first[0]!.recordedAt >= Date.UTC(2026, 10, 1));
      assert.deepEqual(await register.events({ afterId: seen.at(-1)!, limit: 10 }), { events: [], more: false });
      const exact = await register.events({ afterId: seen.at(-3)!, limit: 2 });
      assert.deepEqual([exact.events.map((event) => event.id), exact.more], [seen.slice(-2), false]);
      await assert.rejects(register.events({ afterId: seen[0]!.toLowerCase(), limit: 5 }), code('MEMBER_DATA_VALUE_INVALID'));
      await assert.rejects(register.events({ limit: 0 }), code('MEMBER_DATA_VALUE_INVALID'));
    });

    test('event ids keep growing after a restart with the clock set back a day', async () => {
      const { events: newest } = await register.events({ afterId: undefined, limit: 1_000 });
      const lastBefore = newest.at(-1)!.id;
      clock.set(clock.now() - 86_400_000);
      register = await MemberRegister.open(handle, clock, options);
      const { member: fay, eventId: joined } = await register.join(
        { name: 'Fay', email: 'fay@example.org', tier: 'member' },
        'cli',
      );
      const { eventId: grouped } = await register.addGroup(fay.memberId, 'keyholders', 'cli');
      clock.advance(5);
      const { eventId: badged } = await register.awardBadge(fay.memberId, 'lathe', 'cli');
      assert.ok(
        lastBefore < joined && joined < grouped && grouped < badged,
        `${lastBefore} < ${joined} < ${grouped} < ${badged}`,
      );
      const { events } = await register.events({ afterId: lastBefore, limit: 10 });
      assert.deepEqual(
        events.map((event) => event.id),
        [joined, grouped, badged],
      );
    });

    test('an import records every row and its fob in one go, and says which member each row became', async () => {
      const before = await eventCount();
      const rows: ImportRow[] = [
        { line: 2, name: 'Gus', email: 'gus@example.org', tier: 'member' },
        { line: 3, name: 'Hal', email: 'HAL@example.org', tier: 'student', fob: fob('3333333333') },
        { line: 5, name: 'Ida', email: 'ida@example.org', tier: 'member' },
      ];
      const { memberIds, recorded } = await register.import(rows, 'cli');
      assert.equal(memberIds.length, 3);
      assert.deepEqual(
        recorded.map((one) => one.event.type),
        ['joined', 'joined', 'fob-issued', 'joined'],
      );
      assert.equal(await eventCount(), before + 4);
      const hal = await register.get(memberIds[1]!);
      assert.equal(hal.email, 'hal@example.org');
      assert.deepEqual(
        hal.fobs.map((held) => held.lastDigits),
        ['333'],
      );
      assert.equal((await register.get(memberIds[2]!)).name, 'Ida');
    });

    const refusedImports: { why: string; rows: ImportRow[]; code: string; message: RegExp }[] = [
      {
        why: 'an invalid email',
        rows: [
          { line: 2, name: 'Jo', email: 'jo@example.org', tier: 'member' },
          { line: 7, name: 'Kit', email: 'kit-at-example.org', tier: 'member' },
        ],
        code: 'MEMBER_DATA_EMAIL_INVALID',
        message: /^line 7: "kit-at-example.org" is not an email address/,
      },
      {
        why: 'an empty name',
        rows: [
          { line: 2, name: 'Jo', email: 'jo@example.org', tier: 'member' },
          { line: 3, name: ' ', email: 'kit@example.org', tier: 'member' },
        ],
        code: 'MEMBER_DATA_VALUE_INVALID',
        message: /^line 3: "name"/,
      },
      {
        why: 'a tier BusinessData does not offer',
        rows: [
          { line: 2, name: 'Jo', email: 'jo@example.org', tier: 'member' },
          { line: 4, name: 'Kit', email: 'kit@example.org', tier: 'gold' },
        ],
        code: 'MEMBER_DATA_TIER_UNKNOWN',
        message: /^line 4: "gold" is not an active tier .*member, student/,
      },
      {
        why: 'the same email twice in the file',
        rows: [
          { line: 2, name: 'Jo', email: 'jo@example.org', tier: 'member' },
          { line: 3, name: 'Kit', email: 'kit@example.org', tier: 'member' },
          { line: 6, name: 'Jo Again', email: 'JO@example.org', tier: 'member' },
        ],
        code: 'MEMBER_DATA_EMAIL_TAKEN',
        message: /^line 6: jo@example\.org is already on line 2 of this import/,
      },
      {
        why: 'the email of a current member',
        rows: [
          { line: 2, name: 'Jo', email: 'jo@example.org', tier: 'member', fob: fob('4444444444') },
          { line: 3, name: 'Gus Two', email: 'gus@example.org', tier: 'member' },
        ],
        code: 'MEMBER_DATA_EMAIL_TAKEN',
        message: /^line 3: another current member already uses that email address/,
      },
      {
        why: 'a fob already issued to a member',
        rows: [
          { line: 2, name: 'Jo', email: 'jo@example.org', tier: 'member' },
          { line: 9, name: 'Kit', email: 'kit@example.org', tier: 'member', fob: fob('3333333333') },
        ],
        code: 'MEMBER_DATA_FOB_TAKEN',
        message: /^line 9: the fob ending in 333 is already issued/,
      },
      {
        why: 'the same fob twice in the file',
        rows: [
          { line: 2, name: 'Jo', email: 'jo@example.org', tier: 'member', fob: fob('5555555555') },
          { line: 3, name: 'Kit', email: 'kit@example.org', tier: 'member', fob: fob('5555555555') },
        ],
        code: 'MEMBER_DATA_FOB_TAKEN',
        message: /^line 3: the fob ending in 555 is already on line 2 of this import/,
      },
      {
        why: 'a malformed fob hash',
        rows: [{ line: 2, name: 'Jo', email: 'jo@example.org', tier: 'member', fob: { hash: 'abc', lastDigits: '555' } }],
        code: 'MEMBER_DATA_VALUE_INVALID',
        message: /^line 2: "fob"/,
      },
    ];
    for (const refused of refusedImports) {
      test(`an import with ${refused.why} is refused, names the line, and records nothing`, async () => {
        const events = await eventCount();
        const members = (await register.list({ includeLeft: true })).length;
        await assert.rejects(register.import(refused.rows, 'cli'), (error: Error & { code?: string }) => {
          assert.equal(error.code, refused.code);
          assert.match(error.message, refused.message);
          return true;
        });
        assert.equal(await eventCount(), events);
        assert.equal((await register.list({ includeLeft: true })).length, members);
        assert.ok(!(await register.list()).some((member) => member.email === 'jo@example.org'));
      });
    }

    test('an import without rows is refused', async () => {
      await assert.rejects(register.import([], 'cli'), code('MEMBER_DATA_VALUE_INVALID'));
    });

    test('rebuilding from the events alone gives the same members, byte for byte', async () => {
      const before = JSON.stringify(await register.list({ includeLeft: true }));
      const events = await register.rebuild();
      assert.ok(events > 10);
      assert.equal(JSON.stringify(await register.list({ includeLeft: true })), before);
      // The rebuilt unique tables still guard: the fob Dave holds cannot be issued again.
      const [first] = await register.list();
      await assert.rejects(register.issueFob(first!.memberId, fob('2222222222'), 'cli'), code('MEMBER_DATA_FOB_TAKEN'));
    });
  });
}
