// Appends records to the current segment in batches, rotates by size, fsyncs by policy, keeps the chain head.
import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../core/logger.js';
import { GENESIS_HASH, linkRecord, type LogRecord } from './chain.js';
import { listSegments, segmentName, splitLines } from './segments.js';

export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface WriterOptions {
  dir: string;
  segmentMaxBytes: number;
  fsync: FsyncPolicy;
  fsyncIntervalMs: number;
  logger: Logger;
  /** Called after each rotation and on close, with the head to sign. */
  onHead?: (head: { seq: number; hash: string; segment: string }) => void;
  /** Called when a write fails (a full disk): the records not yet on disk stay in memory and are retried. */
  onWriteFailed?: (error: Error, unwrittenRecords: number) => void;
  /** How soon a failed write is tried again. Default 1 s. */
  writeRetryMs?: number;
}

export class LogWriter {
  readonly #options: WriterOptions;
  #fd = -1;
  #segment = '';
  #segmentBytes = 0;
  #otherSegmentsBytes = 0;
  #lastSeq = 0;
  #lastHash = GENESIS_HASH;
  #pending: string[] = [];
  #pendingBytes = 0;
  // Bytes a failed write left over (whole records, and maybe the end of one begun); written first next time.
  #unwritten: Buffer | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #flushScheduled = false;
  #dirty = false;
  #syncing = false;
  #syncTimer: NodeJS.Timeout | undefined;
  readonly #appendListeners: ((record: LogRecord) => void)[] = [];

  constructor(options: WriterOptions) {
    this.#options = options;
  }

  /** Bytes of the whole log: every segment on disk plus what waits for this tick's write. */
  get diskBytes(): number {
    return this.#otherSegmentsBytes + this.#segmentBytes + this.#pendingBytes + (this.#unwritten?.length ?? 0);
  }

