// Who is asking: a dashboard session (cookie) or a machine's Vault API token (Bearer), with a role; logins checked
// against memory-hard hashes and slowed per address and per name from an address; every route says which roles may
// use it.
import type {} from '@fastify/cookie';
import type {} from '@fastify/swagger';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { importPublicKey } from '../core/keys.js';
import { TokenError, verifyToken } from '../core/token.js';
import type { AppDeps } from './deps.js';
import { jsonSchema } from './schema.js';
import { ServerError } from './errors.js';
import type { Role, Session } from './store.js';

export const SESSION_COOKIE = 'dctrl_session';

export interface Principal {
  kind: 'session' | 'token';
  name: string;
  role: Role;
  /** The member a member login is; null for staff and machines. */
  memberId: string | null;
}

/** Who may use a route: roles, and `member-self` for a member reading their own data (`:memberId` in the path). */
export type Access = Role | 'member-self';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
    /** For responses that stay open: whether the same login is still valid with the same role. */
    stillAllowed: (() => Promise<boolean>) | null;
  }
  interface FastifyContextConfig {
    /** Unset: public. */
    access?: readonly Access[];
  }
}

/** A limiter key and how many failures it may have before each further try waits. */
export interface LoginKey {
  key: string;
  freeFailures: number;
}

/**
 * Failed logins per key (an address, a name from an address) within a window, from the injectable clock. Past its
 * free failures a key waits before each further try: 1 s after its last failure, twice as long for each failure
 * more, never longer than the window. Nothing is counted per name alone, so nobody elsewhere can slow a user down.
 */
export class LoginLimiter {
  /** Oldest update first, so expired keys are swept from the front. */
  readonly #failures = new Map<string, number[]>();

  constructor(
    private readonly clock: Clock,
    private readonly windowMs: number,
  ) {}

  /** How many keys have failures remembered: expired ones are swept at each attempt, so this stays bounded. */
  get size(): number {
    return this.#failures.size;
  }

  /** How long until every key may try again; 0 when all may now. */
  waitMs(keys: readonly LoginKey[]): number {
    const now = this.clock.now();
    let wait = 0;
    for (const { key, freeFailures } of keys) {
      const recent = this.#recent(key, now);
      if (recent.length < freeFailures) continue;
      const delay = Math.min(this.windowMs, 1_000 * 2 ** Math.min(recent.length - freeFailures, 30));
      wait = Math.max(wait, recent[recent.length - 1]! + delay - now);
    }
    return wait;
  }

  /**
   * Counts an attempt as failed before its password is checked, so a burst of parallel guesses cannot all pass the
   * limit while the slow hash runs; `succeeded` takes it back.
   */
  attempt(keys: readonly LoginKey[]): number {
    const now = this.clock.now();
    this.#sweep(now);
    for (const { key } of keys) {
      const recent = [...this.#recent(key, now), now];
      this.#failures.delete(key);
      this.#failures.set(key, recent);
    }
    return now;
  }

  /** The right password: this attempt was no failure, and the name from this address starts afresh. */
  succeeded(keys: readonly LoginKey[], attemptAt: number): void {
    for (const { key } of keys) {
      const recent = this.#failures.get(key) ?? [];
      const index = recent.lastIndexOf(attemptAt);
      if (index >= 0) recent.splice(index, 1);
      if (key.startsWith('pair:') || recent.length === 0) this.#failures.delete(key);
    }
  }

  #recent(key: string, now: number): number[] {
    const kept = (this.#failures.get(key) ?? []).filter((at) => at > now - this.windowMs);
    if (kept.length === 0) this.#failures.delete(key);
    else this.#failures.set(key, kept);
    return kept;
  }

  #sweep(now: number): void {
    for (const [key, failures] of this.#failures) {
      if (failures[failures.length - 1]! > now - this.windowMs) break;
      this.#failures.delete(key);
    }
  }
}

/**
 * The address a login is counted under: an IPv4 address, or the /64 of an IPv6 one, since one host is commonly
 * given a whole /64 and could otherwise take a fresh address for every guess.
 */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (isIPv4(ip) || !isIPv6(ip)) return ip;
  const [head = '', tail] = ip.toLowerCase().split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? headGroups
      : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

const loginBody = z.strictObject({ name: z.string().min(1).max(64), password: z.string().min(1).max(1_024) });

