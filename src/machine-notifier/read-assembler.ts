// Turns a reader's keystrokes into reads: exactly 10 digits ended by Enter is a fob number, anything else is no tap.
import type { MalformedReadCode } from './errors.js';

/** The 10 digits an EM4100 reader types for a fob. */
export const FOB_DIGITS = 10;
/** Keystrokes further apart than this belong to different reads: a reader types a whole fob in a few ms. */
export const DEFAULT_INTER_KEY_TIMEOUT_MS = 500;

/** One keystroke: a digit '0'–'9', ENTER, or any other character (OTHER stands for every non-digit). */
export type Key = string;
export const ENTER: Key = '\n';
export const OTHER: Key = '?';

/**
 * What a read came to. A malformed read carries its length only: its digits are a fob number, or part of one, and
 * must never reach a log.
 */
export type ReadOutcome = { ok: true; digits: string } | { ok: false; code: MalformedReadCode; length: number };

/** Maps typed text to keys: CR and LF are Enter, digits are themselves, everything else is OTHER. */
export function keysOfText(text: string): Key[] {
  const keys: Key[] = [];
  for (const char of text) {
    if (char === '\r' || char === '\n') keys.push(ENTER);
    else if (char >= '0' && char <= '9') keys.push(char);
    else keys.push(OTHER);
  }
  return keys;
}

/**
 * One per reader. A buffer never outlives the inter-key timeout, so digits left by a read that was never ended
 * (a fob pulled away, a glitch) cannot join the next read into a valid-looking number.
 */
export class ReadAssembler {
  readonly #timeoutMs: number;
  #digits = '';
  #length = 0;
  #nonDigit = false;
  #lastKeyAt = 0;

  constructor(timeoutMs = DEFAULT_INTER_KEY_TIMEOUT_MS) {
    this.#timeoutMs = timeoutMs;
  }

  /** Whether keys are waiting for their Enter. */
  get pending(): boolean {
    return this.#length > 0;
  }

  /** When the keys waiting for their Enter go stale by the service clock, if any wait. */
  get staleAt(): number | undefined {
    return this.#length > 0 ? this.#lastKeyAt + this.#timeoutMs : undefined;
  }

  /** Feeds one key pressed at `at` (by the service clock); returns what it completed: a stale buffer, a read, or both. */
  key(key: Key, at: number): ReadOutcome[] {
    const outcomes: ReadOutcome[] = [];
    const stale = this.expire(at);
    if (stale) outcomes.push(stale);
    this.#lastKeyAt = at;
    if (key === ENTER) {
      // An empty line (the LF of a CR LF pair, a stray Enter) is no read at all.
      if (this.#length > 0) outcomes.push(this.#finish());
      return outcomes;
    }
    this.#length++;
    if (key >= '0' && key <= '9' && key.length === 1) {
      // Only as many digits as a fob has are kept; the length still counts the rest.
      if (this.#digits.length <= FOB_DIGITS) this.#digits += key;
    } else {
      this.#nonDigit = true;
    }
    return outcomes;
  }

  /** Drops keys older than the timeout at `now`, reporting them as a read that never ended. */
  expire(now: number): ReadOutcome | undefined {
    if (this.#length === 0 || now - this.#lastKeyAt < this.#timeoutMs) return undefined;
    const length = this.#length;
    this.#reset();
    return { ok: false, code: 'MACHINE_NOTIFIER_READ_MALFORMED_NO_ENTER', length };
  }

  /** Forgets whatever is buffered (the reader went away). */
  clear(): void {
    this.#reset();
  }

  #finish(): ReadOutcome {
    const length = this.#length;
    const digits = this.#digits;
    const nonDigit = this.#nonDigit;
    this.#reset();
    if (nonDigit) return { ok: false, code: 'MACHINE_NOTIFIER_READ_MALFORMED_NON_DIGITS', length };
    if (length < FOB_DIGITS) return { ok: false, code: 'MACHINE_NOTIFIER_READ_MALFORMED_SHORT', length };
    if (length > FOB_DIGITS) return { ok: false, code: 'MACHINE_NOTIFIER_READ_MALFORMED_LONG', length };
    return { ok: true, digits };
  }

  #reset(): void {
    this.#digits = '';
    this.#length = 0;
    this.#nonDigit = false;
  }
}
