// One Electrum protocol connection: JSON-RPC 2.0 over TCP or TLS, one message per line, requests multiplexed by id
// (answers come in any order) and server notifications handed on; opened again by the first call after it drops.
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { z } from 'zod';
import { ChainAdaptorError, type ChainAdaptorErrorCodes } from './errors.js';

export interface ElectrumConnectionOptions {
  host: string;
  port: number;
  tls: boolean;
  /** How long opening the connection, or one request, may take before it fails as UNAVAILABLE. */
  timeoutMs: number;
  /** Certificates (PEM) to trust besides the system's, for a server whose certificate is self-signed. */
  ca?: string | Buffer | undefined;
  /** The longest line taken from the server; a longer one closes the connection as MALFORMED. */
  maxLineBytes?: number | undefined;
}

export type ElectrumSend = (method: string, params: readonly unknown[]) => Promise<unknown>;

export interface ElectrumSessionHooks {
  /** Runs on each new connection before any call is sent on it (version negotiation, renewing subscriptions). */
  opened(send: ElectrumSend): Promise<void>;
  /** A notification the server pushed. @throws ChainAdaptorError MALFORMED to close the connection over it. */
  notified(method: string, params: readonly unknown[]): void;
}

type ErrorCode = keyof typeof ChainAdaptorErrorCodes;

interface PendingRequest {
  method: string;
  resolve: (result: unknown) => void;
  reject: (error: ChainAdaptorError) => void;
  timer: NodeJS.Timeout;
}

/**
 * The largest answer the protocol needs is one transaction: up to 4,000,000 bytes (a whole block's weight), so
 * 8,000,000 hex digits. Anything longer is a server gone wrong, and would otherwise be held in memory unbounded.
 */
export const MAX_LINE_BYTES = 9_000_000;
const NEWLINE = 0x0a;
const QUOTED_CHARS = 200;
/** Probes an idle connection so one the network silently lost fails, rather than waiting for a call to time out. */
const KEEPALIVE_MS = 60_000;

const notification = z.object({ method: z.string(), params: z.array(z.unknown()) });
const response = z.object({
  id: z.int(),
  result: z.unknown().optional(),
  error: z.union([z.object({ code: z.number().optional(), message: z.string() }), z.string()]).nullish(),
});

export class ElectrumConnection {
  readonly #options: ElectrumConnectionOptions;
  readonly #description: string;
  readonly #hooks: ElectrumSessionHooks;
  /** The connected socket, from before its `opened` hook runs until it drops. */
  #current: Socket | undefined;
  #dialing: Socket | undefined;
  #opening: Promise<Socket> | undefined;
  /** Bumped by close(), so a connection still being opened then is thrown away. */
  #epoch = 0;
  readonly #pending = new Map<number, PendingRequest>();
  #nextId = 1;

  constructor(options: ElectrumConnectionOptions, description: string, hooks: ElectrumSessionHooks) {
    this.#options = options;
    this.#description = description;
    this.#hooks = hooks;
  }

  /**
   * One call, on the open connection or a new one.
   * @throws ChainAdaptorError UNAVAILABLE (no connection, no answer in time, dropped), RPC_ERROR (the server's error
   * object, its message included) or MALFORMED (the server sent something that is not the protocol).
   */
  async request(method: string, params: readonly unknown[]): Promise<unknown> {
    return this.#send(await this.#ready(), method, params);
  }

  /** Closes the connection; calls waiting on it fail as UNAVAILABLE. A later call opens a new one. */
  async close(): Promise<void> {
    this.#epoch++;
    this.#dialing?.destroy();
    const socket = this.#current;
    if (socket === undefined) return;
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    this.#drop(socket, 'CHAIN_ADAPTOR_UNAVAILABLE', 'the adaptor was closed');
    await closed;
  }

  #ready(): Promise<Socket> {
    if (this.#opening !== undefined) return this.#opening;
    if (this.#current !== undefined) return Promise.resolve(this.#current);
    const opening = this.#open();
    this.#opening = opening;
    const settled = () => {
      if (this.#opening === opening) this.#opening = undefined;
    };
    opening.then(settled, settled);
    return opening;
  }

  async #open(): Promise<Socket> {
    const epoch = this.#epoch;
    const socket = await this.#dial();
    if (epoch !== this.#epoch) {
      socket.destroy();
      throw this.#error('CHAIN_ADAPTOR_UNAVAILABLE', 'connect', 'the adaptor was closed while connecting');
    }
    this.#attach(socket);
    try {
      await this.#hooks.opened((method, params) => this.#send(socket, method, params));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.#drop(socket, 'CHAIN_ADAPTOR_UNAVAILABLE', `the connection did not open: ${reason}`, error);
      throw error;
    }
    return socket;
  }

  #dial(): Promise<Socket> {
    const { host, port, tls, ca, timeoutMs } = this.#options;
    return new Promise((resolve, reject) => {
      const socket = tls ? connectTls({ host, port, ca }) : connectTcp({ host, port });
      this.#dialing = socket;
      const fail = (reason: string, cause?: unknown) => {
        clearTimeout(timer);
        this.#dialing = undefined;
        socket.destroy();
        reject(this.#error('CHAIN_ADAPTOR_UNAVAILABLE', 'connect', reason, cause));
      };
      const timer = setTimeout(() => fail(`no connection within ${timeoutMs} ms`), timeoutMs);
      const onError = (error: Error) => fail(error.message, error);
      const onClose = () => fail('the connection closed while opening');
      socket.once('error', onError);
      socket.once('close', onClose);
      socket.once(tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        this.#dialing = undefined;
        socket.off('error', onError);
        socket.off('close', onClose);
        resolve(socket);
      });
    });
  }

