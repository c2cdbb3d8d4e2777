// Network listeners that feed connections to the broker: plain MQTT, MQTT over TLS, MQTT over WebSocket.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type Server } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { loopbackOf } from '../core/broker-tls.js';
import { SubscriptionMgrError } from './errors.js';

/** `remoteAddress` is given where the stream does not carry it itself (a WebSocket's). */
export type ConnectionHandler = (stream: Duplex, remoteAddress?: string) => void;

export interface ListenerConfig {
  host: string;
  port: number;
  tls: { enabled: boolean; host: string; port: number; certFile?: string | undefined; keyFile?: string | undefined };
  websocket: { enabled: boolean; port: number };
  /** ws buffers a whole frame before handing it on (100 MiB by default): no frame may be larger than a packet. */
  maxFrameBytes?: number;
}

export interface OpenListener {
  kind: 'mqtt' | 'mqtts' | 'ws';
  url: string;
  close(): Promise<void>;
}

/** @throws SubscriptionMgrError when TLS files are missing or a port cannot be bound. */
export async function openListeners(config: ListenerConfig, handle: ConnectionHandler): Promise<OpenListener[]> {
  const opened: OpenListener[] = [];
  try {
    // Small messages answered one at a time (a tap, then its command) must not wait for Nagle and delayed ACKs:
    // about 40 ms per hop otherwise.
    // With TLS serving the network, a token sent in plaintext never leaves this machine.
    const plainHost = config.tls.enabled ? loopbackOf(config.host) : config.host;
    const plain = createNetServer((socket) => handle(socket.setNoDelay(true)));
    opened.push(await listen(plain, 'mqtt', plainHost, config.port));
    if (config.tls.enabled) {
      const { certFile, keyFile } = config.tls;
      if (!certFile || !keyFile) {
        throw new SubscriptionMgrError(
          'SUBSCRIPTION_MGR_TLS_FILES_MISSING',
          'broker.tls.enabled is true but certFile or keyFile is not set',
        );
      }
      const secure = createTlsServer({ cert: readTlsFile(certFile), key: readTlsFile(keyFile) }, (socket) =>
        handle(socket.setNoDelay(true)),
      );
      opened.push(await listen(secure, 'mqtts', config.tls.host, config.tls.port));
    }
    if (config.websocket.enabled) {
      const http = createHttpServer();
      const wss = new WebSocketServer({ server: http, ...(config.maxFrameBytes ? { maxPayload: config.maxFrameBytes } : {}) });
      wss.on('connection', (socket, request) => handle(createWebSocketStream(socket), request.socket.remoteAddress));
      const listener = await listen(http, 'ws', plainHost, config.websocket.port);
      opened.push({
        ...listener,
        close: async () => {
          wss.close();
          await listener.close();
        },
      });
    }
    return opened;
  } catch (error) {
    await Promise.all(opened.map((listener) => listener.close()));
    throw error;
  }
}

function readTlsFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new SubscriptionMgrError(
      'SUBSCRIPTION_MGR_TLS_FILES_MISSING',
      `broker.tls.enabled is true but ${path} cannot be read (${(cause as NodeJS.ErrnoException).code ?? String(cause)}); run \`dctrl tls init\` or set broker.tls.certFile and keyFile`,
      { cause },
    );
  }
}

function listen(server: Server, kind: OpenListener['kind'], host: string, port: number): Promise<OpenListener> {
  return new Promise((resolve, reject) => {
    server.once('error', (cause: Error) =>
      reject(
        new SubscriptionMgrError('SUBSCRIPTION_MGR_LISTEN_FAILED', `${kind} listener on ${host}:${port}: ${cause.message}`, {
          cause,
        }),
      ),
    );
    server.listen(port, host, () => {
      const address = server.address();
      const boundPort = typeof address === 'object' && address ? address.port : port;
      const url = `${kind}://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
      resolve({
        kind,
        url,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            if ('closeAllConnections' in server) (server as { closeAllConnections(): void }).closeAllConnections();
          }),
      });
    });
  });
}
