// Remembers envelopes whose signature already verified in this process, so co-located services verify each message once.

/**
 * Keyed by the issuer key and the exact wire text: a hit means these very bytes verified
 * under this very key, so nothing an attacker changes can hit. A verification still in
 * flight is shared, so two services receiving the same message start only one.
 */
export class VerifyCache {
  readonly #verified = new Set<string>();
  readonly #inFlight = new Map<string, Promise<boolean>>();
  readonly #capacity: number;

  constructor(capacity = 50_000) {
    this.#capacity = capacity;
  }

  /** true when verified before, a promise while being verified, undefined when never seen. */
  lookup(publicKeyB64: string, wireText: string): true | Promise<boolean> | undefined {
    const key = publicKeyB64 + wireText;
    if (this.#verified.has(key)) return true;
    return this.#inFlight.get(key);
  }

  /** Records a verdict or a verification in flight; only successes are kept. */
  record(publicKeyB64: string, wireText: string, verdict: boolean | Promise<boolean>): void {
    const key = publicKeyB64 + wireText;
    if (verdict === true) {
      this.#add(key);
    } else if (verdict instanceof Promise) {
      this.#inFlight.set(key, verdict);
      void verdict.then((ok) => {
        this.#inFlight.delete(key);
        if (ok) this.#add(key);
      });
    }
  }

  #add(key: string): void {
    if (this.#verified.size >= this.#capacity) {
      const oldest = this.#verified.values().next().value;
      if (oldest !== undefined) this.#verified.delete(oldest);
    }
    this.#verified.add(key);
  }
}
