// A local HTTP server standing in for the exchanges: each route answers as a test tells it, including never.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Behaviour =
  | { answer: 'json'; status?: number; body: unknown }
  | { answer: 'raw'; status?: number; text: string | Buffer; contentType?: string }
  /** Accepts the request and never answers. */
  | { answer: 'hang' }
  /** Sends the headers and part of the body, then stalls. */
  | { answer: 'stall' };

export interface PriceServer {
  /** The base URL of one simulated source; requests under it are answered by `behave`. */
  source(name: string, behave: (path: string) => Behaviour): string;
  /** Every path asked of a source, in order, with the source's base prefix removed. */
  asked(name: string): string[];
  close(): Promise<void>;
}

export async function startPriceServer(): Promise<PriceServer> {
  const sources = new Map<string, (path: string) => Behaviour>();
  const requests = new Map<string, string[]>();
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const url = request.url ?? '/';
    const match = /^\/source\/([^/]+)(\/.*)$/.exec(url);
    const behave = match ? sources.get(match[1]!) : undefined;
    if (!match || !behave) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('no such source');
      return;
    }
    const path = match[2]!;
    requests.set(match[1]!, [...(requests.get(match[1]!) ?? []), path]);
    const behaviour = behave(path);
    switch (behaviour.answer) {
      case 'json':
        response.writeHead(behaviour.status ?? 200, { 'content-type': 'application/json' }).end(JSON.stringify(behaviour.body));
        return;
      case 'raw':
        response
          .writeHead(behaviour.status ?? 200, { 'content-type': behaviour.contentType ?? 'application/json' })
          .end(behaviour.text);
        return;
      case 'hang':
        return;
      case 'stall':
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write('{"data":{"amount":"131');
        return;
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    source(name, behave) {
      sources.set(name, behave);
      return `http://127.0.0.1:${port}/source/${name}`;
    },
    asked: (name) => requests.get(name) ?? [],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port nothing listens on: connections to it are refused. */
export async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
