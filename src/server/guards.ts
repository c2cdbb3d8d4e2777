// What every response and every state-changing request goes through before any route: security headers, refusal
// of requests sent by another site, and JSON-only bodies, so that no route can forget them.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ServerError } from './errors.js';

/**
 * The built dashboard is one module script and one stylesheet from this origin (scripts/build-ui.mjs), so nothing
 * inline is allowed; no page of another site may frame it.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cross-origin-opener-policy': 'same-origin',
};

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function registerGuards(app: FastifyInstance): void {
  // Browsers may send text/plain across sites without asking first; no route reads it.
  app.removeContentTypeParser('text/plain');
  app.addHook('onRequest', async (request, reply) => {
    // On the raw response, so the hijacked live stream and every error carry them too.
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.raw.setHeader(name, value);
    if (SAFE_METHODS.has(request.method)) return;
    refuseCrossSite(request);
    refuseNonJsonBody(request);
  });
}

/**
 * A browser says where a request comes from in headers a page cannot set: Sec-Fetch-Site (recent browsers, on
 * https and localhost) or Origin (every browser on a POST, PUT or DELETE). A program sends neither and holds no
 * victim's cookie, so it passes; its Bearer token or its own login is what it is checked on.
 */
function refuseCrossSite(request: FastifyRequest): void {
  const fetchSite = request.headers['sec-fetch-site'];
  if (typeof fetchSite === 'string') {
    if (fetchSite === 'same-origin') return;
    throw new ServerError(
      'SERVER_CROSS_SITE',
      `expected a request from this dashboard, got Sec-Fetch-Site: ${fetchSite.slice(0, 20)}`,
    );
  }
  const origin = request.headers.origin;
  if (origin === undefined) return;
  const own = `${request.protocol}://${request.host}`.toLowerCase();
  if (origin.toLowerCase() === own) return;
  throw new ServerError('SERVER_CROSS_SITE', `expected Origin ${own}, got ${origin.slice(0, 100)}`);
}

function refuseNonJsonBody(request: FastifyRequest): void {
  const type = request.headers['content-type'];
  const length = request.headers['content-length'];
  const hasBody = (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
  if (type === undefined && !hasBody) return;
  const essence = (type ?? '').split(';')[0]!.trim().toLowerCase();
  if (essence === 'application/json') return;
  throw new ServerError(
    'SERVER_UNSUPPORTED_MEDIA_TYPE',
    `expected a body of Content-Type application/json, got ${type === undefined ? 'none' : essence.slice(0, 100)}`,
  );
}
