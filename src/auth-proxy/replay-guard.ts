// Remembers accepted message ids until they could no longer pass the freshness check, so each is handled once.
import { AuthProxyError } from './errors.js';

const BUCKET_MS = 1_000;

export class ReplayGuard {
  readonly #ids = new Set<string>();
  // Ids grouped by the second they may be forgotten in, so pruning never scans what must stay.
  readonly #buckets = new Map<number, string[]>();
  readonly #capacity: number;

  constructor(capacity = 2_000_000) {
    this.#capacity = capacity;
  }

  has(id: string): boolean {
    return this.#ids.has(id);
  }

  /**
   * Records an id until `forgetAfter` (ms epoch).
   * @throws AuthProxyError AUTH_PROXY_REPLAY_CACHE_FULL rather than forget an id that could still be replayed.
   */
  remember(id: string, forgetAfter: number, now: number): void {
    if (this.#ids.size >= this.#capacity) {
      this.prune(now);
      if (this.#ids.size >= this.#capacity) {
        throw new AuthProxyError('AUTH_PROXY_REPLAY_CACHE_FULL', `replay cache holds ${this.#capacity} live ids`);
      }
    }
    const bucket = Math.ceil(forgetAfter / BUCKET_MS);
    const ids = this.#buckets.get(bucket);
    if (ids) ids.push(id);
    else this.#buckets.set(bucket, [id]);
    this.#ids.add(id);
  }

  prune(now: number): void {
    for (const [bucket, ids] of this.#buckets) {
      if (bucket * BUCKET_MS > now) continue;
      for (const id of ids) this.#ids.delete(id);
      this.#buckets.delete(bucket);
    }
  }

  get size(): number {
    return this.#ids.size;
  }
}
