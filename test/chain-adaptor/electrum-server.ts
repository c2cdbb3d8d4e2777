// A fake Electrum server (protocol 1.4, as ElectrumX documents it) over a simulated chain's real headers and
// transactions, on 127.0.0.1 over TCP or TLS; a method in `faults` misbehaves instead of answering.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { parseTransaction, type ChainTx, type NetworkName, type SimulatedChain } from '../../src/chain-adaptor/index.js';

export interface FaultContext {
  id: number;
  params: unknown[];
  socket: Socket;
  /** Writes one message as a line. */
  send: (message: object) => void;
}
export type Fault = (context: FaultContext) => void;

interface HistoryEntry {
  tx_hash: string;
  height: number;
  fee?: number;
}

interface Session {
  socket: Socket;
  methods: string[];
  /** The status last told for each subscribed script hash. */
  subscriptions: Map<string, string | null>;
}

export const silent: Fault = () => undefined;
export const answer =
  (result: unknown): Fault =>
  ({ id, send }) =>
    send({ jsonrpc: '2.0', id, result });
export const refuse =
  (code: number, message: string): Fault =>
  ({ id, send }) =>
    send({ jsonrpc: '2.0', id, error: { code, message } });
export const writeRaw =
  (bytes: string | Uint8Array): Fault =>
  ({ socket }) =>
    void socket.write(bytes);
export const hangUp: Fault = ({ socket }) => void socket.destroy();

export function electrumScriptHash(script: Uint8Array): string {
  return createHash('sha256').update(script).digest().reverse().toString('hex');
}

/** Protocol-basics "Status": SHA-256 of "txid:height:" for each history entry, null for no history. */
export function electrumStatus(history: readonly { tx_hash: string; height: number }[]): string | null {
  if (history.length === 0) return null;
  return createHash('sha256')
    .update(history.map((entry) => `${entry.tx_hash}:${entry.height}:`).join(''))
    .digest('hex');
}

/**
 * Serves `chain`; block 0 is `genesisHeader` (the real regtest one, which connect() checks), since the simulated
 * chain's own genesis is synthetic.
 */
interface GenesisVectors {
  header: { version: number; prevHash: string; merkleRootWire: string };
  networks: { network: NetworkName; time: number; bits: string; nonce: number; hash: string }[];
}
const genesisVectors = JSON.parse(
  readFileSync(new URL('./vectors/genesis-blocks.json', import.meta.url), 'utf8'),
) as GenesisVectors;

/** The real genesis header of a network, built from the vector file, for servers backed by a simulated chain. */
export function genesisHeader(network: NetworkName): Buffer {
  const vector = genesisVectors.networks.find((candidate) => candidate.network === network)!;
  const header = Buffer.alloc(80);
  header.writeUInt32LE(genesisVectors.header.version, 0);
  Buffer.from(genesisVectors.header.prevHash, 'hex').copy(header, 4);
  Buffer.from(genesisVectors.header.merkleRootWire, 'hex').copy(header, 36);
  header.writeUInt32LE(vector.time, 68);
  header.writeUInt32LE(Number.parseInt(vector.bits, 16), 72);
  header.writeUInt32LE(vector.nonce, 76);
  return header;
}

