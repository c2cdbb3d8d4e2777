// Benchmark: raw Aedes QoS 1 vs the full signed path (sign, ACL check, verify, dedupe, EventLogger append), and the
// signed path with the payload sealed to its reader (seal, open), in one run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import { createServer, type Server } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { closeShared, createBusClient, type BusClient } from '../src/auth-proxy/index.js';
import { benchVault, UNMETERED_BROKER_LIMITS } from './bench-vault.js';
import { loadConfig, type Config } from '../src/core/config.js';
import { defineMessage } from '../src/core/contract.js';
import { signEnvelope, verifyEnvelopeSignature } from '../src/core/envelope.js';
import { createIdFactory } from '../src/core/ids.js';
import { generateSigningKey } from '../src/core/keys.js';
import { deriveSealingKey, importSealPublicKey, openPayload, sealPayload } from '../src/core/seal.js';
import { systemClock } from '../src/core/clock.js';
import { Ping } from '../src/core/messages.js';
import { createEventLogger, eventLogDir, verifyLog } from '../src/event-logger/index.js';
import { ConnectionGuard } from '../src/subscription-mgr/guard.js';
import { createSubscriptionMgr } from '../src/subscription-mgr/index.js';

const THROUGHPUT_MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20_000);
const IN_FLIGHT = 500;
const LATENCY_RATE = 1_000;
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 3);
const PAD = 'x'.repeat(200); // a tap or sensor event is a few hundred bytes

interface Path {
  name: string;
  /** Sends message `seq`; resolves when the broker acknowledged it (QoS 1). */
  send(seq: number): Promise<void>;
  /** Called with the seq and the send time (ns) of each delivered message. */
  onDeliver(listener: (seq: number, sentAtNs: bigint) => void): void;
  close(): Promise<void>;
}

interface Result {
  messagesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

async function measure(path: Path): Promise<Result> {
  let delivered = 0;
  let latencies: number[] = [];
  let recordLatency = false;
  path.onDeliver((_seq, sentAtNs) => {
    delivered++;
    if (recordLatency) latencies.push(Number(process.hrtime.bigint() - sentAtNs) / 1e6);
  });

  // Warm-up: JIT, connections, caches.
  await sendMany(path, 0, 2_000);
  await until(() => delivered >= 2_000);

  delivered = 0;
  const started = process.hrtime.bigint();
  await sendMany(path, 10_000, THROUGHPUT_MESSAGES);
  await until(() => delivered >= THROUGHPUT_MESSAGES);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;

  // Latency at a fixed, moderate rate, so queueing does not dominate.
  delivered = 0;
  latencies = [];
  recordLatency = true;
  const total = LATENCY_RATE * LATENCY_SECONDS;
  const intervalNs = 1e9 / LATENCY_RATE;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < total; i++) {
    const due = t0 + BigInt(Math.round(i * intervalNs));
    while (process.hrtime.bigint() < due) await new Promise((resolve) => setImmediate(resolve));
    void path.send(1_000_000 + i);
  }
  await until(() => delivered >= total);
  latencies.sort((a, b) => a - b);
  return {
    messagesPerSecond: THROUGHPUT_MESSAGES / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    maxMs: latencies.at(-1) ?? 0,
  };
}

