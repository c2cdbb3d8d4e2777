// Recent bus messages for admins, filtered by type and issuer and paged forward, from the live feed's buffer: each
// already cut down to the fields the live stream may show (summarizeMessage in live.ts).
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { CLIENT_NAME_PATTERN } from '../core/envelope.js';
import { eventsReply, limitValue, okReply, ulidValue } from './api-shapes.js';
import type { AppDeps } from './deps.js';
import type { LiveEvent } from './live.js';
import { jsonSchema } from './schema.js';

const DEFAULT_LIMIT = 50;

export const eventsQuery = z.strictObject({
  type: z
    .string()
    .regex(/^[a-z][a-z0-9.-]{0,63}$/, 'a message type such as machine.tap')
    .optional(),
  issuer: z.string().regex(CLIENT_NAME_PATTERN, 'a client name such as front-door').optional(),
  after: ulidValue.optional(),
  limit: limitValue(200),
});

export function registerEventRoutes(app: FastifyInstance, { live }: AppDeps): void {
  app.get(
    '/api/v1/events',
    {
      schema: {
        tags: ['events'],
        summary: 'Recent bus messages, each with only the fields safe to show, by type and issuer',
        description:
          'Without `after`: the newest `limit` messages. With `after` (an event id, such as the previous reply’s `next`): the first `limit` after it, oldest first. The Server keeps the last server.liveBufferSize messages it heard since it started; `gap` says the `after` message is no longer among them. Replies, private topics and unchanged heartbeats are never kept.',
        querystring: jsonSchema(eventsQuery),
        response: okReply('Events, oldest first', eventsReply),
      },
      config: { access: ['admin'] },
    },
    (request) => {
      const query = request.query as z.infer<typeof eventsQuery>;
      return pageOf(live.recent(), query);
    },
  );
}

/** One page of the buffer: the filters first, then the cursor (any buffered event, shown by the filters or not). */
export function pageOf(
  buffered: readonly LiveEvent[],
  query: z.infer<typeof eventsQuery>,
): { events: LiveEvent[]; next: string | null; gap: boolean } {
  const limit = query.limit ?? DEFAULT_LIMIT;
  const from = query.after === undefined ? -1 : buffered.findIndex((event) => event.id === query.after);
  const gap = query.after !== undefined && from === -1;
  const shown = buffered
    .slice(from + 1)
    .filter(
      (event) =>
        (query.type === undefined || event.type === query.type) && (query.issuer === undefined || event.issuer === query.issuer),
    );
  if (query.after === undefined) return { events: shown.slice(-limit), next: null, gap };
  const events = shown.slice(0, limit);
  return { events, next: shown.length > limit ? events.at(-1)!.id : null, gap };
}
