// A button or sensor's logical value from its raw line levels: active-low inverted, then debounced.
import type { Clock } from '../core/clock.js';
import type { Level } from './gpio.js';

export interface InputSettings {
  name: string;
  activeLow: boolean;
  debounceMs: number;
}

/**
 * Leading-edge debounce: the first change is passed on at once (a button press opens a door without delay), then
 * the line must rest for debounceMs; changes inside that window only count by where the line settles, which is passed
 * on when the window ends. A contact that bounces 0-1-0-1 in a few ms is one change.
 */
export class InputDebouncer {
  readonly #settings: InputSettings;
  readonly #clock: Clock;
  readonly #emit: (value: Level, at: number) => void;
  #published: Level | undefined;
  #publishedAt = 0;
  #latest: Level | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(settings: InputSettings, clock: Clock, emit: (value: Level, at: number) => void) {
    this.#settings = settings;
    this.#clock = clock;
    this.#emit = emit;
  }

  /** The value last passed on, if any. */
  get value(): Level | undefined {
    return this.#published;
  }

  /** A raw (physical) level seen on the line. */
  level(raw: Level): void {
    const value: Level = this.#settings.activeLow ? (raw === 1 ? 0 : 1) : raw;
    this.#latest = value;
    if (value === this.#published) return;
    const now = this.#clock.now();
    const waited = now - this.#publishedAt;
    if (this.#published === undefined || waited >= this.#settings.debounceMs) {
      this.#pass(value, now);
      return;
    }
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#latest !== undefined && this.#latest !== this.#published) this.#pass(this.#latest, this.#clock.now());
    }, this.#settings.debounceMs - waited);
    this.#timer.unref();
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #pass(value: Level, at: number): void {
    this.#published = value;
    this.#publishedAt = at;
    this.#emit(value, at);
  }
}
