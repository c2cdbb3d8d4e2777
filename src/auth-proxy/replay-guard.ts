// Remembers accepted message ids until they could no longer pass the freshness check, so each is handled once.
import { AuthProxyError } from './errors.js';

export class ReplayGuard {
  // Insertion order is arrival order, so expired ids cluster at the front.
  readonly #expiries = new Map<string, number>();
  readonly #capacity: number;

  constructor(capacity = 2_000_000) {
    this.#capacity = capacity;
  }

  has(id: string): boolean {
    return this.#expiries.has(id);
  }

  /**
   * Records an id until `forgetAfter` (ms epoch).
   * @throws AuthProxyError AUTH_PROXY_REPLAY_CACHE_FULL rather than forget an id that could still be replayed.
   */
  remember(id: string, forgetAfter: number, now: number): void {
    if (this.#expiries.size >= this.#capacity) {
      this.prune(now);
      if (this.#expiries.size >= this.#capacity) {
        throw new AuthProxyError('AUTH_PROXY_REPLAY_CACHE_FULL', `replay cache holds ${this.#capacity} live ids`);
      }
    }
    this.#expiries.set(id, forgetAfter);
  }

  prune(now: number): void {
    for (const [id, expiry] of this.#expiries) {
      if (expiry > now) break;
      this.#expiries.delete(id);
    }
  }

  get size(): number {
    return this.#expiries.size;
  }
}
