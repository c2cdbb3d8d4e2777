// What EM4100 readers send on a serial line: 10 decimal digits ended by CR and/or LF (as a keyboard reader types
// them), or an ASCII hex frame STX + 10 hex digits + 2 hex checksum (+ CR LF) + ETX, as RDM6300 and ID-12 modules do.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { MachineNotifierError } from './errors.js';
import { FOB_DIGITS, ReadAssembler, type ReadOutcome, ENTER, OTHER } from './read-assembler.js';

const STX = 0x02;
const ETX = 0x03;
const CR = 0x0d;
const LF = 0x0a;
/** Longer than any frame a reader sends: a frame that grows past it is noise, not a fob. */
const MAX_FRAME_BYTES = 32;

/**
 * The 10-digit number printed on an EM4100 fob is the low 32 bits of its 40-bit id in decimal; the first byte is the
 * version or customer id. The frame's checksum is the XOR of the five id bytes.
 */
export function decimalOfHexFrame(content: string): ReadOutcome {
  if (!/^[0-9A-Fa-f]{12}$/.test(content)) {
    return { ok: false, code: 'MACHINE_NOTIFIER_READ_MALFORMED_FRAME', length: content.length };
  }
  const bytes = Buffer.from(content, 'hex');
  const xor = bytes.subarray(0, 5).reduce((sum, byte) => sum ^ byte, 0);
  if (xor !== bytes[5]) return { ok: false, code: 'MACHINE_NOTIFIER_READ_MALFORMED_CHECKSUM', length: content.length };
  return { ok: true, digits: String(bytes.readUInt32BE(1)).padStart(FOB_DIGITS, '0') };
}

/** Splits a serial byte stream into reads: hex frames between STX and ETX, decimal lines everywhere else. */
export class SerialFramer {
  readonly #lines: ReadAssembler;
  readonly #timeoutMs: number;
  #frame: number[] | undefined;
  #frameStartedAt = 0;

  constructor(interKeyTimeoutMs: number) {
    this.#timeoutMs = interKeyTimeoutMs;
    this.#lines = new ReadAssembler(interKeyTimeoutMs);
  }

  get pending(): boolean {
    return this.#frame !== undefined || this.#lines.pending;
  }

  /** When the open frame or line goes stale by the service clock, if one is open. */
  get staleAt(): number | undefined {
    const frameStaleAt = this.#frame ? this.#frameStartedAt + this.#timeoutMs : undefined;
    const lineStaleAt = this.#lines.staleAt;
    if (frameStaleAt === undefined) return lineStaleAt;
    return lineStaleAt === undefined ? frameStaleAt : Math.min(frameStaleAt, lineStaleAt);
  }

  push(chunk: Buffer, at: number): ReadOutcome[] {
    const outcomes: ReadOutcome[] = [];
    const stale = this.expire(at);
    outcomes.push(...stale);
    for (const byte of chunk) {
      if (byte === STX) {
        // A new frame ends whatever was open: an unfinished frame or line is no read.
        if (this.#frame) outcomes.push(this.#malformedFrame());
        const line = this.#lines.expire(Number.POSITIVE_INFINITY);
        if (line) outcomes.push(line);
        this.#frame = [];
        this.#frameStartedAt = at;
        continue;
      }
      if (this.#frame) {
        if (byte === ETX) {
          const content = Buffer.from(this.#frame).toString('latin1');
          this.#frame = undefined;
          outcomes.push(decimalOfHexFrame(content));
        } else if (byte !== CR && byte !== LF) {
          this.#frame.push(byte);
          if (this.#frame.length > MAX_FRAME_BYTES) outcomes.push(this.#malformedFrame());
        }
        continue;
      }
      const key = byte === CR || byte === LF ? ENTER : byte >= 0x30 && byte <= 0x39 ? String.fromCharCode(byte) : OTHER;
      outcomes.push(...this.#lines.key(key, at));
    }
    return outcomes;
  }

  /** Drops a frame or line left unfinished for longer than the inter-key timeout. */
  expire(now: number): ReadOutcome[] {
    const outcomes: ReadOutcome[] = [];
    if (this.#frame && now - this.#frameStartedAt >= this.#timeoutMs) outcomes.push(this.#malformedFrame());
    const line = this.#lines.expire(now);
    if (line) outcomes.push(line);
    return outcomes;
  }

  clear(): void {
    this.#frame = undefined;
    this.#lines.clear();
  }

  #malformedFrame(): ReadOutcome {
    const length = this.#frame?.length ?? 0;
    this.#frame = undefined;
    return { ok: false, code: 'MACHINE_NOTIFIER_READ_MALFORMED_FRAME', length };
  }
}

/**
 * Sets the line to the reader's speed, raw (no line editing, CR kept as CR) and without echo, with the system's
 * stty: Node cannot set termios itself, and the serialport package needs a native build this project does not allow.
 * @throws MachineNotifierError MACHINE_NOTIFIER_SERIAL_SETUP_FAILED with stty's own message.
 */
export async function configureSerialLine(path: string, baudRate: number, timeoutMs = 5_000): Promise<void> {
  try {
    await promisify(execFile)('stty', ['-F', path, String(baudRate), 'raw', '-echo'], { timeout: timeoutMs });
  } catch (error) {
    const said =
      String((error as { stderr?: string }).stderr ?? '')
        .trim()
        .slice(0, 300) || (error as Error).message;
    throw new MachineNotifierError('MACHINE_NOTIFIER_SERIAL_SETUP_FAILED', `stty on ${path} at ${baudRate} baud: ${said}`);
  }
}
