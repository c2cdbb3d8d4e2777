// The member register: facts about members as append-only events, and the current facts derived from them.
import type { Kysely, Transaction } from 'kysely';
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { describeIssues } from '../core/envelope.js';
import { createIdFactoryAfter, type IdFactory } from '../core/ids.js';
import type { HashedFob } from '../core/fob-hash.js';
import { migrate, StorageError, translateDriverError, type DatabaseHandle, type MigrationList } from '../core/storage/index.js';
import { MemberDataError, type MemberDataErrorCode } from './errors.js';

export const SERVICE_NAME = 'member-data';

const name = z.string().trim().min(1).max(120);
const email = z
  .email()
  .max(254)
  .transform((value) => value.toLowerCase());
/** Tiers, groups and badges are keys: lowercase letters, digits and "-", starting with a letter. */
const key = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'lowercase letters, digits and "-", starting with a letter');
const hashedFob = z.strictObject({ hash: z.string().regex(/^[0-9a-f]{64}$/), lastDigits: z.string().regex(/^\d{3}$/) });
const eventId = z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'an event id is a 26-character ULID in upper case');
const pageSize = z.int().min(1).max(1_000);

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
  | { type: 'rejoined' }
  | { type: 'group-added'; group: string }
  | { type: 'group-removed'; group: string }
  | { type: 'badge-awarded'; badge: string }
  | { type: 'badge-revoked'; badge: string };

export interface Member {
  memberId: string;
  name: string;
  email: string;
  tier: string;
  exempt: boolean;
  status: 'member' | 'left';
  joinedAt: number;
  fobs: { fobHash: string; lastDigits: string }[];
  groups: string[];
  badges: string[];
}

/** One event as it was recorded, and the member as it left them. */
export interface Recorded {
  eventId: string;
  event: MemberEvent;
  member: Member;
}

/** One stored event, as member-data.events hands it out. */
export interface StoredEvent {
  id: string;
  memberId: string;
  event: MemberEvent;
  recordedAt: number;
  recordedBy: string;
}

/** One row of an import; `line` is where it stands in the file, so an error can name it. */
export interface ImportRow {
  line: number;
  name: string;
  email: string;
  tier: string;
  fob?: HashedFob | undefined;
}

export interface RegisterOptions {
  /**
   * The dues tiers a member may be put on today (BusinessData's active tiers); asked once per join, tier change
   * or import. It should throw a MemberDataError when it cannot tell, so nothing unchecked is recorded.
   */
  activeTiers: () => Promise<readonly string[]>;
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
      groups: [],
      badges: [],
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
      // Access rights end with membership: someone who rejoins is given their fobs and groups again.
      return { ...member, status: 'left', fobs: [], groups: [] };
    case 'rejoined':
      return { ...member, status: 'member' };
    case 'group-added':
      return { ...member, groups: [...member.groups, event.group] };
    case 'group-removed':
      return { ...member, groups: member.groups.filter((group) => group !== event.group) };
    case 'badge-awarded':
      return { ...member, badges: [...member.badges, event.badge] };
    case 'badge-revoked':
      return { ...member, badges: member.badges.filter((badge) => badge !== event.badge) };
  }
}

export class MemberRegister {
  readonly #db: Kysely<Tables>;
  readonly #clock: Clock;
  readonly #activeTiers: () => Promise<readonly string[]>;
  // Event ids are generated and committed one write at a time, so a reader paging by id never sees a later
  // id before an earlier one has been committed.
  readonly #nextId: IdFactory;
  #writes: Promise<unknown> = Promise.resolve();

  private constructor(handle: DatabaseHandle, clock: Clock, options: RegisterOptions, lastId: string | undefined) {
    this.#db = handle.db as Kysely<Tables>;
    this.#clock = clock;
    this.#activeTiers = options.activeTiers;
    this.#nextId = createIdFactoryAfter(clock, lastId);
  }

  static async open(handle: DatabaseHandle, clock: Clock, options: RegisterOptions): Promise<MemberRegister> {
    await migrate(handle, SERVICE_NAME, MIGRATIONS);
    const db = handle.db as Kysely<Tables>;
    const newest = await db
      .selectFrom('member_data_events')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirst();
    return new MemberRegister(handle, clock, options, newest?.id ?? undefined);
  }

