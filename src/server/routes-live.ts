// What is happening now: the live event stream (server-sent events, redacted), Prometheus metrics, and the
// SpaceAPI document hackerspace directories read to show whether the space is open.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppDeps } from './deps.js';
import { ServerError } from './errors.js';
import type { LiveEvent } from './live.js';
import { jsonSchema } from './schema.js';

const MAX_BUFFERED_BYTES = 1024 * 1024;
const liveQuery = z.strictObject({ replay: z.int().min(0).max(1_000).optional() });

export function registerLiveRoutes(app: FastifyInstance, { config, live, metrics, spaceApi }: AppDeps): void {
  /** Open streams end when the server stops, or it would wait for every open dashboard tab. */
  const open = new Set<() => void>();
  app.addHook('preClose', (done) => {
    for (const end of [...open]) end();
    done();
  });
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
      const running: { keepalive?: NodeJS.Timeout; unsubscribe?: () => void } = {};
      const end = () => {
        clearInterval(running.keepalive);
        running.unsubscribe?.();
        open.delete(end);
        stream.end();
      };
      const send = (event: LiveEvent) => {
        // A viewer that cannot keep up (a phone on a bad link) is dropped rather than buffered without end.
        if (stream.writableLength > MAX_BUFFERED_BYTES) return end();
        stream.write(`id: ${event.id}\ndata: ${JSON.stringify(event)}\n\n`);
      };
      for (const event of live.recent(replay, typeof lastEventId === 'string' ? lastEventId : undefined)) send(event);
      running.unsubscribe = live.subscribe(send);
      // A comment line now and then keeps proxies and phones from closing a quiet stream, and checks the login.
      running.keepalive = setInterval(() => {
        void (request.stillAllowed?.() ?? Promise.resolve(false)).then((allowed) =>
          allowed ? stream.write(': keepalive\n\n') : end(),
        );
      }, config.server.liveKeepaliveSeconds * 1000);
      open.add(end);
      request.raw.once('close', end);
    },
  );
  const metricsHash = config.server.metricsBearerSha256;
  app.get(
    '/metrics',
    {
      schema: {
        tags: ['conventions'],
        summary: 'Prometheus metrics (with server.metricsBearerSha256 set: its Bearer secret, or an admin)',
      },
    },
    async (request, reply) => {
      if (metricsHash !== null && !mayReadMetrics(request, metricsHash)) {
        void reply.header('www-authenticate', 'Bearer realm="metrics"');
        throw new ServerError(
          'SERVER_NOT_LOGGED_IN',
          '/metrics needs `Authorization: Bearer <secret>` whose SHA-256 is server.metricsBearerSha256, or an admin’s login',
        );
      }
      return reply.type(metrics.contentType).send(await metrics.metrics());
    },
  );
  app.get(
    '/spaceapi.json',
    { schema: { tags: ['conventions'], summary: 'SpaceAPI v15: is the space open?' } },
    (_request, reply) =>
      reply.header('access-control-allow-origin', '*').header('cache-control', 'no-cache').send(spaceApi.document()),
  );
}

/** The scraper's secret (compared by its hash, in constant time), or an admin's session or Vault token. */
function mayReadMetrics(request: FastifyRequest, expectedSha256: string): boolean {
  const bearer = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
  if (bearer !== undefined) {
    const sent = createHash('sha256').update(bearer).digest();
    if (timingSafeEqual(sent, Buffer.from(expectedSha256, 'hex'))) return true;
  }
  return request.principal?.role === 'admin';
}
