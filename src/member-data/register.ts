// The member register: facts about members as append-only events, and the current facts derived from them.
import type { Kysely, Transaction } from 'kysely';
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { createIdFactory, type IdFactory } from '../core/ids.js';
import { describeIssues } from '../core/envelope.js';
import { migrate, StorageError, translateDriverError, type DatabaseHandle, type MigrationList } from '../core/storage/index.js';
import { MemberDataError } from './errors.js';
import type { HashedFob } from '../core/fob-hash.js';

export const SERVICE_NAME = 'member-data';

const name = z.string().trim().min(1).max(120);
const email = z
  .email()
  .max(254)
  .transform((value) => value.toLowerCase());
const tier = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/);
const hashedFob = z.strictObject({ hash: z.string().regex(/^[0-9a-f]{64}$/), lastDigits: z.string().regex(/^\d{3}$/) });

/** Every fact a member can have; a correction is a new event, never an edit. */
export type MemberEvent =
  | { type: 'joined'; name: string; email: string; tier: string }
  | { type: 'email-changed'; email: string }
  | { type: 'tier-changed'; tier: string }
  | { type: 'fob-issued'; fobHash: string; lastDigits: string }
  | { type: 'fob-revoked'; fobHash: string; lastDigits: string }
  | { type: 'exempt-set'; reason: string }
  | { type: 'exempt-cleared' }
  | { type: 'left' }
  | { type: 'rejoined' };

export interface Member {
  memberId: string;
  name: string;
  email: string;
  tier: string;
  exempt: boolean;
  status: 'member' | 'left';
  joinedAt: number;
  fobs: { fobHash: string; lastDigits: string }[];
}

interface Tables {
  member_data_events: { id: string; member_id: string; type: string; payload: string; recorded_at: number; recorded_by: string };
  member_data_members: { member_id: string; state: string; status: string };
  member_data_active_emails: { email: string; member_id: string };
  member_data_active_fobs: { fob_hash: string; member_id: string };
}

