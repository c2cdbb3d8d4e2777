// What bounds the log's growth: a disk budget that raises alarms, and a byte quota per issuer whose drops are tallied
// (a broker without our quotas, such as a plain Mosquitto, lets any signed client flood).
import type { Clock } from '../core/clock.js';

export type BudgetLevel = 'ok' | 'warning' | 'over-budget';

const LEVEL_ORDER: Record<BudgetLevel, number> = { ok: 0, warning: 1, 'over-budget': 2 };

export class DiskBudget {
  readonly warnBytes: number;
  #level: BudgetLevel = 'ok';

  constructor(
    readonly budgetBytes: number,
    warnAtPercent: number,
  ) {
    this.warnBytes = Math.floor((budgetBytes * warnAtPercent) / 100);
  }

  get level(): BudgetLevel {
    return this.#level;
  }

  /** Records the log's size; returns the new level when it rose, so each crossing alarms once. */
  observe(usedBytes: number): Exclude<BudgetLevel, 'ok'> | undefined {
    const level: BudgetLevel = usedBytes >= this.budgetBytes ? 'over-budget' : usedBytes >= this.warnBytes ? 'warning' : 'ok';
    const rose = LEVEL_ORDER[level] > LEVEL_ORDER[this.#level];
    this.#level = level;
    return rose && level !== 'ok' ? level : undefined;
  }
}

export interface DropTally {
  issuer: string;
  messages: number;
  bytes: number;
  firstAt: number;
  lastAt: number;
  firstId: string;
  lastId: string;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class IssuerQuota {
  readonly #buckets = new Map<string, Bucket>();
  readonly #drops = new Map<string, DropTally>();

  constructor(
    private readonly bytesPerSecond: number,
    private readonly burstBytes: number,
    private readonly clock: Clock,
  ) {}

  /** Whether a message of `bytes` from `issuer` may be written; when not, it is tallied for `takeDrops()`. */
  admit(issuer: string, bytes: number, id: string): { admitted: true } | { admitted: false; firstDrop: boolean } {
    const now = this.clock.now();
    const bucket = this.#buckets.get(issuer) ?? { tokens: this.burstBytes, at: now };
    bucket.tokens = Math.min(this.burstBytes, bucket.tokens + (Math.max(0, now - bucket.at) * this.bytesPerSecond) / 1000);
    bucket.at = now;
    this.#buckets.set(issuer, bucket);
    if (bucket.tokens >= bytes) {
      bucket.tokens -= bytes;
      return { admitted: true };
    }
    const tally = this.#drops.get(issuer);
    if (tally) {
      tally.messages++;
      tally.bytes += bytes;
      tally.lastAt = now;
      tally.lastId = id;
      return { admitted: false, firstDrop: false };
    }
    this.#drops.set(issuer, { issuer, messages: 1, bytes, firstAt: now, lastAt: now, firstId: id, lastId: id });
    return { admitted: false, firstDrop: true };
  }

  get pendingDrops(): number {
    return this.#drops.size;
  }

  /** The drops tallied since the last call, one per issuer; they are forgotten here. */
  takeDrops(): DropTally[] {
    const drops = [...this.#drops.values()];
    this.#drops.clear();
    return drops;
  }

  /** Forgets issuers whose bucket is full again. */
  sweep(): void {
    const now = this.clock.now();
    for (const [issuer, bucket] of this.#buckets) {
      if (bucket.tokens + ((now - bucket.at) * this.bytesPerSecond) / 1000 >= this.burstBytes && !this.#drops.has(issuer)) {
        this.#buckets.delete(issuer);
      }
    }
  }
}