  /** @throws MemberDataError VALUE_INVALID, EMAIL_INVALID, TIER_UNKNOWN or EMAIL_TAKEN. */
  async join(fields: { name: string; email: string; tier: string }, by: string): Promise<Recorded> {
    const event: MemberEvent = {
      type: 'joined',
      name: check(name, fields.name, 'name'),
      email: checkEmail(fields.email),
      tier: check(key, fields.tier, 'tier'),
    };
    assertKnownTier(await this.#activeTiers(), event.tier);
    return this.#record(undefined, event, by);
  }

  async changeEmail(memberId: string, address: string, by: string): Promise<Recorded> {
    return this.#record(memberId, { type: 'email-changed', email: checkEmail(address) }, by);
  }

  /** @throws MemberDataError TIER_UNKNOWN when BusinessData has no such active tier today. */
  async changeTier(memberId: string, tierKey: string, by: string): Promise<Recorded> {
    const tier = check(key, tierKey, 'tier');
    assertKnownTier(await this.#activeTiers(), tier);
    return this.#record(memberId, { type: 'tier-changed', tier }, by);
  }

  /**
   * Records a fob by its keyed hash: whoever read the number (the CLI on the hub, a door's reader) hashed it
   * with the Vault's fob key at once, so MemberData never sees a fob number at all.
   */
  async issueFob(memberId: string, fob: HashedFob, by: string): Promise<Recorded> {
    const checked = check(hashedFob, fob, 'fob');
    return this.#record(memberId, { type: 'fob-issued', fobHash: checked.hash, lastDigits: checked.lastDigits }, by);
  }

  /** Revokes the member's active fob with this hash, or ending in these digits (what a person reads off it). */
  async revokeFob(memberId: string, hashOrLastDigits: string, by: string): Promise<Recorded> {
    const member = await this.get(memberId);
    const held = member.fobs.find((fob) => fob.fobHash === hashOrLastDigits || fob.lastDigits === hashOrLastDigits);
    if (!held)
      throw new MemberDataError(
        'MEMBER_DATA_FOB_UNKNOWN',
        `member ${memberId} holds no active fob ${hashOrLastDigits.slice(-3)}`,
      );
    return this.#record(memberId, { type: 'fob-revoked', fobHash: held.fobHash, lastDigits: held.lastDigits }, by);
  }

  async setExempt(memberId: string, reason: string, by: string): Promise<Recorded> {
    return this.#record(memberId, { type: 'exempt-set', reason: check(name, reason, 'reason') }, by);
  }

  async clearExempt(memberId: string, by: string): Promise<Recorded> {
    return this.#record(memberId, { type: 'exempt-cleared' }, by);
  }

  async leave(memberId: string, by: string): Promise<Recorded> {
    return this.#record(memberId, { type: 'left' }, by);
  }

  async rejoin(memberId: string, by: string): Promise<Recorded> {
    return this.#record(memberId, { type: 'rejoined' }, by);
  }

  /** @throws MemberDataError STATE_INVALID when the member is already in the group. */
  async addGroup(memberId: string, group: string, by: string): Promise<Recorded> {
    return this.#record(memberId, { type: 'group-added', group: check(key, group, 'group') }, by);
  }

  /** @throws MemberDataError STATE_INVALID when the member is not in the group. */
  async removeGroup(memberId: string, group: string, by: string): Promise<Recorded> {
    return this.#record(memberId, { type: 'group-removed', group: check(key, group, 'group') }, by);
  }

  /** @throws MemberDataError STATE_INVALID when the member already has the badge. */
  async awardBadge(memberId: string, badge: string, by: string): Promise<Recorded> {
    return this.#record(memberId, { type: 'badge-awarded', badge: check(key, badge, 'badge') }, by);
  }

  /** @throws MemberDataError STATE_INVALID when the member does not have the badge. */
  async revokeBadge(memberId: string, badge: string, by: string): Promise<Recorded> {
    return this.#record(memberId, { type: 'badge-revoked', badge: check(key, badge, 'badge') }, by);
  }

  /**
   * Adds many members (and their fobs) in one transaction: every row is recorded, or none is. The error for a
   * bad row starts with "line N: ", N being the row's own line in the file.
   */
  async import(rows: readonly ImportRow[], by: string): Promise<{ memberIds: string[]; recorded: Recorded[] }> {
    if (rows.length === 0) throw new MemberDataError('MEMBER_DATA_VALUE_INVALID', 'an import needs at least one row');
    const tiers = await this.#activeTiers();
    const lineOfEmail = new Map<string, number>();
    const lineOfFob = new Map<string, number>();
    const checked = rows.map((row) =>
      atLine(row.line, () => {
        const joined: Extract<MemberEvent, { type: 'joined' }> = {
          type: 'joined',
          name: check(name, row.name, 'name'),
          email: checkEmail(row.email),
          tier: check(key, row.tier, 'tier'),
        };
        assertKnownTier(tiers, joined.tier);
        const emailLine = lineOfEmail.get(joined.email);
        if (emailLine !== undefined)
          throw new MemberDataError('MEMBER_DATA_EMAIL_TAKEN', `${joined.email} is already on line ${emailLine} of this import`);
        lineOfEmail.set(joined.email, row.line);
        if (row.fob === undefined) return { line: row.line, joined, fob: undefined };
        const fob = check(hashedFob, row.fob, 'fob');
        const fobLine = lineOfFob.get(fob.hash);
        if (fobLine !== undefined)
          throw new MemberDataError(
            'MEMBER_DATA_FOB_TAKEN',
            `the fob ending in ${fob.lastDigits} is already on line ${fobLine} of this import`,
          );
        lineOfFob.set(fob.hash, row.line);
        return { line: row.line, joined, fob };
      }),
    );
    return this.#serially(() =>
      this.#db.transaction().execute(async (trx) => {
        const memberIds: string[] = [];
        const recorded: Recorded[] = [];
        for (const row of checked) {
          const memberId = this.#nextId();
          memberIds.push(memberId);
          const recordRow = async (event: MemberEvent) => {
            try {
              recorded.push(await this.#recordIn(trx, memberId, event, by));
            } catch (error) {
              throw withLine(row.line, explainConflict(translateDriverError(error), event));
            }
          };
          await recordRow(row.joined);
          if (row.fob) await recordRow({ type: 'fob-issued', fobHash: row.fob.hash, lastDigits: row.fob.lastDigits });
        }
        return { memberIds, recorded };
      }),
    );
  }

