// Caps audit events per second so a flood of bad messages cannot turn into a flood of audit messages.
import type { Clock } from './clock.js';

export class AuditLimiter {
  #windowStart = 0;
  #sentInWindow = 0;
  #suppressed = 0;

  constructor(
    private readonly perSecond: number,
    private readonly clock: Clock,
  ) {}

  /** Returns how many were suppressed before this one when it may be sent, or undefined when it must be counted and dropped. */
  take(): number | undefined {
    const now = this.clock.now();
    if (now - this.#windowStart >= 1000) {
      this.#windowStart = now;
      this.#sentInWindow = 0;
    }
    if (this.#sentInWindow >= this.perSecond) {
      this.#suppressed++;
      return undefined;
    }
    this.#sentInWindow++;
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    return suppressed;
  }
}
