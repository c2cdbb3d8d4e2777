// MemberData: records member facts as events, answers member queries, and announces every new fact on the bus.
import { z } from 'zod';
import { createBusClient, type BusClient } from '../auth-proxy/index.js';
import type { Config } from '../core/config.js';
import type { PayloadOf } from '../core/contract.js';
import { DctrlError } from '../core/errors.js';
import { MemberChanged, MemberCommand, MemberEvents, MemberImport, MemberQuery, SettingsGet } from '../core/messages.js';
import type { Service, ServiceContext } from '../core/service.js';
import type { DatabaseHandle } from '../core/storage/index.js';
import { MemberDataError } from './errors.js';
import { MemberRegister, SERVICE_NAME, type Recorded, type StoredEvent } from './register.js';

export { SERVICE_NAME };
export { MemberDataError, MemberDataErrorCodes } from './errors.js';

type Command = PayloadOf<typeof MemberCommand>;

/** Members per page of member-data.query: a member with a few fobs and groups is well under 600 bytes. */
const MEMBERS_PAGE = 100;

/** What MemberData reads of BusinessData's answer: each tier and whether it is offered. */
const tiersInForce = z.object({ tiers: z.record(z.string(), z.looseObject({ active: z.boolean().default(true) })) });

/** Room left in a bus message for the envelope around a reply (ids, topics, signature). */
const ENVELOPE_ALLOWANCE_BYTES = 2_048;

function run(register: MemberRegister, command: Command, by: string): Promise<Recorded> {
  switch (command.action) {
    case 'join':
      return register.join(command, by);
    case 'change-email':
      return register.changeEmail(command.memberId, command.email, by);
    case 'change-tier':
      return register.changeTier(command.memberId, command.tier, by);
    case 'issue-fob':
      return register.issueFob(command.memberId, command.fob, by);
    case 'revoke-fob':
      return register.revokeFob(command.memberId, command.fob, by);
    case 'set-exempt':
      return register.setExempt(command.memberId, command.reason, by);
    case 'clear-exempt':
      return register.clearExempt(command.memberId, by);
    case 'leave':
      return register.leave(command.memberId, by);
    case 'rejoin':
      return register.rejoin(command.memberId, by);
    case 'add-group':
      return register.addGroup(command.memberId, command.group, by);
    case 'remove-group':
      return register.removeGroup(command.memberId, command.group, by);
    case 'award-badge':
      return register.awardBadge(command.memberId, command.badge, by);
    case 'revoke-badge':
      return register.revokeBadge(command.memberId, command.badge, by);
  }
}

/**
 * Asks BusinessData which tiers are active today. It waits half the usual request time, so the editor who
 * asked hears why nothing was recorded before their own request gives up.
 */
async function activeTiersFrom(bus: BusClient, config: Config): Promise<string[]> {
  const timeoutMs = Math.max(1, Math.floor(config.bus.requestTimeoutMs / 2));
  let reply: unknown;
  try {
    reply = await bus.request(SettingsGet, {}, { timeoutMs });
  } catch (cause) {
    const detail = cause instanceof DctrlError ? `${cause.code}: ${cause.message}` : String(cause);
    throw new MemberDataError(
      'MEMBER_DATA_TIERS_UNAVAILABLE',
      `BusinessData did not tell which tiers are active (${detail}); nothing was recorded`,
      { cause },
    );
  }
  const parsed = tiersInForce.safeParse(reply);
  if (!parsed.success)
    throw new MemberDataError('MEMBER_DATA_TIERS_UNAVAILABLE', 'BusinessData answered with tiers MemberData cannot read');
  return Object.entries(parsed.data.tiers)
    .filter(([, tier]) => tier.active)
    .map(([key]) => key);
}

/** Drops events from the end of a page until the reply fits in one bus message; `more` then says so. */
/** How many of the items (at least one) fit in one bus message beside the envelope. */
function countFitting(items: readonly unknown[], maxBytes: number): number {
  const budget = maxBytes - ENVELOPE_ALLOWANCE_BYTES;
  let used = 0;
  let fitting = 0;
  for (const item of items) {
    used += Buffer.byteLength(JSON.stringify(item)) + 1;
    if (used > budget) break;
    fitting += 1;
  }
  return Math.max(fitting, 1);
}

function fitInMessage(
  page: { events: StoredEvent[]; more: boolean },
  maxBytes: number,
): { events: StoredEvent[]; more: boolean } {
  const fitting = countFitting(page.events, maxBytes);
  if (fitting >= page.events.length) return page;
  return { events: page.events.slice(0, fitting), more: true };
}

export function createMemberData(context: ServiceContext, database: DatabaseHandle): Service {
  const { config, clock } = context;
  const log = context.logger.child({ service: SERVICE_NAME });
  let bus: BusClient | undefined;

  return {
    name: SERVICE_NAME,
    async start() {
      const client = createBusClient(context);
      const register = await MemberRegister.open(database, clock, { activeTiers: () => activeTiersFrom(client, config) });
      bus = client;
      await client.start();
      const assertEditor = (issuer: string) => {
        if (!config.memberData.editors.includes(issuer))
          throw new MemberDataError('MEMBER_DATA_NOT_ALLOWED', `"${issuer}" is not in memberData.editors`);
      };
      // The fact is recorded whether or not its announcement goes out; a listener that missed one catches up
      // with member-data.events, so the editor is told what was recorded rather than that the publish failed.
      const announce = async (recorded: Recorded) => {
        try {
          await client.publish(MemberChanged, { eventId: recorded.eventId, event: recorded.event.type, member: recorded.member });
        } catch (error) {
          log.warn({ err: error, eventId: recorded.eventId }, 'member fact recorded but not announced');
        }
      };

      await client.respond(MemberCommand, async (command, envelope) => {
        assertEditor(envelope.issuer);
        const recorded = await run(register, command, envelope.issuer);
        log.info(
          { memberId: recorded.member.memberId, event: recorded.event.type, eventId: recorded.eventId, by: envelope.issuer },
          'member fact recorded',
        );
        await announce(recorded);
        return { member: recorded.member };
      });
      await client.respond(MemberImport, async (request, envelope) => {
        assertEditor(envelope.issuer);
        const { memberIds, recorded } = await register.import(request.rows, envelope.issuer);
        log.info({ members: memberIds.length, events: recorded.length, by: envelope.issuer }, 'members imported');
        for (const one of recorded) await announce(one);
        return { memberIds };
      });
      await client.respond(MemberQuery, async (query) => {
        if (query.memberId !== undefined) return { members: [await register.get(query.memberId)], next: null };
        const limit = query.limit ?? MEMBERS_PAGE;
        const members = await register.list({ includeLeft: query.includeLeft ?? false, after: query.after, limit: limit + 1 });
        const page = members.slice(0, Math.min(limit, countFitting(members, config.bus.maxMessageBytes)));
        return { members: page, next: members.length > page.length ? page.at(-1)!.memberId : null };
      });
      await client.respond(MemberEvents, async (request) =>
        fitInMessage(await register.events(request), config.bus.maxMessageBytes),
      );
    },
    async stop() {
      await bus?.stop();
    },
    describe() {
      return [`member data: ${database.description}`];
    },
  };
}
