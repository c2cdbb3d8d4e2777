// The watched scripts, found per output without allocating: a 32-bit key read straight from the script bytes
// (its length and four bytes of the hash inside it) rules out almost every output before any string is made.

function quickKey(script: Uint8Array): number {
  const length = script.length;
  if (length < 5) return length;
  const at = length - 5;
  return ((script[at]! << 24) | (script[at + 1]! << 16) | (script[at + 2]! << 8) | script[at + 3]!) ^ (length << 3);
}

function hexOf(script: Uint8Array): string {
  return Buffer.from(script.buffer, script.byteOffset, script.byteLength).toString('hex');
}

export class ScriptIndex<T> {
  readonly #byHex = new Map<string, T>();
  readonly #quick = new Set<number>();

  get size(): number {
    return this.#byHex.size;
  }

  set(scriptHex: string, value: T): void {
    this.#byHex.set(scriptHex, value);
    this.#quick.add(quickKey(Buffer.from(scriptHex, 'hex')));
  }

  keys(): IterableIterator<string> {
    return this.#byHex.keys();
  }

  /** The value for this output script and its hex, or undefined when it is not watched. */
  match(script: Uint8Array): { value: T; scriptHex: string } | undefined {
    if (!this.#quick.has(quickKey(script))) return undefined;
    const scriptHex = hexOf(script);
    const value = this.#byHex.get(scriptHex);
    return value === undefined ? undefined : { value, scriptHex };
  }
}