  /** Records accepted but not yet on disk because a write failed; 0 when the log is whole on disk. */
  get unwrittenRecords(): number {
    return countRecords(this.#unwritten) + (this.#unwritten ? this.#pending.length : 0);
  }

  get head(): { seq: number; hash: string; segment: string } {
    return { seq: this.#lastSeq, hash: this.#lastHash, segment: this.#segment };
  }

  /** Opens the newest segment, setting aside a line torn by a crash so the chain continues from the last whole record. */
  open(): void {
    mkdirSync(this.#options.dir, { recursive: true });
    const segments = listSegments(this.#options.dir);
    const newest = segments.at(-1);
    if (newest) {
      this.#recoverTail(newest.path);
      this.#segment = newest.name;
    } else {
      this.#segment = segmentName(1);
    }
    this.#fd = openSync(join(this.#options.dir, this.#segment), 'a');
    this.#segmentBytes = fstatSync(this.#fd).size;
    this.#otherSegmentsBytes = listSegments(this.#options.dir)
      .filter((segment) => segment.name !== this.#segment)
      .reduce((sum, segment) => sum + statSync(segment.path).size, 0);
    if (this.#options.fsync === 'interval') {
      this.#syncTimer = setInterval(() => this.#syncInBackground(), this.#options.fsyncIntervalMs);
      this.#syncTimer.unref();
    }
  }

  onAppend(listener: (record: LogRecord) => void): void {
    this.#appendListeners.push(listener);
  }

  /** Adds a record to the chain; it reaches the disk at the end of this tick, in one write with its neighbours. */
  append(at: number, topic: string, env: unknown): LogRecord {
    const { record, line } = linkRecord(this.#lastHash, this.#lastSeq + 1, at, topic, env);
    const lineBytes = Buffer.byteLength(line);
    if (
      this.#segmentBytes + this.#pendingBytes + lineBytes > this.#options.segmentMaxBytes &&
      this.#segmentBytes + this.#pendingBytes > 0 &&
      this.#unwritten === undefined
    ) {
      this.flush();
      this.#rotate(record.seq);
    }
    this.#pending.push(line);
    this.#pendingBytes += lineBytes;
    this.#lastSeq = record.seq;
    this.#lastHash = record.hash;
    // While writes fail, the retry timer flushes: not every append again.
    if (!this.#flushScheduled && this.#unwritten === undefined) {
      this.#flushScheduled = true;
      setImmediate(() => this.flush());
    }
    for (const listener of this.#appendListeners) listener(record);
    return record;
  }

  flush(): void {
    this.#flushScheduled = false;
    if ((this.#pending.length === 0 && this.#unwritten === undefined) || this.#fd < 0) return;
    const fresh = Buffer.from(this.#pending.join(''));
    this.#pending = [];
    this.#pendingBytes = 0;
    const data = this.#unwritten ? Buffer.concat([this.#unwritten, fresh]) : fresh;
    this.#unwritten = undefined;
    let offset = 0;
    try {
      while (offset < data.length) offset += writeSync(this.#fd, data, offset);
    } catch (error) {
      // Nothing accepted is dropped: what did not reach the disk waits here, in order, until a write succeeds.
      this.#unwritten = data.subarray(offset);
      this.#segmentBytes += offset;
      if (offset > 0) this.#dirty = true;
      this.#options.onWriteFailed?.(error as Error, countRecords(this.#unwritten));
      this.#retryTimer ??= setTimeout(() => {
        this.#retryTimer = undefined;
        this.flush();
      }, this.#options.writeRetryMs ?? 1_000);
      this.#retryTimer.unref();
      return;
    }
    this.#segmentBytes += data.length;
    this.#dirty = true;
    if (this.#options.fsync === 'always') this.sync();
  }

  sync(): void {
    if (!this.#dirty || this.#fd < 0) return;
    fdatasyncSync(this.#fd);
    this.#dirty = false;
  }

  /** fdatasync on libuv's thread pool, so the event loop is not held while the disk catches up. */
  #syncInBackground(): void {
    if (!this.#dirty || this.#fd < 0 || this.#syncing) return;
    this.#dirty = false;
    this.#syncing = true;
    const fd = this.#fd;
    fdatasync(fd, (error) => {
      this.#syncing = false;
      if (error && fd === this.#fd) {
        this.#dirty = true;
        this.#options.logger.error({ err: error.message }, 'fdatasync of the event log failed; will retry');
      }
    });
  }

  /** Flushes, syncs and writes the head. Does nothing when not open. */
  close(): void {
    if (this.#fd < 0) return;
    this.flush();
    // A head over records that never reached the disk would make the next start refuse the log as truncated.
    const whole = this.#unwritten === undefined;
    this.#release();
    if (whole) this.#options.onHead?.(this.head);
  }

  /** Closes without writing a head: for a log found damaged at open, whose evidence must stay as it is. */
  abandon(): void {
    if (this.#fd >= 0) this.#release();
  }

  #release(): void {
    clearInterval(this.#syncTimer);
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const lost = countRecords(this.#unwritten);
    if (lost > 0) {
      this.#options.logger.error(
        { unwrittenRecords: lost, segment: this.#segment },
        `closing the event log with ${lost} accepted records never written (the disk stayed full); they are lost`,
      );
    }
    if (this.#options.fsync !== 'never') this.sync();
    closeSync(this.#fd);
    this.#fd = -1;
  }

  #rotate(firstSeq: number): void {
    if (this.#options.fsync !== 'never') this.sync();
    closeSync(this.#fd);
    this.#otherSegmentsBytes += this.#segmentBytes;
    this.#segment = segmentName(firstSeq);
    this.#fd = openSync(join(this.#options.dir, this.#segment), 'a');
    this.#segmentBytes = 0;
    this.#dirty = false; // of the new file; the old one was synced above, or left to the OS by policy
    this.#options.onHead?.(this.head);
  }

  #recoverTail(path: string): void {
    const text = readFileSync(path, 'utf8');
    const split = splitLines(text);
    const lines = split.lines;
    let tornTail = split.tornTail;
    // A last line that ends in a newline but is not a record (a crash mid-write that the OS padded) is torn too.
    if (tornTail === undefined && lines.length > 0 && !isRecord(lines.at(-1)!)) tornTail = lines.pop()! + '\n';
    if (tornTail !== undefined) {
      const keptBytes = Buffer.byteLength(text) - Buffer.byteLength(tornTail);
      const aside = `${path}.torn-${Date.now()}`;
      renameSync(path, aside);
      // Keep the torn bytes for inspection, and continue the chain after the last whole record.
      const whole = Buffer.from(text).subarray(0, keptBytes);
      const fd = openSync(path, 'w');
      writeSync(fd, whole);
      fdatasyncSync(fd);
      closeSync(fd);
      this.#options.logger.warn(
        { segment: path, tornBytes: Buffer.byteLength(tornTail), keptAt: aside },
        'set aside a record torn by a crash',
      );
    }
    const last = lines.at(-1);
    if (last) {
      const record = JSON.parse(last) as LogRecord;
      this.#lastSeq = record.seq;
      this.#lastHash = record.hash;
    } else {
      const previous = listSegments(this.#options.dir)
        .filter((segment) => segment.path !== path)
        .at(-1);
      if (previous) this.#recoverTail(previous.path);
    }
  }
}

/** Whole records in bytes that begin at a record boundary: each one ends in a newline, and a begun one counts too. */
function countRecords(bytes: Buffer | undefined): number {
  if (!bytes || bytes.length === 0) return 0;
  let count = 0;
  for (let index = bytes.indexOf(10); index !== -1; index = bytes.indexOf(10, index + 1)) count++;
  return bytes[bytes.length - 1] === 10 ? count : count + 1;
}

function isRecord(line: string): boolean {
  try {
    const record = JSON.parse(line) as Partial<LogRecord> | null;
    return typeof record === 'object' && record !== null && typeof record.seq === 'number' && typeof record.hash === 'string';
  } catch {
    return false;
  }
}
