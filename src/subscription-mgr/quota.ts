// Publish quotas per client (token subject): two token buckets, messages and payload bytes, refilled by the clock.
import type { Clock } from '../core/clock.js';
import { SubscriptionMgrError } from './errors.js';

export interface PublishQuotaLimits {
  messagesPerSecond: number;
  messageBurst: number;
  bytesPerSecond: number;
  byteBurst: number;
}

interface Buckets {
  limits: PublishQuotaLimits;
  messages: number;
  bytes: number;
  at: number;
}

export class PublishQuotas {
  // Keyed by subject, not connection: reconnecting must not refill the buckets.
  readonly #buckets = new Map<string, Buckets>();

  constructor(
    private readonly defaults: PublishQuotaLimits,
    private readonly overrides: Readonly<Record<string, Partial<PublishQuotaLimits>>>,
    private readonly clock: Clock,
  ) {}

  /** @throws SubscriptionMgrError SUBSCRIPTION_MGR_QUOTA_EXCEEDED when this publish does not fit; it is not counted then. */
  take(client: string, bytes: number): void {
    const buckets = this.#refill(client);
    if (buckets.messages < 1 || buckets.bytes < bytes) {
      const { limits } = buckets;
      throw new SubscriptionMgrError(
        'SUBSCRIPTION_MGR_QUOTA_EXCEEDED',
        `"${client}" published past its quota of ${limits.messagesPerSecond} messages/s (burst ${limits.messageBurst}) and ${limits.bytesPerSecond} bytes/s (burst ${limits.byteBurst}); disconnected. Raise broker.limits.publishOverrides["${client}"] if this is its normal load`,
      );
    }
    buckets.messages -= 1;
    buckets.bytes -= bytes;
  }

  /** Drops buckets that are full again: a client idle that long costs nothing to forget. */
  sweep(): void {
    for (const client of this.#buckets.keys()) {
      const buckets = this.#refill(client);
      if (buckets.messages >= buckets.limits.messageBurst && buckets.bytes >= buckets.limits.byteBurst) {
        this.#buckets.delete(client);
      }
    }
  }

  #refill(client: string): Buckets {
    const now = this.clock.now();
    let buckets = this.#buckets.get(client);
    if (!buckets) {
      const override = Object.entries(this.overrides[client] ?? {}).filter(([, value]) => value !== undefined);
      const limits: PublishQuotaLimits = { ...this.defaults, ...Object.fromEntries(override) };
      buckets = { limits, messages: limits.messageBurst, bytes: limits.byteBurst, at: now };
      this.#buckets.set(client, buckets);
      return buckets;
    }
    const seconds = Math.max(0, now - buckets.at) / 1000;
    buckets.at = now;
    buckets.messages = Math.min(buckets.limits.messageBurst, buckets.messages + seconds * buckets.limits.messagesPerSecond);
    buckets.bytes = Math.min(buckets.limits.byteBurst, buckets.bytes + seconds * buckets.limits.bytesPerSecond);
    return buckets;
  }
}
