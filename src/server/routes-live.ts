// What is happening now: the live event stream (server-sent events, redacted), Prometheus metrics, and the
// SpaceAPI document hackerspace directories read to show whether the space is open.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppDeps } from './deps.js';
import type { LiveEvent } from './live.js';
import { jsonSchema } from './schema.js';

/** A comment line now and then keeps proxies and phones from closing a quiet stream. */
const KEEPALIVE_MS = 15_000;
const liveQuery = z.strictObject({ replay: z.int().min(0).max(1_000).optional() });

export function registerLiveRoutes(app: FastifyInstance, { live, metrics, spaceApi }: AppDeps): void {
  app.get(
    '/api/v1/live',
    {
      schema: {
        tags: ['live'],
        summary: 'Bus events as they happen (text/event-stream), without names, addresses, emails or fob hashes',
        querystring: jsonSchema(liveQuery),
      },
      config: { access: ['admin', 'treasurer'] },
    },
    (request, reply) => {
      const { replay = 50 } = request.query as z.infer<typeof liveQuery>;
      const lastEventId = request.headers['last-event-id'];
      reply.hijack();
      const stream = reply.raw;
      stream.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      const send = (event: LiveEvent) => stream.write(`id: ${event.id}\ndata: ${JSON.stringify(event)}\n\n`);
      for (const event of live.recent(replay, typeof lastEventId === 'string' ? lastEventId : undefined)) send(event);
      const unsubscribe = live.subscribe(send);
      const keepalive = setInterval(() => stream.write(': keepalive\n\n'), KEEPALIVE_MS);
      request.raw.once('close', () => {
        clearInterval(keepalive);
        unsubscribe();
      });
    },
  );
  app.get('/metrics', { schema: { tags: ['conventions'], summary: 'Prometheus metrics' } }, async (_request, reply) =>
    reply.type(metrics.contentType).send(await metrics.metrics()),
  );
  app.get(
    '/spaceapi.json',
    { schema: { tags: ['conventions'], summary: 'SpaceAPI v15: is the space open?' } },
    (_request, reply) =>
      reply.header('access-control-allow-origin', '*').header('cache-control', 'no-cache').send(spaceApi.document()),
  );
}