const MIGRATIONS: MigrationList = [
  [
    '0001-register',
    {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('member_data_events')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('member_id', 'text', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('recorded_at', 'bigint', (c) => c.notNull())
          .addColumn('recorded_by', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('member_data_events_by_member')
          .on('member_data_events')
          .columns(['member_id', 'id'])
          .execute();
        // Projections: rebuilt from the events alone; the two unique tables hold the facts that must not repeat.
        await db.schema
          .createTable('member_data_members')
          .addColumn('member_id', 'text', (c) => c.primaryKey())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('member_data_active_emails')
          .addColumn('email', 'text', (c) => c.primaryKey())
          .addColumn('member_id', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('member_data_active_fobs')
          .addColumn('fob_hash', 'text', (c) => c.primaryKey())
          .addColumn('member_id', 'text', (c) => c.notNull())
          .execute();
      },
    },
  ],
];

/** Applies one event to a member's current facts; the same function serves new events and rebuilds. */
export function applyEvent(member: Member | undefined, memberId: string, event: MemberEvent, at: number): Member {
  if (event.type === 'joined') {
    return {
      memberId,
      name: event.name,
      email: event.email,
      tier: event.tier,
      exempt: false,
      status: 'member',
      joinedAt: at,
      fobs: [],
    };
  }
  if (!member) throw new MemberDataError('MEMBER_DATA_NOT_FOUND', `no member ${memberId}`);
  switch (event.type) {
    case 'email-changed':
      return { ...member, email: event.email };
    case 'tier-changed':
      return { ...member, tier: event.tier };
    case 'fob-issued':
      return { ...member, fobs: [...member.fobs, { fobHash: event.fobHash, lastDigits: event.lastDigits }] };
    case 'fob-revoked':
      return { ...member, fobs: member.fobs.filter((fob) => fob.fobHash !== event.fobHash) };
    case 'exempt-set':
      return { ...member, exempt: true };
    case 'exempt-cleared':
      return { ...member, exempt: false };
    case 'left':
      return { ...member, status: 'left', fobs: [] };
    case 'rejoined':
      return { ...member, status: 'member' };
  }
}

export class MemberRegister {
  readonly #db: Kysely<Tables>;
  // Monotonic, so events recorded in the same millisecond still sort in the order they happened (rebuilds replay by id).
  readonly #nextId: IdFactory;

  private constructor(
    handle: DatabaseHandle,
    private readonly clock: Clock,
  ) {
    this.#db = handle.db as Kysely<Tables>;
    this.#nextId = createIdFactory(clock);
  }

  static async open(handle: DatabaseHandle, clock: Clock): Promise<MemberRegister> {
    await migrate(handle, SERVICE_NAME, MIGRATIONS);
    return new MemberRegister(handle, clock);
  }

  /** @throws MemberDataError MEMBER_DATA_VALUE_INVALID, MEMBER_DATA_EMAIL_INVALID or MEMBER_DATA_EMAIL_TAKEN. */
  async join(fields: { name: string; email: string; tier: string }, by: string): Promise<Member> {
    const event: MemberEvent = {
      type: 'joined',
      name: check(name, fields.name, 'name'),
      email: checkEmail(fields.email),
      tier: check(tier, fields.tier, 'tier'),
    };
    return this.#record(this.#nextId(), event, by);
  }

  async changeEmail(memberId: string, address: string, by: string): Promise<Member> {
    return this.#record(memberId, { type: 'email-changed', email: checkEmail(address) }, by);
  }

  async changeTier(memberId: string, tierId: string, by: string): Promise<Member> {
    return this.#record(memberId, { type: 'tier-changed', tier: check(tier, tierId, 'tier') }, by);
  }

  /**
   * Records a fob by its keyed hash: whoever read the number (the CLI on the hub, a door's reader) hashed it
   * with the Vault's fob key at once, so MemberData never sees a fob number at all.
   */
  async issueFob(memberId: string, fob: HashedFob, by: string): Promise<Member> {
    const checked = check(hashedFob, fob, 'fob');
    return this.#record(memberId, { type: 'fob-issued', fobHash: checked.hash, lastDigits: checked.lastDigits }, by);
  }

  /** Revokes the member's active fob with this hash, or ending in these digits (what a person reads off it). */
  async revokeFob(memberId: string, hashOrLastDigits: string, by: string): Promise<Member> {
    const member = await this.get(memberId);
    const held = member.fobs.find((fob) => fob.fobHash === hashOrLastDigits || fob.lastDigits === hashOrLastDigits);
    if (!held)
      throw new MemberDataError(
        'MEMBER_DATA_FOB_UNKNOWN',
        `member ${memberId} holds no active fob ${hashOrLastDigits.slice(-3)}`,
      );
    return this.#record(memberId, { type: 'fob-revoked', fobHash: held.fobHash, lastDigits: held.lastDigits }, by);
  }

  async setExempt(memberId: string, reason: string, by: string): Promise<Member> {
    return this.#record(memberId, { type: 'exempt-set', reason: check(name, reason, 'reason') }, by);
  }

  async clearExempt(memberId: string, by: string): Promise<Member> {
    return this.#record(memberId, { type: 'exempt-cleared' }, by);
  }

  async leave(memberId: string, by: string): Promise<Member> {
    return this.#record(memberId, { type: 'left' }, by);
  }

  async rejoin(memberId: string, by: string): Promise<Member> {
    return this.#record(memberId, { type: 'rejoined' }, by);
  }

  /** @throws MemberDataError MEMBER_DATA_NOT_FOUND. */
  async get(memberId: string): Promise<Member> {
    const row = await this.#db
      .selectFrom('member_data_members')
      .select('state')
      .where('member_id', '=', memberId)
      .executeTakeFirst();
    if (!row) throw new MemberDataError('MEMBER_DATA_NOT_FOUND', `no member ${memberId.slice(0, 40)}`);
    return JSON.parse(row.state) as Member;
  }

  async list(options: { includeLeft?: boolean } = {}): Promise<Member[]> {
    let query = this.#db.selectFrom('member_data_members').select('state').orderBy('member_id');
    if (!options.includeLeft) query = query.where('status', '=', 'member');
    return (await query.execute()).map((row) => JSON.parse(row.state) as Member);
  }

  /** Throws the projections away and derives them again from the events alone. */
  async rebuild(): Promise<number> {
    return this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('member_data_members').execute();
      await trx.deleteFrom('member_data_active_emails').execute();
      await trx.deleteFrom('member_data_active_fobs').execute();
      const members = new Map<string, Member>();
      const events = await trx.selectFrom('member_data_events').selectAll().orderBy('id').execute();
      for (const row of events) {
        const next = applyEvent(
          members.get(row.member_id),
          row.member_id,
          JSON.parse(row.payload) as MemberEvent,
          row.recorded_at,
        );
        members.set(row.member_id, next);
      }
      for (const member of members.values()) await writeProjection(trx, undefined, member);
      return events.length;
    });
  }

  async #record(memberId: string, event: MemberEvent, by: string): Promise<Member> {
    const at = this.clock.now();
    try {
      return await this.#db.transaction().execute(async (trx) => {
        const row = await trx
          .selectFrom('member_data_members')
          .select('state')
          .where('member_id', '=', memberId)
          .executeTakeFirst();
        const before = row ? (JSON.parse(row.state) as Member) : undefined;
        assertFits(before, memberId, event);
        const after = applyEvent(before, memberId, event, at);
        await trx
          .insertInto('member_data_events')
          .values({
            id: this.#nextId(),
            member_id: memberId,
            type: event.type,
            payload: JSON.stringify(event),
            recorded_at: at,
            recorded_by: by,
          })
          .execute();
        await writeProjection(trx, before, after);
        return after;
      });
    } catch (error) {
      throw explainConflict(translateDriverError(error), event);
    }
  }
}

