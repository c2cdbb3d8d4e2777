// Byte streams from fob readers: a device file (evdev, or a tty for a serial reader) kept open across unplugging,
// and standard input for development.
import { closeSync, constants, createReadStream, openSync } from 'node:fs';
import { isatty, ReadStream as TtyReadStream } from 'node:tty';
import type { Readable } from 'node:stream';
import { MachineNotifierError } from './errors.js';
import { configureSerialLine } from './serial.js';

export interface ReaderHandle {
  close(): void;
}

export interface DeviceReaderOptions {
  /** What is read, for messages. */
  path: string;
  open(): Promise<Readable>;
  onChunk(chunk: Buffer): void;
  /** The stream opened (again). */
  onOpen(): void;
  /** The stream failed or ended; whatever was half-read belongs to no read any more. */
  onLost(error: MachineNotifierError): void;
  retryMs: number;
}

/**
 * Keeps a device file open: when it cannot be opened, fails or ends (a USB reader unplugged, a FIFO writer gone),
 * it is opened again after retryMs until close().
 */
export function keepReading(options: DeviceReaderOptions): ReaderHandle {
  let closed = false;
  let current: Readable | undefined;
  let timer: NodeJS.Timeout | undefined;

  const retry = (error: MachineNotifierError) => {
    options.onLost(error);
    if (closed) return;
    timer = setTimeout(() => void attempt(), options.retryMs);
  };

  const attempt = async (): Promise<void> => {
    timer = undefined;
    if (closed) return;
    let stream: Readable;
    try {
      stream = await options.open();
    } catch (cause) {
      retry(lost(options.path, cause));
      return;
    }
    if (closed) {
      stream.destroy();
      return;
    }
    current = stream;
    let done = false;
    const finish = (cause: unknown) => {
      if (done) return;
      done = true;
      if (current === stream) current = undefined;
      stream.destroy();
      if (!closed) retry(lost(options.path, cause));
    };
    stream.on('data', (chunk: Buffer | string) => options.onChunk(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    stream.once('ready', () => options.onOpen());
    stream.once('error', finish);
    stream.once('end', () => finish(new Error('the reader closed (end of file)')));
    stream.once('close', () => finish(new Error('the reader closed')));
  };

  void attempt();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      // A read already waiting in the kernel on a device file cannot be interrupted from Node: its file is closed
      // when that read returns (the next key event, or EOF on a FIFO). Nothing is done with what it returns.
      current?.destroy();
      current = undefined;
    },
  };
}

function lost(path: string, cause: unknown): MachineNotifierError {
  if (cause instanceof MachineNotifierError) return cause as MachineNotifierError;
  const message = cause instanceof Error ? cause.message : String(cause);
  return new MachineNotifierError('MACHINE_NOTIFIER_READER_FAILED', `${path}: ${message.slice(0, 300)}`, { cause });
}

/** An input event device (or a FIFO or file standing in for one): read as a plain byte stream. */
export function openEvdev(path: string): () => Promise<Readable> {
  return () => Promise.resolve(createReadStream(path, { highWaterMark: 24 * 64 }));
}

/**
 * A serial reader: the line set up by stty, then read through Node's tty stream, which waits on the descriptor
 * without a blocked thread and so closes at once. A path that is no tty (a FIFO in a test rig) is read as a file.
 */
export function openSerial(path: string, baudRate: number): () => Promise<Readable> {
  return async () => {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
    if (!isatty(fd)) {
      closeSync(fd);
      return createReadStream(path);
    }
    try {
      await configureSerialLine(path, baudRate);
      const stream = new TtyReadStream(fd);
      // A tty stream is ready when made; say so like a file stream does.
      setImmediate(() => stream.emit('ready'));
      return stream;
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  };
}

/** Standard input, for development: each line typed is one read. It is left open for the rest of the process. */
export function readStdin(input: NodeJS.ReadableStream, onText: (text: string) => void): ReaderHandle {
  const listener = (chunk: Buffer | string) => onText(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
  input.on('data', listener);
  input.resume();
  return {
    close() {
      input.off('data', listener);
      input.pause();
    },
  };
}
