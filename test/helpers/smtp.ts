// A real SMTP server on 127.0.0.1 for tests (the smtp-server package), keeping every message it accepted parsed
// (mailparser); it can refuse recipients, stall, be stopped and restarted on the same port. Beside it, raw TCP
// servers that misbehave in ways smtp-server will not: never greet, or drop the connection in the middle of DATA.
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';

export interface ReceivedMail {
  envelope: { from: string; to: string[] };
  parsed: ParsedMail;
  raw: Buffer;
  secure: boolean;
  user: string | undefined;
}

/** A per-recipient answer: undefined accepts; a code refuses (550 for good, 451 for now). */
export type RecipientRule = (address: string) => { code: number; message: string } | undefined;

export interface TestSmtp {
  port: number;
  received: ReceivedMail[];
  /** How many DATA commands began (a message may be received and still fail to be recorded by the sender). */
  dataStarted: number;
  recipientRule: RecipientRule;
  /** While set, DATA is read but answered only when the promise settles. */
  holdData: Promise<void> | undefined;
  stop(): Promise<void>;
  /** Listens again on the same port after a stop. */
  restart(): Promise<void>;
}

export interface TestSmtpOptions {
  port?: number;
  /** Offer STARTTLS (smtp-server's built-in self-signed certificate). */
  tls?: boolean;
  /** Require this login. */
  auth?: { user: string; password: string };
}

export async function startSmtp(options: TestSmtpOptions = {}): Promise<TestSmtp> {
  let server: SMTPServer | undefined;
  const state: TestSmtp = {
    port: options.port ?? 0,
    received: [],
    dataStarted: 0,
    recipientRule: () => undefined,
    holdData: undefined,
    stop: async () => {
      const running = server;
      server = undefined;
      if (running) await new Promise<void>((resolve) => running.close(() => resolve()));
    },
    restart: async () => {
      await listen();
    },
  };
  const serverOptions: SMTPServerOptions = {
    logger: false,
    disabledCommands: [...(options.tls ? [] : ['STARTTLS']), ...(options.auth ? [] : ['AUTH'])],
    authOptional: !options.auth,
    allowInsecureAuth: true,
    onAuth(auth, _session, callback) {
      if (auth.username === options.auth?.user && auth.password === options.auth?.password) {
        callback(null, { user: auth.username });
      } else {
        callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
      }
    },
    onRcptTo(address, _session, callback) {
      const refusal = state.recipientRule(address.address);
      if (refusal) callback(Object.assign(new Error(refusal.message), { responseCode: refusal.code }));
      else callback();
    },
    onData(stream, session: SMTPServerSession, callback) {
      state.dataStarted += 1;
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        const hold = state.holdData ?? Promise.resolve();
        void hold.then(async () => {
          state.received.push({
            envelope: {
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
            },
            parsed: await simpleParser(raw),
            raw,
            secure: session.secure,
            user: typeof session.user === 'string' ? session.user : undefined,
          });
          callback(null, 'Ok: queued');
        });
      });
    },
  };
  const listen = async (): Promise<void> => {
    server = new SMTPServer(serverOptions);
    server.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      server!.listen(state.port, '127.0.0.1', () => resolve());
      server!.server.once('error', reject);
    });
    state.port = (server.server.address() as AddressInfo).port;
  };
  await listen();
  return state;
}

export interface RawServer {
  port: number;
  connections: number;
  stop(): Promise<void>;
}

/**
 * A TCP server that plays SMTP up to a point: `silent` accepts and never greets; `drop-in-data` greets, accepts
 * the envelope, answers DATA with 354 and closes the connection at the first line of the message.
 */
export async function startRawSmtp(behaviour: 'silent' | 'drop-in-data'): Promise<RawServer> {
  const sockets = new Set<Socket>();
  const state = { port: 0, connections: 0 } as RawServer;
  const server: Server = createServer((socket) => {
    state.connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (behaviour === 'silent') return;
    socket.write('220 test ESMTP\r\n');
    let inData = false;
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      if (inData) {
        socket.destroy();
        return;
      }
      buffered += chunk.toString('latin1');
      let newline: number;
      while ((newline = buffered.indexOf('\r\n')) >= 0) {
        const line = buffered.slice(0, newline).toUpperCase();
        buffered = buffered.slice(newline + 2);
        if (line.startsWith('EHLO')) socket.write('250-test\r\n250 8BITMIME\r\n');
        else if (line.startsWith('HELO') || line.startsWith('MAIL') || line.startsWith('RCPT')) socket.write('250 ok\r\n');
        else if (line.startsWith('DATA')) {
          socket.write('354 go ahead\r\n');
          inData = true;
          if (buffered.length > 0) socket.destroy();
          return;
        } else if (line.startsWith('QUIT')) socket.end('221 bye\r\n');
        else socket.write('250 ok\r\n');
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.port = (server.address() as AddressInfo).port;
  state.stop = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}
