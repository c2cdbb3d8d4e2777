// The broker's limits over real sockets: packet size before and after login, connections per address and before
// login, the connect timeout, and publish quotas per client.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import mqttPacket from 'mqtt-packet';
import mqtt from 'mqtt';
import { ulid } from 'ulid';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { encodeEnvelope, signEnvelope } from '../../src/core/envelope.js';
import { AuditDenied, Ping } from '../../src/core/messages.js';
import type { Denial } from '../../src/subscription-mgr/sessions.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';

const MB = 1024 * 1024;
const pingPayload = (seq: number) => ({ seq, sentAtNs: '0', pad: '' });

function brokerPort(h: Harness): number {
  return Number(new URL(h.broker.urls[0]!).port);
}

function openSocket(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress }, () => resolve(socket));
    socket.once('error', reject);
  });
}

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.once('close', () => resolve());
  });
}

/** The fixed header of an MQTT packet of `type` (1 CONNECT, 3 PUBLISH) declaring `remaining` bytes to follow. */
function fixedHeader(type: number, remaining: number): Buffer {
  const bytes = [type << 4];
  do {
    let digit = remaining % 128;
    remaining = Math.floor(remaining / 128);
    if (remaining > 0) digit |= 0x80;
    bytes.push(digit);
  } while (remaining > 0);
  return Buffer.from(bytes);
}

/**
 * Sends a header declaring `declared` bytes, then streams zeros (one reused buffer, so this side holds no memory)
 * until `upTo` bytes went out or the broker cut the connection. Resolves with the bytes sent, socket left open.
 */
async function sendHugePacket(socket: Socket, header: Buffer, upTo: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024);
  socket.on('error', () => undefined);
  let sent = 0;
  const cut = closed(socket).then(() => true);
  if (!socket.write(header)) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), cut]);
  while (sent < upTo && !socket.destroyed) {
    sent += chunk.length;
    if (!socket.write(chunk)) {
      if (await Promise.race([new Promise<boolean>((resolve) => socket.once('drain', () => resolve(false))), cut])) break;
    }
  }
  // Whatever is still in flight reaches the broker before memory is measured.
  await Promise.race([new Promise((resolve) => setTimeout(resolve, 200)), cut]);
  return sent;
}

function connectPacket(clientId: string, token: string): Buffer {
  return mqttPacket.generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clientId,
    clean: true,
    keepalive: 30,
    username: clientId.split(':')[0]!,
    password: Buffer.from(token),
  });
}

/** Connects from `localAddress` and sends a CONNECT: true when a CONNACK accepts it, false when the broker closes. */
async function tryLogin(port: number, localAddress: string, clientId: string, token: string): Promise<boolean> {
  const socket = await openSocket(port, localAddress);
  socket.on('error', () => undefined);
  const outcome = new Promise<boolean>((resolve) => {
    socket.once('data', (reply: Buffer) => resolve(reply[0] === 0x20 && reply[3] === 0));
    socket.once('close', () => resolve(false));
  });
  socket.write(connectPacket(clientId, token));
  const accepted = await outcome;
  socket.destroy();
  await closed(socket);
  return accepted;
}

