// Decides which reads become taps: one tap per fob presentation (debounce), and at most so many taps per second.
const WINDOW_MS = 1_000;

export type GateVerdict = 'pass' | 'debounced' | 'rate-limited';

export class TapGate {
  readonly #debounceMs: number;
  readonly #maxPerSecond: number;
  /** Last read of each fob by its hash (never the number), kept only while inside the debounce window. */
  readonly #lastRead = new Map<string, number>();
  /** When each tap passed in the last second, oldest first. */
  #passed: number[] = [];

  constructor(options: { debounceMs: number; maxPerSecond: number }) {
    this.#debounceMs = options.debounceMs;
    this.#maxPerSecond = options.maxPerSecond;
  }

  /**
   * A read of the same fob within debounceMs of its previous read is the same tap; the window runs from the latest
   * read, so a fob held to a reader that repeats is one tap however long it is held. Debounced reads use none of the
   * per-second budget; reads dropped by it still count as reads of their fob.
   */
  offer(fobHash: string, at: number): GateVerdict {
    this.#prune(at);
    const previous = this.#lastRead.get(fobHash);
    this.#lastRead.set(fobHash, at);
    if (previous !== undefined && at - previous < this.#debounceMs) return 'debounced';
    if (this.#passed.length >= this.#maxPerSecond) return 'rate-limited';
    this.#passed.push(at);
    return 'pass';
  }

  #prune(now: number): void {
    while (this.#passed.length > 0 && now - this.#passed[0]! >= WINDOW_MS) this.#passed.shift();
    // The map can only grow by distinct fobs; a burst of random numbers must not keep them all.
    if (this.#lastRead.size > 64) {
      for (const [hash, at] of this.#lastRead) if (now - at >= this.#debounceMs) this.#lastRead.delete(hash);
    }
  }
}
