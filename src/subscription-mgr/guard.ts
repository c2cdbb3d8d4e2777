// Sits between each accepted socket and the broker: caps connections per address and before login, and cuts a
// connection whose MQTT packet declares more bytes than allowed as soon as its fixed header arrives, before the body
// is buffered (Aedes and mqtt-packet buffer a whole packet, whatever its declared size, before looking at it).
import { Duplex } from 'node:stream';
import { SubscriptionMgrError } from './errors.js';

export interface GuardLimits {
  /** Bytes a connection may send before it logs in, all packets counted. */
  preLoginBytes: number;
  /** Largest packet (fixed header and body) a logged-in connection may declare. */
  maxPacketBytes: number;
  connectionsPerAddress: number;
  unauthenticatedConnections: number;
}

export interface GuardRefusal {
  address: string;
  error: SubscriptionMgrError;
}

// [MQTT-2.2.3] the remaining length is a variable byte integer of at most four bytes.
const MAX_LENGTH_BYTES = 4;

export class ConnectionGuard {
  readonly #perAddress = new Map<string, number>();
  #unauthenticated = 0;

  constructor(
    private readonly limits: GuardLimits,
    private readonly onRefusal: (refusal: GuardRefusal) => void,
  ) {}

  get unauthenticated(): number {
    return this.#unauthenticated;
  }

  connectionsFrom(address: string): number {
    return this.#perAddress.get(address) ?? 0;
  }

  /** The stream to hand to the broker, or undefined when the connection was refused (and destroyed). */
  admit(stream: Duplex, remoteAddress?: string): GuardedStream | undefined {
    const address = remoteAddress ?? (stream as { remoteAddress?: string }).remoteAddress ?? 'unknown';
    const fromAddress = this.connectionsFrom(address);
    if (fromAddress >= this.limits.connectionsPerAddress) {
      return this.#refuse(
        stream,
        address,
        new SubscriptionMgrError(
          'SUBSCRIPTION_MGR_TOO_MANY_CONNECTIONS',
          `${address} already has ${fromAddress} connections, the most broker.limits.connectionsPerAddress allows`,
        ),
      );
    }
    if (this.#unauthenticated >= this.limits.unauthenticatedConnections) {
      return this.#refuse(
        stream,
        address,
        new SubscriptionMgrError(
          'SUBSCRIPTION_MGR_TOO_MANY_CONNECTIONS',
          `${this.#unauthenticated} connections are waiting to log in, the most broker.limits.unauthenticatedConnections allows`,
        ),
      );
    }
    this.#perAddress.set(address, fromAddress + 1);
    this.#unauthenticated++;
    let loggedIn = false;
    const guarded = new GuardedStream(stream, address, this.limits, {
      loggedIn: () => {
        if (loggedIn) return;
        loggedIn = true;
        this.#unauthenticated--;
      },
      tooLarge: (error) => this.onRefusal({ address, error }),
    });
    guarded.once('close', () => {
      if (!loggedIn) this.#unauthenticated--;
      const left = this.connectionsFrom(address) - 1;
      if (left > 0) this.#perAddress.set(address, left);
      else this.#perAddress.delete(address);
    });
    return guarded;
  }

  /** Lifts the pre-login limits of a connection whose CONNECT the broker accepted. */
  loggedIn(connection: unknown): void {
    if (connection instanceof GuardedStream) connection.loggedIn();
  }

  #refuse(stream: Duplex, address: string, error: SubscriptionMgrError): undefined {
    stream.destroy();
    this.onRefusal({ address, error });
    return undefined;
  }
}

interface GuardEvents {
  loggedIn(): void;
  tooLarge(error: SubscriptionMgrError): void;
}

/** A pass-through duplex that reads each packet's fixed header as the bytes go by. */
export class GuardedStream extends Duplex {
  readonly remoteAddress: string;
  readonly #inner: Duplex;
  readonly #limits: GuardLimits;
  readonly #events: GuardEvents;
  #loggedIn = false;
  #bytesBeforeLogin = 0;
  // Where in the current packet the scan is: its first byte, its remaining length, or its body.
  #state: 'type' | 'length' | 'body' = 'type';
  #lengthBytes = 0;
  #remaining = 0;
  #multiplier = 1;

