// Who is connected with which token: checks connects, publishes and subscribes against token grants.
import type { KeyObject } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { DctrlError } from '../core/errors.js';
import { verifyToken, type TokenClaims } from '../core/token.js';
import { anyFilterContains, anyFilterMatches } from '../core/topic-filter.js';
import { SubscriptionMgrError } from './errors.js';

// [MQTT-3.2.2-3] CONNACK return codes
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

export interface Denial {
  client: string;
  action: 'connect' | 'publish' | 'subscribe' | 'session';
  topic?: string;
  error: SubscriptionMgrError;
}

export class SessionTable {
  // Keyed by the connection, not the client id: a takeover by the same id must not inherit or drop the other's claims.
  readonly #sessions = new Map<object, TokenClaims>();
  readonly #revoked = new Set<string>();

  constructor(
    private readonly rootPublicKey: KeyObject,
    private readonly clock: Clock,
    private readonly maxMessageBytes: number,
  ) {}

  /**
   * Checks the token presented as the MQTT password; remembers its claims for the session.
   * @throws SubscriptionMgrError carrying the CONNACK return code to send.
   */
  async admit(connection: object, clientId: string, password: Buffer | undefined): Promise<TokenClaims> {
    const claims = await this.#checkToken(password);
    if (clientId !== claims.client && !clientId.startsWith(`${claims.client}:`)) {
      throw new SubscriptionMgrError(
        'SUBSCRIPTION_MGR_CLIENT_ID_MISMATCH',
        `client id "${clientId.slice(0, 80)}" does not belong to token subject "${claims.client}"`,
        { returnCode: NOT_AUTHORIZED },
      );
    }
    this.#sessions.set(connection, claims);
    return claims;
  }

  /** A connected client hands over a renewed token; it must name the same subject. */
  async renew(connection: object, token: Buffer): Promise<TokenClaims> {
    const current = this.#sessions.get(connection);
    const claims = await this.#checkToken(token);
    if (!current || current.client !== claims.client) {
      throw new SubscriptionMgrError(
        'SUBSCRIPTION_MGR_CLIENT_ID_MISMATCH',
        `renewed token names "${claims.client}", session belongs to "${current?.client ?? 'nobody'}"`,
      );
    }
    this.#sessions.set(connection, claims);
    return claims;
  }

  forget(connection: object): void {
    this.#sessions.delete(connection);
  }

  /** Drops sessions whose connection closed without the broker saying so. */
  forgetWhere(closed: (connection: object) => boolean): void {
    for (const connection of this.#sessions.keys()) if (closed(connection)) this.#sessions.delete(connection);
  }

  claimsOf(connection: object): TokenClaims | undefined {
    return this.#sessions.get(connection);
  }

  /** @throws SubscriptionMgrError when the topic is outside the grants or the message too large. */
  checkPublish(connection: object, topic: string, bytes: number): void {
    const claims = this.#requireSession(connection);
    if (bytes > this.maxMessageBytes) {
      throw new SubscriptionMgrError(
        'SUBSCRIPTION_MGR_MESSAGE_TOO_LARGE',
        `message of ${bytes} bytes exceeds the ${this.maxMessageBytes}-byte limit`,
      );
    }
    if (!anyFilterMatches(claims.grants.pub, topic)) {
      throw new SubscriptionMgrError('SUBSCRIPTION_MGR_PUBLISH_DENIED', `"${claims.client}" may not publish to ${topic}`);
    }
  }

  /** @throws SubscriptionMgrError when the filter is not inside any granted filter. */
  checkSubscribe(connection: object, filter: string): void {
    const claims = this.#requireSession(connection);
    if (!anyFilterContains(claims.grants.sub, filter)) {
      throw new SubscriptionMgrError('SUBSCRIPTION_MGR_SUBSCRIBE_DENIED', `"${claims.client}" may not subscribe to ${filter}`);
    }
  }

  /** Replaces the set of revoked token ids; returns the sessions that now hold a revoked token. */
  applyRevocations(tokenIds: readonly string[]): object[] {
    this.#revoked.clear();
    for (const id of tokenIds) this.#revoked.add(id);
    return [...this.#sessions].filter(([, claims]) => this.#revoked.has(claims.tokenId)).map(([connection]) => connection);
  }

  /** Sessions whose token has expired by now. */
  expired(): object[] {
    const now = this.clock.now();
    return [...this.#sessions].filter(([, claims]) => claims.expiresAt <= now).map(([connection]) => connection);
  }

  async #checkToken(password: Buffer | undefined): Promise<TokenClaims> {
    if (!password || password.length === 0) {
      throw new SubscriptionMgrError('SUBSCRIPTION_MGR_NO_TOKEN', 'no token given as the MQTT password', {
        returnCode: BAD_USERNAME_OR_PASSWORD,
      });
    }
    let claims: TokenClaims;
    try {
      claims = await verifyToken(password.toString('utf8'), this.rootPublicKey, this.clock, 'bus');
    } catch (cause) {
      const reason = cause instanceof DctrlError ? `${cause.code}: ${cause.message}` : String(cause);
      throw new SubscriptionMgrError('SUBSCRIPTION_MGR_TOKEN_INVALID', reason, { cause, returnCode: BAD_USERNAME_OR_PASSWORD });
    }
    if (this.#revoked.has(claims.tokenId)) {
      throw new SubscriptionMgrError('SUBSCRIPTION_MGR_TOKEN_INVALID', `TOKEN_REVOKED: token ${claims.tokenId} was revoked`, {
        returnCode: NOT_AUTHORIZED,
      });
    }
    return claims;
  }

  #requireSession(connection: object): TokenClaims {
    const claims = this.#sessions.get(connection);
    if (!claims) {
      throw new SubscriptionMgrError('SUBSCRIPTION_MGR_TOKEN_INVALID', 'no authenticated session for this connection');
    }
    return claims;
  }
}