describe('packet size', () => {
  let h: Harness;
  const denials: Denial[] = [];

  before(async () => {
    h = await startHarness();
    h.broker.onDenial((denial) => void denials.push(denial));
  });
  after(async () => h.stop());

  test('eight connections declaring a 200 MB CONNECT are cut at the header and the process memory stays flat', async () => {
    const declared = 200 * MB;
    const attempts = 8;
    const before = process.memoryUsage();
    const sockets = await Promise.all(Array.from({ length: attempts }, () => openSocket(brokerPort(h))));
    // Each tries to push 32 MB of its body: unguarded, the broker would hold all of it while the CONNECT "arrives".
    const sent = await Promise.all(sockets.map((socket) => sendHugePacket(socket, fixedHeader(1, declared), 32 * MB)));
    const afterSending = process.memoryUsage();
    await Promise.all(sockets.map((socket) => closed(socket)));
    for (const socket of sockets) socket.destroy();

    const totalSent = sent.reduce((sum, bytes) => sum + bytes, 0);
    const arrayGrowth = afterSending.arrayBuffers - before.arrayBuffers;
    const rssGrowth = afterSending.rss - before.rss;
    const cutCount = denials.filter((denial) => denial.error.code === 'SUBSCRIPTION_MGR_PACKET_TOO_LARGE').length;
    assert.equal(cutCount, attempts, 'every huge CONNECT is refused as such');
    // The 8 x 32 MB the clients tried to send never made it: the broker cut them long before.
    assert.ok(totalSent < (attempts * 32 * MB) / 4, `clients managed to send ${totalSent} bytes before the cut`);
    assert.ok(
      arrayGrowth < (attempts * declared) / 100,
      `buffers grew by ${arrayGrowth} bytes for ${attempts} x ${declared} declared (bound 1%)`,
    );
    assert.ok(
      rssGrowth < (attempts * declared) / 20,
      `RSS grew by ${rssGrowth} bytes for ${attempts} x ${declared} declared (bound 5%)`,
    );
  });

  test('a logged-in client that declares a packet larger than bus.maxMessageBytes allows is cut at its header', async () => {
    const credentials = await h.credentials('door');
    const socket = await openSocket(brokerPort(h));
    const connack = new Promise<Buffer>((resolve) => socket.once('data', resolve));
    socket.write(connectPacket('door', credentials.token));
    const reply = await connack;
    assert.equal(reply[0], 0x20, 'CONNACK');
    assert.equal(reply[3], 0, 'accepted');
    const before = denials.length;
    const sent = await sendHugePacket(socket, fixedHeader(3, 10 * MB), 10 * MB);
    await closed(socket);
    assert.ok(sent < 10 * MB, `the client sent ${sent} bytes before the cut`);
    const denial = denials.slice(before).find((entry) => entry.error.code === 'SUBSCRIPTION_MGR_PACKET_TOO_LARGE');
    assert.ok(denial, 'refused as too large');
    assert.match(denial.error.message, /bus\.maxMessageBytes/);
  });

  test('a CONNECT that arrives one byte at a time is read across the pieces and accepted', async () => {
    const credentials = await h.credentials('door');
    const socket = await openSocket(brokerPort(h));
    socket.setNoDelay(true);
    const connack = new Promise<Buffer>((resolve) => socket.once('data', resolve));
    const packet = connectPacket('door:bytewise', credentials.token);
    for (const byte of packet) {
      socket.write(Buffer.from([byte]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const reply = await connack;
    assert.equal(reply[3], 0, 'accepted');
    socket.destroy();
  });

  test('a remaining length of more than four bytes is cut as malformed', async () => {
    const before = denials.length;
    const socket = await openSocket(brokerPort(h));
    socket.on('error', () => undefined);
    socket.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01]));
    await closed(socket);
    assert.ok(denials.slice(before).some((denial) => /longer than 4 bytes/.test(denial.error.message)));
  });

  test('packets pipelined behind an unanswered CONNECT count against preLoginBytes', async () => {
    const before = denials.length;
    const credentials = await h.credentials('door');
    const socket = await openSocket(brokerPort(h));
    socket.on('error', () => undefined);
    const publish = mqttPacket.generate({
      cmd: 'publish',
      topic: 'dctrl/v1/door/ping',
      payload: Buffer.alloc(20_000),
      qos: 0,
      retain: false,
      dup: false,
    });
    socket.write(Buffer.concat([connectPacket('door:pipelined', credentials.token), publish]));
    await closed(socket);
    const denial = denials.slice(before).find((entry) => entry.error.code === 'SUBSCRIPTION_MGR_PACKET_TOO_LARGE');
    assert.ok(denial);
    assert.match(denial.error.message, /preLoginBytes/);
  });

  test('legit messages near the size limit still pass the guard', async () => {
    const sender = await h.client('door');
    const receiver = await h.client('watcher', { extra: { sub: ['dctrl/v1/door/ping'] } });
    const seen: number[] = [];
    await receiver.listen(Ping, (payload) => void seen.push(payload.seq), 'dctrl/v1/door/ping');
    await sender.publish(Ping, { seq: 5, sentAtNs: '0', pad: 'x'.repeat(60_000) });
    await eventually(() => seen.includes(5), 'the large ping');
  });
});

describe('connection caps', () => {
  let h: Harness;
  const denials: Denial[] = [];

  before(async () => {
    h = await startHarness({
      config: { broker: { limits: { connectionsPerAddress: 5, unauthenticatedConnections: 3, connectTimeoutMs: 400 } } },
    });
    h.broker.onDenial((denial) => void denials.push(denial));
  });
  after(async () => h.stop());

  test('one address gets connectionsPerAddress connections; the next is refused, other addresses are not', async () => {
    const port = brokerPort(h);
    const held: Socket[] = [];
    // Logged-in connections from 127.0.0.2, so the unauthenticated cap is not what bites.
    for (let index = 0; index < 5; index++) {
      const credentials = await h.credentials('door');
      const socket = await openSocket(port, '127.0.0.2');
      const connack = new Promise<Buffer>((resolve) => socket.once('data', resolve));
      socket.write(connectPacket(`door:${index}`, credentials.token));
      assert.equal((await connack)[3], 0, `connection ${index} accepted`);
      held.push(socket);
    }
    const sixth = await openSocket(port, '127.0.0.2');
    await closed(sixth);
    assert.ok(
      denials.some((denial) => denial.error.code === 'SUBSCRIPTION_MGR_TOO_MANY_CONNECTIONS' && denial.client === '(127.0.0.2)'),
    );
    // Loopback's own clients are not counted against 127.0.0.2.
    const legit = await h.client('member-data');
    assert.ok(legit.connected);
    for (const socket of held) socket.destroy();
    await Promise.all(held.map((socket) => closed(socket)));
    // Closed connections give their places back (the broker may see the closes a moment later: try until one fits).
    let admitted = false;
    for (let attempt = 0; attempt < 50 && !admitted; attempt++) {
      admitted = await tryLogin(port, '127.0.0.2', `door:again${attempt}`, (await h.credentials('door')).token);
    }
    assert.ok(admitted, 'a new connection from 127.0.0.2 once the others closed');
  });

  test('unauthenticated connections are capped and cut after connectTimeoutMs; then logins work again', async () => {
    const port = brokerPort(h);
    const before = denials.length;
    const idle = await Promise.all([1, 2, 3].map((n) => openSocket(port, `127.0.0.${10 + n}`)));
    const fourth = await openSocket(port, '127.0.0.20');
    await closed(fourth);
    assert.ok(
      denials.slice(before).some((denial) => /waiting to log in/.test(denial.error.message)),
      'the fourth is refused as one too many waiting to log in',
    );
    // None of the three ever sends a CONNECT: the broker closes them after connectTimeoutMs.
    await Promise.all(idle.map((socket) => closed(socket)));
    const legit = await h.client('door');
    assert.ok(legit.connected);
  });
});

