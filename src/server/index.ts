// Server: the dashboard and the REST API, one process with the other services or alone. It reads everything
// through the bus as the client `server`, like any other service, and keeps only its users and sessions.
import { createBusClient, type BusClient } from '../auth-proxy/index.js';
import type { Clock } from '../core/clock.js';
import { SettingsGet, Topics } from '../core/messages.js';
import type { Service, ServiceContext } from '../core/service.js';
import type { DatabaseHandle } from '../core/storage/index.js';
import { buildApp, type AppPart } from './app.js';
import type { AppDeps, Ask, SpaceFacts } from './deps.js';
import { createDeviceBoard, type DeviceBoard } from './devices.js';
import { ServerError } from './errors.js';
import { createLiveFeed, type LiveFeed } from './live.js';
import { createServerMetrics, type ServerMetrics } from './metrics.js';
import { registerDeviceRoutes } from './routes-devices.js';
import { registerEventRoutes } from './routes-events.js';
import { registerInvoiceRoutes } from './routes-invoices.js';
import { registerLiveRoutes } from './routes-live.js';
import { registerMemberRoutes } from './routes-members.js';
import { registerPayoutRoutes } from './routes-payouts.js';
import { registerReportRoutes } from './routes-reports.js';
import { registerStatic } from './routes-static.js';
import { createSpaceApi, type SpaceApi } from './spaceapi.js';
import { ServerStore } from './store.js';

export { buildApp, type AppPart } from './app.js';
export { jsonSchema } from './schema.js';
export type { AppDeps, Ask } from './deps.js';
export { ServerError, ServerErrorCodes } from './errors.js';
export { hashPassword, MIN_PASSWORD_LENGTH, ROLES, ServerStore, verifyPassword, type Role, type User } from './store.js';

export const SERVICE_NAME = 'server';

/** Every part of the app this build serves. */
export const APP_PARTS: readonly AppPart[] = [
  registerMemberRoutes,
  registerReportRoutes,
  registerInvoiceRoutes,
  registerPayoutRoutes,
  registerDeviceRoutes,
  registerEventRoutes,
  registerLiveRoutes,
  registerStatic,
];

export interface Server extends Service {
  /** Where it listens, once started: http://host:port/. */
  readonly url: string | undefined;
}

const SPACE_FACTS_TTL_MS = 60_000;

function spaceFacts(ask: Ask, clock: Clock): () => Promise<SpaceFacts> {
  let last: { facts: SpaceFacts; at: number } | undefined;
  return async () => {
    if (last && clock.now() >= last.at && clock.now() - last.at < SPACE_FACTS_TTL_MS) return last.facts;
    try {
      const { policies } = (await ask(SettingsGet, {})) as { policies: SpaceFacts };
      last = { facts: { currency: policies.currency, timezone: policies.timezone }, at: clock.now() };
    } catch (error) {
      if (!last) throw error;
    }
    return last.facts;
  };
}

export function createServer(context: ServiceContext, database: DatabaseHandle): Server {
  const { config, clock } = context;
  const log = context.logger.child({ service: SERVICE_NAME });
  let bus: BusClient | undefined;
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  let url: string | undefined;
  let revoked = new Set<string>();
  let live: LiveFeed | undefined;
  let metrics: ServerMetrics | undefined;
  let spaceApi: SpaceApi | undefined;
  let devices: DeviceBoard | undefined;

  return {
    name: SERVICE_NAME,
    get url() {
      return url;
    },
    async start() {
      const store = await ServerStore.open(database);
      // A clean session: the Server needs no messages kept while it was away (retained state comes back on subscribe),
      // and Aedes drops a persistent session whose overlapping subscriptions (dctrl/v1/# and narrower) match one message.
      const active = createBusClient(context, { persistentSession: false });
      bus = active;
      // Its handlers before the client connects, its topics before anything subscribes to everything (devices.ts).
      devices = createDeviceBoard({ bus: active, clock, devices: config.machines.devices });
      await active.start();
      // Through the bus client, which keeps the newest list: an old one replayed by a broker cannot un-revoke a token.
      active.onRevocations(({ revoked: list }) => {
        revoked = new Set(list.map((entry) => entry.tokenId));
      });
      await active.subscribe(Topics.revocations);
      await devices.start();
      live = createLiveFeed({ bus: active, clock, bufferSize: config.server.liveBufferSize, logger: log });
      metrics = createServerMetrics({ bus: active, clock });
      spaceApi = createSpaceApi({ bus: active, clock, options: config.server.spaceApi });
      for (const part of [live, metrics, spaceApi]) await part.start();
      const deps: AppDeps = {
        config,
        clock,
        logger: log,
        store,
        rootPublicKey: context.credentials.rootPublicKey,
        isRevoked: (tokenId) => revoked.has(tokenId),
        ask: (spec, payload, options) => active.request(spec, payload, options ?? {}),
        live,
        metrics,
        spaceApi,
        devices,
        space: spaceFacts((spec, payload) => active.request(spec, payload), clock),
      };
      app = await buildApp(deps, APP_PARTS);
      try {
        await app.listen({ host: config.server.host, port: config.server.port });
      } catch (cause) {
        throw new ServerError(
          'SERVER_LISTEN_FAILED',
          `cannot listen on ${config.server.host}:${config.server.port}: ${(cause as Error).message}`,
          { cause },
        );
      }
      const address = app.server.address();
      const port = typeof address === 'object' && address !== null ? address.port : config.server.port;
      url = `http://${config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host}:${port}/`;
      log.info({ url }, 'dashboard listening');
    },
    async stop() {
      for (const part of [devices, live, metrics, spaceApi]) part?.stop();
      await app?.close();
      app = undefined;
      await bus?.stop();
      bus = undefined;
    },
    describe() {
      return [`dashboard and REST API: ${url ?? '(not started)'} (OpenAPI at ${url ?? '/'}api/openapi.json)`];
    },
  };
}
