// The web app: the REST API (documented as OpenAPI from the route schemas), login and roles, errors as
// `{ code, message }` with the right status; built apart from listening so tests can `inject` requests.
import cookie from '@fastify/cookie';
import type {} from '@fastify/static';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { DctrlError } from '../core/errors.js';
import { VERSION } from '../core/version.js';
import { registerAuth } from './auth.js';
import type { AppDeps } from './deps.js';
import { registerGuards } from './guards.js';
import { HTTP_STATUS, ServerError, type ServerErrorCodes } from './errors.js';

/** A part of the app: its routes, registered after login and roles are in place. */
export type AppPart = (app: FastifyInstance, deps: AppDeps) => void | Promise<void>;

export async function buildApp(deps: AppDeps, parts: readonly AppPart[] = []): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: deps.config.server.maxBodyBytes,
    trustProxy: trustProxyOf(deps.config.server.trustProxy),
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false, allErrors: false } },
  });
  await app.register(cookie);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'dctrl-os',
        version: VERSION,
        description:
          'The REST API of a hackerspace: members, ledger and statements, reports, invoices, devices and the event log. Log in with POST /api/v1/session (a cookie), or send a Vault token as `Authorization: Bearer`.',
      },
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: 'dctrl_session' },
          token: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        },
      },
      security: [{ session: [] }, { token: [] }],
    },
  });
  app.setErrorHandler((error: FastifyError | DctrlError, request, reply) => {
    const { status, code, message } = describeError(error);
    if (status >= 500) deps.logger.error({ err: error, url: request.url }, 'request failed');
    return reply.code(status).type('application/json').send({ code, message });
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    // A page address of the dashboard (not the API, not a file) opens the app, which shows that page.
    const isPage = request.method === 'GET' && !path.startsWith('/api/') && !/\.[a-z0-9]+$/i.test(path) && !path.includes('..');
    if (isPage && app.hasReplyDecorator('sendFile')) {
      return reply.header('cache-control', 'no-cache').sendFile('index.html');
    }
    return reply.code(404).send({ code: 'SERVER_NOT_FOUND', message: `no ${request.method} ${path}` });
  });
  registerGuards(app);
  registerAuth(app, deps);
  for (const part of parts) await part(app, deps);
  app.get('/api/openapi.json', { schema: { hide: true } }, () => app.swagger());
  await app.ready();
  return app;
}

/**
 * Which X-Forwarded-For entries are believed. A number N is N proxies in front, the nearest on this machine: the
 * socket's address must be loopback, or a client reaching the port directly could name any address it liked.
 */
export function trustProxyOf(
  setting: false | number | string[],
): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof setting !== 'number') return setting;
  return (address, hop) => hop < setting && (hop > 0 || isLoopback(address));
}

const isLoopback = (address: string) => /^(127\.|::ffff:127\.)/i.test(address) || address === '::1';

/** Bus errors keep their code; their status follows what went wrong. */
function describeError(error: FastifyError | DctrlError): { status: number; code: string; message: string } {
  if (error instanceof ServerError) {
    return { status: HTTP_STATUS[error.code as keyof typeof ServerErrorCodes], code: error.code, message: error.message };
  }
  if (error instanceof DctrlError) {
    // The bus itself failing (no answer, a broken reply) is the Server's neighbour's fault: 502/503, never the caller's.
    const status =
      error.code === 'AUTH_PROXY_REPLY_INVALID'
        ? 502
        : error.code.startsWith('AUTH_PROXY_')
          ? 503
          : /_(UNKNOWN|NOT_FOUND)|UNKNOWN_/.test(error.code)
            ? 404
            : /_(INVALID|MALFORMED|VALUE)/.test(error.code)
              ? 400
              : /_NOT_ALLOWED$/.test(error.code)
                ? 403
                : /_(CONFLICT|ALREADY_[A-Z]+|EXPIRED)$/.test(error.code)
                  ? 409
                  : error.code.startsWith('PAYOUT_PSBT_') || /_(DUST_OUTPUT|INSUFFICIENT_FUNDS)$/.test(error.code)
                    ? 422
                    : error.code === 'PAYOUT_BROADCAST_FAILED'
                      ? 502
                      : 503;
    return { status, code: error.code, message: error.message };
  }
  const fastify = error;
  if (fastify.validation) {
    const where = fastify.validationContext ?? 'request';
    const unknown = fastify.validation[0]?.params.additionalProperty;
    const message =
      typeof unknown === 'string'
        ? `"${unknown.slice(0, 64)}" is not a parameter of this route`
        : fastify.message.replace(/^(querystring|params|body)\/?/, '');
    return { status: 400, code: 'SERVER_BAD_REQUEST', message: `${where}: ${message}` };
  }
  if (fastify.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return { status: 413, code: 'SERVER_BODY_TOO_LARGE', message: 'the request body is larger than server.maxBodyBytes' };
  }
  if (fastify.statusCode !== undefined && fastify.statusCode >= 400 && fastify.statusCode < 500) {
    return { status: fastify.statusCode, code: 'SERVER_BAD_REQUEST', message: fastify.message };
  }
  return { status: 500, code: 'SERVER_INTERNAL', message: 'the server failed; the log says why' };
}