describe('publish quota', () => {
  const clock = new ManualClock(Date.now());
  let h: Harness;
  let auditor: BusClient;
  const audits: Record<string, unknown>[] = [];
  const denials: Denial[] = [];

  before(async () => {
    // The clock stands still, so the buckets never refill during the test: exactly the burst gets through.
    h = await startHarness({
      clock,
      config: { broker: { limits: { publishOverrides: { door: { messagesPerSecond: 1, messageBurst: 50 } } } } },
    });
    h.broker.onDenial((denial) => void denials.push(denial));
    auditor = await h.client('auditor', { extra: { sub: ['dctrl/v1/+/audit', 'dctrl/v1/+/ping'] } });
    auditor.on(AuditDenied, (payload) => void audits.push(payload));
    await auditor.subscribe('dctrl/v1/+/audit');
  });
  after(async () => h.stop());

  test('a signed client flooding past its quota is cut and audited; others are not', async () => {
    const fromDoor: number[] = [];
    const fromVending: number[] = [];
    await auditor.listen(Ping, (payload) => void fromDoor.push(payload.seq), 'dctrl/v1/door/ping');
    await auditor.listen(Ping, (payload) => void fromVending.push(payload.seq), 'dctrl/v1/vending/ping');
    const bystander = await h.client('vending');
    // A stolen door key and token: every ping is validly signed; only the volume is wrong.
    h.keeper.ensureClient('door');
    await h.vault.publishChanges();
    const credentials = await h.credentials('door');
    const flooder = await mqtt.connectAsync(h.brokerUrl, {
      clientId: 'door',
      username: 'door',
      password: credentials.token,
      reconnectPeriod: 0,
    });
    flooder.on('error', () => undefined);
    const cut = new Promise<void>((resolve) => flooder.once('close', () => resolve()));
    for (let seq = 0; seq < 300; seq++) {
      const envelope = signEnvelope(
        { v: 1, id: ulid(), type: Ping.type, issuer: 'door', issuedAt: clock.now(), payload: pingPayload(seq) },
        credentials.signingKey,
      );
      flooder.publish('dctrl/v1/door/ping', encodeEnvelope(envelope), { qos: 1 }, () => undefined);
    }
    await cut;
    await eventually(
      () => audits.some((audit) => audit.reason === 'SUBSCRIPTION_MGR_QUOTA_EXCEEDED' && audit.client === 'door'),
      'audit.denied for the flooder',
    );
    const denial = denials.find((entry) => entry.error.code === 'SUBSCRIPTION_MGR_QUOTA_EXCEEDED');
    assert.ok(denial);
    assert.equal(denial.action, 'publish');
    assert.match(denial.error.message, /publishOverrides\["door"\]/);

    await bystander.publish(Ping, pingPayload(1));
    await eventually(() => fromVending.includes(1), 'the bystander’s ping');
    await eventually(
      () => fromDoor.length === 50,
      () => `the burst of 50 to arrive, got ${fromDoor.length}`,
    );
    assert.deepEqual(
      fromDoor,
      Array.from({ length: 50 }, (_, seq) => seq),
      'exactly the burst got through, in order',
    );

    // Reconnecting does not refill the bucket: the quota is the subject's, not the connection's.
    const again = await mqtt.connectAsync(h.brokerUrl, {
      clientId: 'door',
      username: 'door',
      password: credentials.token,
      reconnectPeriod: 0,
    });
    again.on('error', () => undefined);
    const cutAgain = new Promise<void>((resolve) => again.once('close', () => resolve()));
    const envelope = signEnvelope(
      { v: 1, id: ulid(), type: Ping.type, issuer: 'door', issuedAt: clock.now(), payload: pingPayload(1000) },
      credentials.signingKey,
    );
    again.publish('dctrl/v1/door/ping', encodeEnvelope(envelope), { qos: 1 }, () => undefined);
    await cutAgain;
    assert.ok(!fromDoor.includes(1000));
  });
});