  /** @throws MemberDataError MEMBER_DATA_NOT_FOUND. */
  async get(memberId: string): Promise<Member> {
    const row = await this.#db
      .selectFrom('member_data_members')
      .select('state')
      .where('member_id', '=', memberId)
      .executeTakeFirst();
    if (!row) throw new MemberDataError('MEMBER_DATA_NOT_FOUND', `no member ${memberId.slice(0, 40)}`);
    return readMember(row.state);
  }

  async list(options: { includeLeft?: boolean; after?: string | undefined; limit?: number } = {}): Promise<Member[]> {
    let query = this.#db
      .selectFrom('member_data_members')
      .select('state')
      .where('member_id', '>', options.after ?? '')
      .orderBy('member_id');
    if (!options.includeLeft) query = query.where('status', '=', 'member');
    if (options.limit !== undefined) query = query.limit(options.limit);
    return (await query.execute()).map((row) => readMember(row.state));
  }

  /** The recorded events after `afterId` (from the first when absent), oldest first, at most `limit` of them. */
  async events(page: { afterId?: string | undefined; limit: number }): Promise<{ events: StoredEvent[]; more: boolean }> {
    const limit = check(pageSize, page.limit, 'limit');
    let query = this.#db
      .selectFrom('member_data_events')
      .selectAll()
      .orderBy('id')
      .limit(limit + 1);
    if (page.afterId !== undefined) query = query.where('id', '>', check(eventId, page.afterId, 'afterId'));
    const rows = await query.execute();
    return {
      events: rows.slice(0, limit).map((row) => ({
        id: row.id,
        memberId: row.member_id,
        event: JSON.parse(row.payload) as MemberEvent,
        recordedAt: row.recorded_at,
        recordedBy: row.recorded_by,
      })),
      more: rows.length > limit,
    };
  }

