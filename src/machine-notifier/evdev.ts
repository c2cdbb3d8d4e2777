// Decodes Linux input events (struct input_event, include/uapi/linux/input.h) from a USB reader that acts as a
// keyboard into keys: key presses only, digits from the top row or the keypad, Enter from either.
import { ENTER, OTHER, type Key } from './read-assembler.js';

/**
 * struct input_event is a struct timeval followed by __u16 type, __u16 code and __s32 value. The timeval is two
 * longs, so an event is 24 bytes for a 64-bit process and 16 bytes for a 32-bit one (a 32-bit ARM userland gets
 * 16-byte events even from a 64-bit kernel, through its compat layer).
 */
export type EvdevLayout = 'timeval64' | 'timeval32';

export const EVENT_BYTES: Record<EvdevLayout, number> = { timeval64: 24, timeval32: 16 };

/** EV_KEY: a key or button changed; its value is 0 release, 1 press, 2 autorepeat. */
export const EV_KEY = 1;
const KEY_PRESS = 1;

/** The layout the kernel uses for this process: by the process's own architecture, not the machine's. */
export function defaultEvdevLayout(arch: string = process.arch): EvdevLayout {
  return ['arm', 'ia32', 'mips', 'mipsel', 'ppc'].includes(arch) ? 'timeval32' : 'timeval64';
}

/** Key codes that type something a fob read can contain (linux/input-event-codes.h). */
export const KEY_CODES: ReadonlyMap<number, Key> = new Map<number, Key>([
  // KEY_1 … KEY_9, KEY_0 on the top row.
  [2, '1'],
  [3, '2'],
  [4, '3'],
  [5, '4'],
  [6, '5'],
  [7, '6'],
  [8, '7'],
  [9, '8'],
  [10, '9'],
  [11, '0'],
  // The keypad, which some readers type on.
  [71, '7'],
  [72, '8'],
  [73, '9'],
  [75, '4'],
  [76, '5'],
  [77, '6'],
  [79, '1'],
  [80, '2'],
  [81, '3'],
  [82, '0'],
  // KEY_ENTER and KEY_KPENTER.
  [28, ENTER],
  [96, ENTER],
]);

/** Modifier and lock keys a reader may press around its digits; they type nothing, so they are no part of a read. */
const SILENT_CODES = new Set([29, 42, 54, 56, 58, 69, 97, 100, 125, 126]);

/** Keeps the bytes of an event split across two reads (a FIFO delivers any number of bytes). */
export class EvdevDecoder {
  readonly #size: number;
  #rest: Buffer = Buffer.alloc(0);

  constructor(layout: EvdevLayout) {
    this.#size = EVENT_BYTES[layout];
  }

  get eventBytes(): number {
    return this.#size;
  }

  /** The keys pressed in this chunk, in order; releases, autorepeats and non-key events are skipped. */
  push(chunk: Buffer): Key[] {
    const bytes = this.#rest.length > 0 ? Buffer.concat([this.#rest, chunk]) : chunk;
    const whole = bytes.length - (bytes.length % this.#size);
    const keys: Key[] = [];
    // type, code and value follow the timeval, which is the first size - 8 bytes. Linux on x86 and ARM is little-endian.
    for (let offset = 0; offset < whole; offset += this.#size) {
      const fields = offset + this.#size - 8;
      if (bytes.readUInt16LE(fields) !== EV_KEY || bytes.readInt32LE(fields + 4) !== KEY_PRESS) continue;
      const code = bytes.readUInt16LE(fields + 2);
      if (SILENT_CODES.has(code)) continue;
      keys.push(KEY_CODES.get(code) ?? OTHER);
    }
    this.#rest = Buffer.from(bytes.subarray(whole));
    return keys;
  }

  /** Forgets a partial event (the device was reopened). */
  reset(): void {
    this.#rest = Buffer.alloc(0);
  }
}

/** One input_event as the kernel writes it, for tests and simulators. */
export function encodeInputEvent(
  layout: EvdevLayout,
  event: { type: number; code: number; value: number; seconds?: number; micros?: number },
): Buffer {
  const size = EVENT_BYTES[layout];
  const buffer = Buffer.alloc(size);
  const seconds = event.seconds ?? 0;
  const micros = event.micros ?? 0;
  if (layout === 'timeval64') {
    buffer.writeBigInt64LE(BigInt(seconds), 0);
    buffer.writeBigInt64LE(BigInt(micros), 8);
  } else {
    buffer.writeInt32LE(seconds, 0);
    buffer.writeInt32LE(micros, 4);
  }
  buffer.writeUInt16LE(event.type, size - 8);
  buffer.writeUInt16LE(event.code, size - 6);
  buffer.writeInt32LE(event.value, size - 4);
  return buffer;
}
