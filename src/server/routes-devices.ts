// Devices and what they decided: each configured door and vending machine, online or not from its retained
// heartbeat, with its last actuation (from the DeviceBoard); and BusinessMgr's taps and vends, newest first, with
// the member's name.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { idTime } from '../core/ids.js';
import { DecisionsQuery, type Decision } from '../core/messages-machine.js';
import { MemberQuery } from '../core/messages.js';
import { decisionsReply, deviceValue, devicesReply, limitValue, memberIdValue, okReply, ulidValue } from './api-shapes.js';
import type { AppDeps, Ask } from './deps.js';
import { jsonSchema } from './schema.js';

export const decisionsQuery = z.strictObject({
  device: deviceValue.optional(),
  memberId: memberIdValue.optional(),
  /** Epoch ms: only decisions at or after it. */
  since: z.int().nonnegative().optional(),
  /** The last decision id of the previous page. */
  before: ulidValue.optional(),
  limit: limitValue(200),
});

export function registerDeviceRoutes(app: FastifyInstance, { ask, devices }: AppDeps): void {
  app.get(
    '/api/v1/devices',
    {
      schema: {
        tags: ['devices'],
        summary: 'Every configured door and vending machine: online or not from its heartbeat, and its last actuation',
        response: okReply('The devices in id order', devicesReply),
      },
      config: { access: ['admin', 'treasurer'] },
    },
    () => ({ devices: devices.list() }),
  );
  app.get(
    '/api/v1/decisions',
    {
      schema: {
        tags: ['devices'],
        summary: 'Door and vend decisions, newest first, by device, member or time, a page at a time',
        description: 'Pass the reply’s `next` as `before` for the following (older) page; `next` is null after the last.',
        querystring: jsonSchema(decisionsQuery),
        response: okReply('A page of decisions, each with the member’s name when known', decisionsReply),
      },
      config: { access: ['admin', 'treasurer'] },
    },
    async (request) => {
      const { since, ...query } = request.query as z.infer<typeof decisionsQuery>;
      const page = (await ask(DecisionsQuery, query)) as { decisions: Decision[]; next: string | null };
      let { decisions, next } = page;
      if (since !== undefined) {
        // Newest first by id, which is made when deciding: once an id is older than `since`, so is all that follows.
        // `at` is filtered on its own, since a door's offline decisions arrive (and get their id) after the tap.
        const oldest = decisions.at(-1);
        if (oldest && idTime(oldest.decisionId) < since) next = null;
        decisions = decisions.filter((decision) => decision.at >= since);
      }
      const names = await memberNames(ask, decisions);
      return {
        decisions: decisions.map((decision) => ({
          ...decision,
          memberName: decision.memberId === null ? null : (names.get(decision.memberId) ?? null),
        })),
        next,
      };
    },
  );
}

/** The names of the members in a page; a name MemberData cannot give now is left out rather than failing the page. */
async function memberNames(ask: Ask, decisions: readonly Decision[]): Promise<Map<string, string>> {
  const ids = [...new Set(decisions.flatMap((decision) => (decision.memberId === null ? [] : [decision.memberId])))];
  const names = new Map<string, string>();
  await Promise.all(
    ids.map(async (memberId) => {
      const reply = (await ask(MemberQuery, { memberId, includeLeft: true }).catch(() => null)) as {
        members: { memberId: string; name: string }[];
      } | null;
      const member = reply?.members.find((candidate) => candidate.memberId === memberId);
      if (member) names.set(memberId, member.name);
    }),
  );
  return names;
}