  constructor(inner: Duplex, remoteAddress: string, limits: GuardLimits, events: GuardEvents) {
    super({ allowHalfOpen: false });
    this.#inner = inner;
    this.remoteAddress = remoteAddress;
    this.#limits = limits;
    this.#events = events;
    inner.on('data', (chunk: Buffer) => {
      const refusal = this.#scan(chunk);
      if (refusal) {
        this.#events.tooLarge(refusal);
        this.destroy();
        return;
      }
      if (!this.push(chunk)) inner.pause();
    });
    inner.once('end', () => this.push(null));
    inner.on('error', (error) => this.destroy(error));
    inner.once('close', () => this.destroy());
  }

  loggedIn(): void {
    if (this.#loggedIn) return;
    this.#loggedIn = true;
    this.#events.loggedIn();
  }

  override _read(): void {
    this.#inner.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#inner.write(chunk)) callback();
    else this.#inner.once('drain', () => callback());
  }

  // mqtt-packet writes one packet in several pieces under cork(): hand them on as one batch, one syscall.
  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.#inner.cork();
    let flowing = true;
    for (const { chunk } of chunks) flowing = this.#inner.write(chunk);
    this.#inner.uncork();
    if (flowing) callback();
    else this.#inner.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#inner.end(() => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#inner.destroy();
    callback(error);
  }

  #scan(chunk: Buffer): SubscriptionMgrError | undefined {
    if (!this.#loggedIn) {
      this.#bytesBeforeLogin += chunk.length;
      if (this.#bytesBeforeLogin > this.#limits.preLoginBytes) return this.#tooLarge(this.#bytesBeforeLogin);
    }
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#state === 'body') {
        const skipped = Math.min(this.#remaining, chunk.length - offset);
        this.#remaining -= skipped;
        offset += skipped;
        if (this.#remaining === 0) this.#state = 'type';
        continue;
      }
      const byte = chunk[offset++]!;
      if (this.#state === 'type') {
        this.#state = 'length';
        this.#lengthBytes = 0;
        this.#remaining = 0;
        this.#multiplier = 1;
        continue;
      }
      this.#remaining += (byte & 0x7f) * this.#multiplier;
      this.#multiplier *= 128;
      this.#lengthBytes++;
      if (byte & 0x80) {
        if (this.#lengthBytes >= MAX_LENGTH_BYTES) {
          return new SubscriptionMgrError(
            'SUBSCRIPTION_MGR_PACKET_TOO_LARGE',
            `${this.remoteAddress} sent a remaining length longer than ${MAX_LENGTH_BYTES} bytes; connection cut`,
          );
        }
        continue;
      }
      const declared = 1 + this.#lengthBytes + this.#remaining;
      if (!this.#loggedIn && this.#bytesBeforeLogin - (chunk.length - offset) + this.#remaining > this.#limits.preLoginBytes) {
        return this.#tooLarge(declared);
      }
      if (declared > this.#limits.maxPacketBytes) return this.#tooLarge(declared);
      this.#state = this.#remaining > 0 ? 'body' : 'type';
    }
    return undefined;
  }

  #tooLarge(bytes: number): SubscriptionMgrError {
    const [limit, when] = this.#loggedIn
      ? [this.#limits.maxPacketBytes, 'broker.limits.packetOverheadBytes above bus.maxMessageBytes']
      : [this.#limits.preLoginBytes, 'broker.limits.preLoginBytes before login'];
    return new SubscriptionMgrError(
      'SUBSCRIPTION_MGR_PACKET_TOO_LARGE',
      `${this.remoteAddress} sent or declared ${bytes} bytes; at most ${limit} are allowed (${when}); connection cut before the rest arrived`,
    );
  }
}