async function writeProjection(trx: Transaction<Tables>, before: Member | undefined, after: Member): Promise<void> {
  const state = JSON.stringify(after);
  if (before)
    await trx
      .updateTable('member_data_members')
      .set({ state, status: after.status })
      .where('member_id', '=', after.memberId)
      .execute();
  else await trx.insertInto('member_data_members').values({ member_id: after.memberId, state, status: after.status }).execute();
  const emailBefore = before?.status === 'member' ? before.email : undefined;
  const emailAfter = after.status === 'member' ? after.email : undefined;
  if (emailBefore !== emailAfter) {
    if (emailBefore) await trx.deleteFrom('member_data_active_emails').where('email', '=', emailBefore).execute();
    if (emailAfter)
      await trx.insertInto('member_data_active_emails').values({ email: emailAfter, member_id: after.memberId }).execute();
  }
  const fobsBefore = new Set(before?.fobs.map((fob) => fob.fobHash) ?? []);
  const fobsAfter = new Set(after.fobs.map((fob) => fob.fobHash));
  for (const hash of fobsBefore)
    if (!fobsAfter.has(hash)) await trx.deleteFrom('member_data_active_fobs').where('fob_hash', '=', hash).execute();
  for (const hash of fobsAfter)
    if (!fobsBefore.has(hash))
      await trx.insertInto('member_data_active_fobs').values({ fob_hash: hash, member_id: after.memberId }).execute();
}

function assertFits(member: Member | undefined, memberId: string, event: MemberEvent): void {
  if (event.type === 'joined') return;
  if (!member) throw new MemberDataError('MEMBER_DATA_NOT_FOUND', `no member ${memberId.slice(0, 40)}`);
  const leftOnly = event.type === 'rejoined';
  if (leftOnly !== (member.status === 'left')) {
    throw new MemberDataError(
      'MEMBER_DATA_STATE_INVALID',
      `member ${memberId} has ${member.status === 'left' ? 'left' : 'not left'}; cannot record ${event.type}`,
    );
  }
}

function explainConflict(error: unknown, event: MemberEvent): unknown {
  if (!(error instanceof StorageError) || error.code !== 'STORAGE_CONFLICT') return error;
  if (event.type === 'fob-issued')
    return new MemberDataError('MEMBER_DATA_FOB_TAKEN', `the fob ending in ${event.lastDigits} is already issued`, {
      cause: error,
    });
  return new MemberDataError('MEMBER_DATA_EMAIL_TAKEN', 'another current member already uses that email address', {
    cause: error,
  });
}

function check<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new MemberDataError('MEMBER_DATA_VALUE_INVALID', `"${field}": ${describeIssues(result.error)}`);
  return result.data;
}

function checkEmail(value: unknown): string {
  const result = email.safeParse(value);
  if (!result.success)
    throw new MemberDataError('MEMBER_DATA_EMAIL_INVALID', `"${String(value).slice(0, 80)}" is not an email address`);
  return result.data;
}
