// MemberData's register, written once and run against SQLite and a real PostgreSQL.
import assert from 'node:assert/strict';
import type { DatabaseFactory } from '../helpers/databases.js';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { ManualClock } from '../../src/core/clock.js';
import type { DatabaseHandle } from '../../src/core/storage/index.js';
import { hashFob } from '../../src/core/fob-hash.js';
import { MemberRegister } from '../../src/member-data/register.js';

const fobKey = randomBytes(32);
/** What the reading side sends: the keyed hash and the last digits, never the number. */
const fob = (digits: string) => hashFob(digits, fobKey);
const code = (expected: string) => (error: Error & { code?: string }) => error.code === expected && error.message.length > 10;

export function runRegisterCases(name: string, factory: DatabaseFactory): void {
  describe(`member register: ${name}`, () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 1));
    let handle: DatabaseHandle;
    let register: MemberRegister;
    before(async () => {
      handle = await factory.create();
      register = await MemberRegister.open(handle, clock);
    });
    after(async () => {
      await handle.close();
      await factory.cleanup();
    });

    test('a member joins, changes email and tier, gets a fob; the fob number is nowhere in the database', async () => {
      const ada = await register.join({ name: 'Ada', email: 'Ada@Example.org', tier: 'member' }, 'cli');
      assert.equal(ada.email, 'ada@example.org');
      clock.advance(1_000);
      await register.changeEmail(ada.memberId, 'ada@hackerspace.example', 'cli');
      await register.changeTier(ada.memberId, 'student', 'cli');
      const withFob = await register.issueFob(ada.memberId, fob('0004231337'), 'cli');
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
      const bob = await register.join({ name: 'Bob', email: 'bob@example.org', tier: 'member' }, 'cli');
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

    test('leaving frees the email and the fob; rejoining keeps the history; revoking by the digits on the fob works', async () => {
      const carol = await register.join({ name: 'Carol', email: 'carol@example.org', tier: 'member' }, 'cli');
      await register.issueFob(carol.memberId, fob('1111111111'), 'cli');
      await register.issueFob(carol.memberId, fob('2222222222'), 'cli');
      const revoked = await register.revokeFob(carol.memberId, '111', 'cli');
      assert.deepEqual(
        revoked.fobs.map((fob) => fob.lastDigits),
        ['222'],
      );
      await register.setExempt(carol.memberId, 'honorary member', 'cli');
      const left = await register.leave(carol.memberId, 'cli');
      assert.equal(left.status, 'left');
      await assert.rejects(register.leave(carol.memberId, 'cli'), code('MEMBER_DATA_STATE_INVALID'));
      const dave = await register.join({ name: 'Dave', email: 'carol@example.org', tier: 'member' }, 'cli');
      await register.issueFob(dave.memberId, fob('2222222222'), 'cli');
      await assert.rejects(register.rejoin(carol.memberId, 'cli'), code('MEMBER_DATA_EMAIL_TAKEN'));
      await register.changeEmail(dave.memberId, 'dave@example.org', 'cli');
      const back = await register.rejoin(carol.memberId, 'cli');
      assert.equal(back.status, 'member');
      assert.equal(back.exempt, true);
      assert.ok(!(await register.list()).some((m) => m.memberId === carol.memberId && m.fobs.length > 0));
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
