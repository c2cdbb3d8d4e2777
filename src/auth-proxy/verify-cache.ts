// Remembers envelopes whose signature already verified in this process, so co-located services verify each message once.

/**
 * Keyed by the issuer key and the exact wire text: a hit means these very bytes verified
 * under this very key, so nothing an attacker changes can hit.
 */
export class VerifyCache {
  readonly #entries = new Set<string>();
  readonly #capacity: number;

  constructor(capacity = 50_000) {
    this.#capacity = capacity;
  }

  has(publicKeyB64: string, wireText: string): boolean {
    return this.#entries.has(publicKeyB64 + wireText);
  }

  add(publicKeyB64: string, wireText: string): void {
    if (this.#entries.size >= this.#capacity) {
      const oldest = this.#entries.values().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.add(publicKeyB64 + wireText);
  }
}