async function sendMany(path: Path, from: number, count: number): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; i < count; i++) {
    const sent = path.send(from + i).finally(() => inFlight.delete(sent));
    inFlight.add(sent);
    if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

async function until(done: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('benchmark timed out waiting for deliveries');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function rawPath(guard?: ConnectionGuard): Promise<Path> {
  const broker = await Aedes.createBroker(
    guard
      ? {
          authenticate: (client, _username, _password, done) => {
            guard.loggedIn(client.conn);
            done(null, true);
          },
        }
      : {},
  );
  const server: Server = createServer((socket) => {
    const stream = guard ? guard.admit(socket) : socket;
    if (stream) broker.handle(stream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const url = `mqtt://127.0.0.1:${port}`;
  const subscriber: MqttClient = await mqtt.connectAsync(url, { clientId: 'raw-sub' });
  const publisher: MqttClient = await mqtt.connectAsync(url, { clientId: 'raw-pub' });
  await subscriber.subscribeAsync('bench/raw', { qos: 1 });
  const listeners: ((seq: number, sentAtNs: bigint) => void)[] = [];
  subscriber.on('message', (_topic, payload) => {
    const message = JSON.parse(payload.toString()) as { seq: number; sentAtNs: string };
    for (const listener of listeners) listener(message.seq, BigInt(message.sentAtNs));
  });
  return {
    name: guard ? 'raw Aedes behind the connection guard, QoS 1' : 'raw Aedes, QoS 1',
    send: async (seq) => {
      await publisher.publishAsync(
        'bench/raw',
        Buffer.from(JSON.stringify({ seq, sentAtNs: process.hrtime.bigint().toString(), pad: PAD })),
        { qos: 1 },
      );
    },
    onDeliver: (listener) => void listeners.push(listener),
    close: async () => {
      await Promise.all([publisher.endAsync(true), subscriber.endAsync(true)]);
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Ping's payload, sealed to the one client that reads it: what a member event or a sealed reply costs. */
const SealedPing = defineMessage({
  type: 'bench.sealed-ping',
  topic: 'dctrl/v1/{issuer}/ping',
  kind: 'event',
  sealed: { to: ['consumer'] },
  issuers: 'any',
  description: 'A probe sealed to the benchmark consumer.',
  payload: Ping.payload,
});

async function signedPath(dataDir: string, sealed: boolean): Promise<{ path: Path; logDir: string }> {
  let config: Config = loadConfig({
    overrides: {
      dataDir,
      broker: { port: 0, limits: UNMETERED_BROKER_LIMITS },
      log: { level: 'silent' },
      eventLogger: { fsync: 'interval' },
    },
  });
  const vault = benchVault(dataDir, () => config, ['subscription-mgr', 'event-logger', 'sensor', 'consumer'], 3_600);
  const { keeper, shared } = vault;
  const context = (client: string, sub: string[] = []) => vault.context(client, { sub });
  if (sealed) (await context('sensor')).registry.add(SealedPing);
  const spec = sealed ? SealedPing : Ping;
  const broker = createSubscriptionMgr(await context('subscription-mgr'));
  await broker.start();
  config = Object.freeze({ ...config, broker: Object.freeze({ ...config.broker, url: broker.urls[0]! }) });
  const logger = createEventLogger(await context('event-logger'));
  await logger.start();
  const publisher: BusClient = createBusClient(await context('sensor'));
  const subscriber: BusClient = createBusClient(await context('consumer', ['dctrl/v1/sensor/ping']));
  await publisher.start();
  await subscriber.start();
  const listeners: ((seq: number, sentAtNs: bigint) => void)[] = [];
  await subscriber.listen(
    spec,
    (payload) => {
      for (const listener of listeners) listener(payload.seq, BigInt(payload.sentAtNs));
    },
    'dctrl/v1/sensor/ping',
  );
  return {
    logDir: eventLogDir(dataDir),
    path: {
      name: sealed
        ? 'signed and sealed path (the same, plus seal to one reader and open)'
        : 'signed path (sign, ACL, verify, dedupe, EventLogger append)',
      send: async (seq) => {
        await publisher.publish(spec, { seq, sentAtNs: process.hrtime.bigint().toString(), pad: PAD });
      },
      onDeliver: (listener) => void listeners.push(listener),
      close: async () => {
        await publisher.stop();
        await subscriber.stop();
        await logger.stop();
        await broker.stop();
        await closeShared(shared);
        keeper.close();
      },
    },
  };
}

/** The cost of the broker's packet-size and connection guard: raw Aedes with it against without it, in one run. */
async function guardOverhead(): Promise<string[]> {
  const config = loadConfig({ overrides: { log: { level: 'silent' } } });
  const guard = new ConnectionGuard(
    {
      preLoginBytes: config.broker.limits.preLoginBytes,
      maxPacketBytes: config.bus.maxMessageBytes + config.broker.limits.packetOverheadBytes,
      connectionsPerAddress: config.broker.limits.connectionsPerAddress,
      unauthenticatedConnections: config.broker.limits.unauthenticatedConnections,
    },
    ({ error }) => {
      throw error;
    },
  );
  const results: [string, Result][] = [];
  for (const withGuard of [false, true]) {
    const path = await rawPath(withGuard ? guard : undefined);
    results.push([path.name, await measure(path)]);
    await path.close();
  }
  const [[, bare], [, guarded]] = results as [[string, Result], [string, Result]];
  return [
    '',
    '| path | msgs/s | p50 ms | p99 ms | max ms |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...results.map(([name, result]) => row(name, result)),
    '',
    `throughput ratio guarded/raw: ${(guarded.messagesPerSecond / bare.messagesPerSecond).toFixed(2)}x; p99 ratio: ${(guarded.p99Ms / bare.p99Ms).toFixed(2)}x`,
  ];
}

/**
 * The CPU cost of one message's cryptography alone, signed (sign + verify) against signed and sealed (seal + sign +
 * verify + open), in alternating rounds so a busy machine slows both alike.
 */
function cryptoCost(rounds = 20, perRound = 250): { signedUs: number; sealedUs: number } {
  const sender = generateSigningKey();
  const reader = deriveSealingKey(generateSigningKey());
  const readerKey = importSealPublicKey(reader.publicKeyB64);
  const nextId = createIdFactory(systemClock);
  const unsigned = (payload: unknown) => ({
    v: 1 as const,
    id: nextId(),
    type: SealedPing.type,
    issuer: 'sensor',
    issuedAt: Date.now(),
    payload,
  });
  const payload = { seq: 1, sentAtNs: '0', pad: PAD };
  let signedNs = 0n;
  let sealedNs = 0n;
  for (let round = 0; round < rounds; round++) {
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < perRound; i++) {
      const envelope = signEnvelope(unsigned(payload), sender);
      if (!verifyEnvelopeSignature(envelope, sender.publicKey)) throw new Error('signature did not verify');
    }
    signedNs += process.hrtime.bigint() - t0;
    t0 = process.hrtime.bigint();
    for (let i = 0; i < perRound; i++) {
      const clear = unsigned(payload);
      const envelope = signEnvelope(
        { ...clear, payload: sealPayload(payload, [{ client: 'consumer', key: readerKey }], clear) },
        sender,
      );
      if (!verifyEnvelopeSignature(envelope, sender.publicKey)) throw new Error('signature did not verify');
      if (openPayload(envelope.payload, 'consumer', reader, envelope) === undefined) throw new Error('seal did not open');
    }
    sealedNs += process.hrtime.bigint() - t0;
  }
  const messages = rounds * perRound;
  return { signedUs: Number(signedNs) / 1e3 / messages, sealedUs: Number(sealedNs) / 1e3 / messages };
}

function row(name: string, r: Result): string {
  return `| ${name} | ${Math.round(r.messagesPerSecond).toLocaleString('en')} | ${r.p50Ms.toFixed(3)} | ${r.p99Ms.toFixed(3)} | ${r.maxMs.toFixed(3)} |`;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'dctrl-bench-'));
  try {
    const cost = cryptoCost();
    const raw = await rawPath();
    const rawResult = await measure(raw);
    await raw.close();
    const signed = await signedPath(join(dataDir, 'signed'), false);
    const signedResult = await measure(signed.path);
    await signed.path.close();
    const log = verifyLog(signed.logDir);
    const sealed = await signedPath(join(dataDir, 'sealed'), true);
    const sealedResult = await measure(sealed.path);
    await sealed.path.close();
    const sealedLog = verifyLog(sealed.logDir);
    console.log(
      `# Bus benchmark (${THROUGHPUT_MESSAGES} messages for throughput; ${LATENCY_RATE} msgs/s for ${LATENCY_SECONDS} s for latency; one process, as in embedded mode)`,
    );
    console.log('');
    console.log('| path | msgs/s | p50 ms | p99 ms | max ms |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    console.log(row(raw.name, rawResult));
    console.log(row(signed.path.name, signedResult));
    console.log(row(sealed.path.name, sealedResult));
    console.log('');
    console.log(
      `throughput ratio signed/raw: ${(signedResult.messagesPerSecond / rawResult.messagesPerSecond).toFixed(2)}x (aim >= 0.5x)`,
    );
    console.log(
      `p99 latency at ${LATENCY_RATE} msgs/s, signed: ${signedResult.p99Ms.toFixed(3)} ms (aim < 2 ms); ratio to raw p99: ${(signedResult.p99Ms / rawResult.p99Ms).toFixed(2)}x`,
    );
    console.log(
      `sealing: throughput ratio sealed/signed ${(sealedResult.messagesPerSecond / signedResult.messagesPerSecond).toFixed(2)}x; p50 ratio ${(sealedResult.p50Ms / signedResult.p50Ms).toFixed(2)}x, p99 ratio ${(sealedResult.p99Ms / signedResult.p99Ms).toFixed(2)}x`,
    );
    console.log(
      `cryptography per message alone: signed ${cost.signedUs.toFixed(1)} µs (sign + verify), signed and sealed ${cost.sealedUs.toFixed(1)} µs (seal + sign + verify + open): ${(cost.sealedUs / cost.signedUs).toFixed(2)}x`,
    );
    console.log(
      `event logs after the run: ${log.records} records, chain ${log.ok ? 'intact' : `BROKEN: ${log.problem?.message}`}; sealed run ${sealedLog.records} records, chain ${sealedLog.ok ? 'intact' : `BROKEN: ${sealedLog.problem?.message}`}`,
    );
    for (const line of await guardOverhead()) console.log(line);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