  #attach(socket: Socket): void {
    this.#current = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_MS);
    const lines = new LineSplitter(this.#options.maxLineBytes ?? MAX_LINE_BYTES);
    let failure: Error | undefined;
    socket.on('data', (chunk: Buffer) => {
      let complete: Buffer[];
      try {
        complete = lines.push(chunk);
      } catch (tooLong) {
        this.#drop(socket, 'CHAIN_ADAPTOR_MALFORMED', (tooLong as Error).message);
        return;
      }
      for (const line of complete) {
        if (socket !== this.#current) return;
        this.#receive(socket, line);
      }
    });
    socket.on('error', (error) => {
      failure = error;
    });
    socket.on('close', () => {
      const reason = failure ? `the connection failed: ${failure.message}` : 'the server closed the connection';
      this.#drop(socket, 'CHAIN_ADAPTOR_UNAVAILABLE', reason, failure);
    });
  }

  #send(socket: Socket, method: string, params: readonly unknown[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (socket !== this.#current) {
        reject(this.#error('CHAIN_ADAPTOR_UNAVAILABLE', method, 'the connection closed before the call was sent'));
        return;
      }
      const { timeoutMs } = this.#options;
      const id = this.#nextId++;
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(this.#error('CHAIN_ADAPTOR_UNAVAILABLE', method, `no answer within ${timeoutMs} ms`));
        // A connection the network lost without a word answers nothing, ever: the next call opens a fresh one.
        this.#drop(socket, 'CHAIN_ADAPTOR_UNAVAILABLE', `the connection was closed after ${method} went unanswered`);
      }, timeoutMs);
      this.#pending.set(id, { method, resolve, reject, timer });
      socket.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
    });
  }

  #receive(socket: Socket, line: Buffer): void {
    const text = line.toString('utf8').trim();
    if (text === '') return;
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch (cause) {
      this.#drop(socket, 'CHAIN_ADAPTOR_MALFORMED', `the server sent a line that is not JSON: ${quote(text)}`, cause);
      return;
    }
    if (typeof message === 'object' && message !== null && 'method' in message) {
      this.#notified(socket, message, text);
      return;
    }
    const answer = response.safeParse(message);
    if (!answer.success || !(answer.data.error != null || 'result' in (message as object))) {
      this.#drop(socket, 'CHAIN_ADAPTOR_MALFORMED', `the server sent neither an answer nor a notification: ${quote(text)}`);
      return;
    }
    const { id, error, result } = answer.data;
    const pending = this.#pending.get(id);
    // Ids are never reused, so an answer nobody waits for cannot be taken for another call's.
    if (pending === undefined) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if (error == null) {
      pending.resolve(result);
      return;
    }
    const said = typeof error === 'string' ? error : `${error.message}${error.code === undefined ? '' : ` (code ${error.code})`}`;
    pending.reject(this.#error('CHAIN_ADAPTOR_RPC_ERROR', pending.method, `the server answered an error: ${quote(said)}`));
  }

  #notified(socket: Socket, message: object, text: string): void {
    const parsed = notification.safeParse(message);
    if (!parsed.success) {
      this.#drop(socket, 'CHAIN_ADAPTOR_MALFORMED', `the server sent a notification without a params list: ${quote(text)}`);
      return;
    }
    try {
      this.#hooks.notified(parsed.data.method, parsed.data.params);
    } catch (error) {
      if (!(error instanceof ChainAdaptorError)) throw error;
      this.#drop(socket, error.code as ErrorCode, error.message, error);
    }
  }

  /** Closes this socket if it is still the connection, failing every call waiting on it with `reason`. */
  #drop(socket: Socket, code: ErrorCode, reason: string, cause?: unknown): void {
    if (socket !== this.#current) return;
    this.#current = undefined;
    socket.destroy();
    const waiting = [...this.#pending.values()];
    this.#pending.clear();
    for (const request of waiting) {
      clearTimeout(request.timer);
      request.reject(this.#error(code, request.method, reason, cause));
    }
  }

  #error(code: ErrorCode, method: string, reason: string, cause?: unknown): ChainAdaptorError {
    return new ChainAdaptorError(code, `${this.#description} ${method}: ${reason}`, { cause });
  }
}

/** Cuts a byte stream into lines, holding at most `maxBytes` of a line that has not ended yet. */
class LineSplitter {
  #held: Buffer[] = [];
  #heldBytes = 0;

  constructor(readonly maxBytes: number) {}

  /** The lines this chunk ends. @throws RangeError when a line grows beyond maxBytes. */
  push(chunk: Buffer): Buffer[] {
    const lines: Buffer[] = [];
    let start = 0;
    // A newline byte never occurs inside a multi-byte UTF-8 character, so cutting bytes cuts whole characters.
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      this.#hold(chunk.subarray(start, end));
      lines.push(this.#held.length === 1 ? this.#held[0]! : Buffer.concat(this.#held));
      this.#held = [];
      this.#heldBytes = 0;
      start = end + 1;
    }
    this.#hold(chunk.subarray(start));
    return lines;
  }

  #hold(part: Buffer): void {
    this.#heldBytes += part.length;
    if (this.#heldBytes > this.maxBytes) {
      throw new RangeError(`the server sent a line longer than ${this.maxBytes} bytes; no answer is that long`);
    }
    if (part.length > 0) this.#held.push(part);
  }
}

/** At most the first 200 characters of what the server said, as a JSON string. */
function quote(text: string): string {
  return JSON.stringify(text.length > QUOTED_CHARS ? `${text.slice(0, QUOTED_CHARS)}…` : text);
}