  /** Throws the projections away and derives them again from the events alone. */
  async rebuild(): Promise<number> {
    return this.#serially(() =>
      this.#db.transaction().execute(async (trx) => {
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
      }),
    );
  }

  /** Records one event in its own transaction; a join (no member id yet) gets a fresh one. */
  async #record(memberId: string | undefined, event: MemberEvent, by: string): Promise<Recorded> {
    return this.#serially(async () => {
      try {
        return await this.#db.transaction().execute((trx) => this.#recordIn(trx, memberId ?? this.#nextId(), event, by));
      } catch (error) {
        throw explainConflict(translateDriverError(error), event);
      }
    });
  }

  async #recordIn(trx: Transaction<Tables>, memberId: string, event: MemberEvent, by: string): Promise<Recorded> {
    const at = this.#clock.now();
    const row = await trx.selectFrom('member_data_members').select('state').where('member_id', '=', memberId).executeTakeFirst();
    const before = row ? readMember(row.state) : undefined;
    assertFits(before, memberId, event);
    const after = applyEvent(before, memberId, event, at);
    const eventId = this.#nextId();
    await trx
      .insertInto('member_data_events')
      .values({
        id: eventId,
        member_id: memberId,
        type: event.type,
        payload: JSON.stringify(event),
        recorded_at: at,
        recorded_by: by,
      })
      .execute();
    await writeProjection(trx, before, after);
    return { eventId, event, member: after };
  }

  /** Runs writes one after another, in the order they were asked for. */
  #serially<T>(write: () => Promise<T>): Promise<T> {
    const result = this.#writes.then(write);
    this.#writes = result.catch(() => undefined);
    return result;
  }
}

/** A stored member; those stored before groups and badges existed have none. */
function readMember(state: string): Member {
  const stored = JSON.parse(state) as Omit<Member, 'groups' | 'badges'> & Partial<Pick<Member, 'groups' | 'badges'>>;
  return { ...stored, groups: stored.groups ?? [], badges: stored.badges ?? [] };
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
  const refuse = (why: string) => {
    throw new MemberDataError('MEMBER_DATA_STATE_INVALID', `member ${memberId} ${why}`);
  };
  if (event.type === 'fob-revoked' && !member.fobs.some((fob) => fob.fobHash === event.fobHash))
    throw new MemberDataError('MEMBER_DATA_FOB_UNKNOWN', `member ${memberId} holds no active fob ${event.lastDigits}`);
  if (event.type === 'group-added' && member.groups.includes(event.group)) refuse(`is already in the group "${event.group}"`);
  if (event.type === 'group-removed' && !member.groups.includes(event.group)) refuse(`is not in the group "${event.group}"`);
  if (event.type === 'badge-awarded' && member.badges.includes(event.badge)) refuse(`already has the badge "${event.badge}"`);
  if (event.type === 'badge-revoked' && !member.badges.includes(event.badge)) refuse(`does not have the badge "${event.badge}"`);
}

function assertKnownTier(activeTiers: readonly string[], tier: string): void {
  if (activeTiers.includes(tier)) return;
  const known = activeTiers.length > 0 ? `the active tiers are ${[...activeTiers].sort().join(', ')}` : 'there are none';
  throw new MemberDataError(
    'MEMBER_DATA_TIER_UNKNOWN',
    `"${tier}" is not an active tier in BusinessData today (${known}); add it with \`dctrl tier set\``,
  );
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

/** Runs one row's checks; a MemberDataError comes back with the same code and "line N: " before the message. */
function atLine<T>(line: number, work: () => T): T {
  try {
    return work();
  } catch (error) {
    throw withLine(line, error);
  }
}

function withLine(line: number, error: unknown): unknown {
  if (!(error instanceof MemberDataError)) return error;
  return new MemberDataError(error.code as MemberDataErrorCode, `line ${line}: ${error.message}`, { cause: error });
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