export async function startFakeElectrum(
  chain: SimulatedChain,
  genesisHeader: Uint8Array,
  options: { tls?: { cert: string; key: string } } = {},
) {
  const faults = new Map<string, Fault>();
  const sessions = new Set<Session>();
  const answerOrder: number[] = [];
  const feesPerKilobyte = new Map<number, number>();
  let held: { socket: Socket; line: string; id: number }[] = [];
  let holding = 0;
  let connections = 0;

  const header = async (height: number): Promise<string> =>
    Buffer.from(height === 0 ? genesisHeader : chain.rawBlock(await chain.blockHash(height))!.subarray(0, 80)).toString('hex');

  const outputScriptSpent = (input: ChainTx['inputs'][number]): Uint8Array | undefined => {
    const previous = chain.rawTransaction(input.prevTxid);
    return previous && parseTransaction(previous).outputs[input.prevVout]?.script;
  };
  const touches = (tx: ChainTx, scriptHash: string): boolean =>
    tx.outputs.some((output) => electrumScriptHash(output.script) === scriptHash) ||
    tx.inputs.some((input) => {
      const script = outputScriptSpent(input);
      return script !== undefined && electrumScriptHash(script) === scriptHash;
    });

  const mempoolOf = async (scriptHash: string): Promise<HistoryEntry[]> => {
    const waiting = await chain.mempool();
    const entries: HistoryEntry[] = [];
    for (const txid of waiting) {
      const tx = (await chain.transaction(txid))!;
      if (!touches(tx, scriptHash)) continue;
      const unconfirmedInput = tx.inputs.some((input) => waiting.includes(input.prevTxid));
      entries.push({ tx_hash: txid, height: unconfirmedInput ? -1 : 0, fee: 0 });
    }
    return entries;
  };
  const historyOf = async (scriptHash: string): Promise<HistoryEntry[]> => {
    const confirmed: HistoryEntry[] = [];
    const tip = await chain.tip();
    for (let height = 1; height <= tip.height; height++) {
      const block = await chain.block(await chain.blockHash(height));
      for (const tx of block.txs) if (touches(tx, scriptHash)) confirmed.push({ tx_hash: tx.txid, height });
    }
    const waiting = (await mempoolOf(scriptHash)).map(({ tx_hash, height }) => ({ tx_hash, height }));
    return [...confirmed, ...waiting];
  };

  /** What a well-behaved server answers: a result, or an error as ElectrumX words it. */
  const respond = async (
    session: Session,
    method: string,
    params: unknown[],
  ): Promise<{ result: unknown } | { error: object }> => {
    const [first] = params;
    switch (method) {
      case 'server.version':
        return { result: ['FakeElectrum 1.0', '1.4'] };
      case 'blockchain.headers.subscribe': {
        const { height } = await chain.tip();
        return { result: { height, hex: await header(height) } };
      }
      case 'blockchain.block.header': {
        const height = Number(first);
        if (height > (await chain.tip()).height) return { error: { code: 1, message: `height ${height} out of range` } };
        return { result: await header(height) };
      }
      case 'blockchain.transaction.get': {
        const raw = chain.rawTransaction(String(first));
        if (raw) return { result: Buffer.from(raw).toString('hex') };
        const said = 'No such mempool or blockchain transaction. Use gettransaction for wallet transactions.';
        return { error: { code: 2, message: `daemon error: DaemonError({'code': -5, 'message': '${said}'})` } };
      }
      case 'blockchain.transaction.broadcast':
        try {
          parseTransaction(Buffer.from(String(first), 'hex'));
        } catch {
          return { error: { code: 1, message: 'the transaction was rejected by network rules.\n\nTX decode failed\n' } };
        }
        return { result: await chain.broadcast(String(first)) };
      case 'blockchain.estimatefee':
        return { result: feesPerKilobyte.get(Number(first)) ?? -1 };
      case 'blockchain.scripthash.get_history':
        return { result: await historyOf(String(first)) };
      case 'blockchain.scripthash.get_mempool':
        return { result: await mempoolOf(String(first)) };
      case 'blockchain.scripthash.subscribe': {
        const status = electrumStatus(await historyOf(String(first)));
        session.subscriptions.set(String(first), status);
        return { result: status };
      }
      default:
        return { error: { code: -32601, message: `unknown method "${method}"` } };
    }
  };

  const write = (socket: Socket, line: string, id: number, method: string) => {
    // server.version opens a connection, so holding it would hold everything.
    if (holding > 0 && method !== 'server.version') {
      held.push({ socket, line, id });
      if (held.length < holding) return;
      holding = 0;
      const reversed = held.reverse();
      held = [];
      for (const answered of reversed) write(answered.socket, answered.line, answered.id, method);
      return;
    }
    answerOrder.push(id);
    socket.write(`${line}\n`);
  };

  const onRequest = async (session: Session, line: string) => {
    const { id, method, params } = JSON.parse(line) as { id: number; method: string; params: unknown[] };
    session.methods.push(method);
    const send = (message: object) => void session.socket.write(`${JSON.stringify(message)}\n`);
    const fault = faults.get(method);
    if (fault) return fault({ id, params, socket: session.socket, send });
    const outcome = await respond(session, method, params);
    write(session.socket, JSON.stringify({ jsonrpc: '2.0', id, ...outcome }), id, method);
  };

  const onConnection = (socket: Socket) => {
    connections++;
    const session: Session = { socket, methods: [], subscriptions: new Map() };
    sessions.add(session);
    let partial = '';
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop()!;
      for (const line of lines) if (line.trim() !== '') void onRequest(session, line);
    });
    // The client closes on what it refuses, so writes to it may fail: that is the point of those tests.
    socket.on('error', () => undefined);
    socket.on('close', () => sessions.delete(session));
  };

  const server: Server = options.tls ? createTlsServer(options.tls, onConnection) : createTcpServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  return {
    host: '127.0.0.1',
    port,
    faults,
    feesPerKilobyte,
    /** The ids of the answers sent, in the order they were written. */
    answerOrder,
    /** How many connections were ever accepted. */
    get connections() {
      return connections;
    },
    /** The methods each open connection was asked, in order. */
    get openSessions(): string[][] {
      return [...sessions].map((session) => [...session.methods]);
    },
    /** Holds the next `count` answers, then writes them in reverse order. */
    holdAnswers(count: number) {
      holding = count;
    },
    /** What a real server does after each block and mempool change: tells each subscriber whose status changed. */
    async notifyStatusChanges() {
      for (const session of sessions) {
        for (const [scriptHash, told] of session.subscriptions) {
          const status = electrumStatus(await historyOf(scriptHash));
          if (status === told) continue;
          session.subscriptions.set(scriptHash, status);
          session.socket.write(
            `${JSON.stringify({ jsonrpc: '2.0', method: 'blockchain.scripthash.subscribe', params: [scriptHash, status] })}\n`,
          );
        }
      }
    },
    dropConnections() {
      for (const session of sessions) session.socket.destroy();
    },
    async close() {
      for (const session of sessions) session.socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type FakeElectrum = Awaited<ReturnType<typeof startFakeElectrum>>;