export function registerAuth(app: FastifyInstance, deps: AppDeps): void {
  const { config, clock, store } = deps;
  const settings = config.server;
  const rootKey = importPublicKey(deps.rootPublicKey);
  const limiter = new LoginLimiter(clock, settings.loginWindowMinutes * 60_000);
  const isOpen = (session: Session) => {
    const now = clock.now();
    return (
      now - session.lastSeenAt < settings.sessionIdleMinutes * 60_000 &&
      now - session.createdAt < settings.sessionMaxHours * 3_600_000
    );
  };

  const principalOf = async (request: FastifyRequest): Promise<Principal | null> => {
    const bearer = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
    if (bearer !== undefined) {
      const claims = await verifyToken(bearer, rootKey, clock, 'api').catch((cause: unknown) => {
        if (cause instanceof TokenError && cause.code === 'TOKEN_WRONG_AUDIENCE')
          throw new ServerError('SERVER_TOKEN_WRONG_AUDIENCE', `the Bearer token is not an API token: ${cause.message}`, {
            cause,
          });
        throw new ServerError('SERVER_NOT_LOGGED_IN', `the API token is not valid: ${(cause as Error).message}`, { cause });
      });
      const role = settings.apiClients[claims.client];
      if (role === undefined) throw new ServerError('SERVER_FORBIDDEN', `"${claims.client}" is not in server.apiClients`);
      if (deps.isRevoked(claims.tokenId)) throw new ServerError('SERVER_NOT_LOGGED_IN', 'the API token was revoked');
      return { kind: 'token', name: claims.client, role, memberId: null };
    }
    const token = request.cookies[SESSION_COOKIE];
    if (token === undefined) return null;
    const session = await store.session(token, clock.now(), isOpen);
    if (session === 'expired') throw new ServerError('SERVER_SESSION_EXPIRED', 'the session has expired; log in again');
    if (!session) return null;
    return { kind: 'session', name: session.user.name, role: session.user.role, memberId: session.user.memberId };
  };

  app.decorateRequest('principal', null);
  app.decorateRequest('stillAllowed', null);
  app.addHook('preValidation', async (request) => {
    const access = request.routeOptions.config.access;
    request.principal = await principalOf(request).catch((error: unknown) => {
      if (access === undefined) return null;
      throw error;
    });
    if (access === undefined) return;
    // A response that lasts (the live stream) asks again from time to time: a logout, an expiry, a changed role
    // or a revoked token ends it.
    request.stillAllowed = async () => {
      const now = await principalOf(request).catch(() => null);
      return now !== null && now.role === request.principal?.role && now.name === request.principal.name;
    };
    const principal = request.principal;
    if (!principal) throw new ServerError('SERVER_NOT_LOGGED_IN', 'log in first');
    if (access.includes(principal.role)) return;
    const memberId = (request.params as { memberId?: string } | undefined)?.memberId;
    if (
      access.includes('member-self') &&
      principal.role === 'member' &&
      memberId !== undefined &&
      memberId === principal.memberId
    )
      return;
    throw new ServerError(
      'SERVER_FORBIDDEN',
      `a ${principal.role} may not ${request.method} ${request.routeOptions.url ?? request.url}`,
    );
  });

  const cookieOptions = { path: '/', httpOnly: true, sameSite: 'strict' as const, secure: settings.secureCookies };
  /** The space's time zone, so the dashboard's "today" and "this month" are the space's, not the browser's. */
  const spaceTimezone = async (): Promise<string | null> =>
    deps.space().then(
      (facts) => facts.timezone,
      (error: unknown) => {
        deps.logger.warn({ err: (error as Error).message }, 'BusinessData did not say the space’s time zone');
        return null;
      },
    );

  app.post(
    '/api/v1/session',
    { schema: { tags: ['session'], summary: 'Log in: sets the session cookie', body: jsonSchema(loginBody) } },
    async (request, reply) => {
      const { name, password } = request.body as z.infer<typeof loginBody>;
      const address = addressKey(request.ip);
      const keys: LoginKey[] = [
        { key: `address:${address}`, freeFailures: settings.loginMaxFailuresPerAddress },
        { key: `pair:${address}|${name}`, freeFailures: settings.loginMaxFailures },
      ];
      // Checked before the password, so the right one learns nothing while waiting either.
      const waitMs = limiter.waitMs(keys);
      if (waitMs > 0) {
        const seconds = Math.ceil(waitMs / 1000);
        void reply.header('Retry-After', String(seconds));
        throw new ServerError('SERVER_LOGIN_RATE_LIMITED', `too many failed logins from this address; try again in ${seconds} s`);
      }
      const attemptAt = limiter.attempt(keys);
      const user = await store.checkPassword(name, password);
      if (!user) {
        deps.logger.warn({ name: name.slice(0, 64), address: request.ip }, 'dashboard login failed');
        throw new ServerError('SERVER_LOGIN_FAILED', 'wrong name or password');
      }
      limiter.succeeded(keys, attemptAt);
      const token = await store.openSession(user.name, clock.now());
      void reply.setCookie(SESSION_COOKIE, token, { ...cookieOptions, maxAge: settings.sessionMaxHours * 3_600 });
      return { name: user.name, role: user.role, memberId: user.memberId, timezone: await spaceTimezone() };
    },
  );
  app.get(
    '/api/v1/session',
    { schema: { tags: ['session'], summary: 'Who is logged in' }, config: { access: ['admin', 'treasurer', 'member'] } },
    async (request) => {
      const { name, role, memberId } = request.principal!;
      return { name, role, memberId, timezone: await spaceTimezone() };
    },
  );
  app.delete('/api/v1/session', { schema: { tags: ['session'], summary: 'Log out' } }, async (request, reply: FastifyReply) => {
    const token = request.cookies[SESSION_COOKIE];
    if (token !== undefined) await store.closeSession(token);
    void reply.clearCookie(SESSION_COOKIE, cookieOptions);
    return reply.code(204).send();
  });
}
