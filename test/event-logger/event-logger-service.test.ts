// The EventLogger on a live bus: logs every accepted message, none of the rejected ones, and replays on request.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import mqtt from 'mqtt';
import { ulid } from 'ulid';
import { verifyEnvelopeSignature, type Envelope } from '../../src/core/envelope.js';
import { Ping, Replayed, ReplayRequest, Topics } from '../../src/core/messages.js';
import { createEventLogger, eventLogDir, readRecords, verifyLog, type EventLogger } from '../../src/event-logger/index.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';

let h: Harness;
let logger: EventLogger;

before(async () => {
  h = await startHarness();
  logger = createEventLogger(await h.context('event-logger'));
  await logger.start();
});
after(async () => {
  await logger.stop();
  await h.stop();
});

const loggedTypes = () => [...readRecords(eventLogDir(h.dataDir))].map((r) => (r.env as { type: string }).type);

test('every accepted message is appended; a forged one is not, but its audit event is', async () => {
  const alice = await h.client('alice');
  for (let seq = 0; seq < 5; seq++) await alice.publish(Ping, { seq, sentAtNs: '0', pad: '' });
  const mallory = await mqtt.connectAsync(h.brokerUrl, {
    clientId: `mallory:${ulid()}`,
    username: 'mallory',
    password: (await h.credentials('mallory', { pub: ['dctrl/v1/alice/ping'] })).token,
    reconnectPeriod: 0,
  });
  await mallory.publishAsync('dctrl/v1/alice/ping', Buffer.from('{"forged":true}'), { qos: 1 });
  await mallory.endAsync();
  logger.writer.flush();
  await eventually(() => {
    logger.writer.flush();
    return loggedTypes().filter((t) => t === 'bus.ping').length === 5 && loggedTypes().includes('audit.rejected');
  }, 'five pings and an audit event');
  assert.equal(verifyLog(eventLogDir(h.dataDir)).ok, true);
  assert.ok(
    ![...readRecords(eventLogDir(h.dataDir))].some((r) => (r.env as { forged?: boolean }).forged),
    'the forgery itself is not logged',
  );
});

test('a replay request re-publishes logged envelopes whole, and they verify against the original signer', async () => {
  const admin = await h.client('cli', {
    instance: 'replay',
    extra: { pub: ['dctrl/v1/event-logger/rpc/#'], sub: ['dctrl/v1/event-logger/replay/+'] },
  });
  const session = `s-${Date.now()}`;
  const replayed: { seq: number; envelope: Envelope; last: boolean }[] = [];
  await admin.listen(
    Replayed,
    (payload) => void replayed.push({ seq: payload.seq, envelope: payload.envelope as Envelope, last: payload.last }),
    Topics.replayStream(session),
  );
  const first = [...readRecords(eventLogDir(h.dataDir))].find((r) => (r.env as { type: string }).type === 'bus.ping')!;
  const reply = (await admin.request(ReplayRequest, { session, fromId: (first.env as { id: string }).id, limit: 3 })) as {
    count: number;
  };
  assert.equal(reply.count, 3);
  await eventually(() => replayed.some((r) => r.last), 'the last replayed record');
  assert.deepEqual(
    replayed.map((r) => r.seq),
    [first.seq, first.seq + 1, first.seq + 2],
  );
  const aliceKey = h.keeper.signingKey('alice').publicKey;
  assert.ok(
    replayed.every((r) => verifyEnvelopeSignature(r.envelope, aliceKey)),
    'original signatures still verify',
  );
  await new Promise((resolve) => setTimeout(resolve, 200)); // let the logger see the replay stream, if it were to log it
  logger.writer.flush();
  const countBefore = [...readRecords(eventLogDir(h.dataDir))].filter(
    (r) => (r.env as { type: string }).type === Replayed.type,
  ).length;
  assert.equal(countBefore, 0, 'replay streams are not logged again');
  await assert.rejects(admin.request(ReplayRequest, { session, limit: 3 }), { code: 'EVENT_LOGGER_REPLAY_INVALID' });
});

test('a replay is sealed to the client that asked: a subscriber to the replay topics reads nothing of it', async () => {
  const alice = await h.client('alice', { instance: 'mail' });
  const sent = await alice.publish(Ping, { seq: 99, sentAtNs: '0', pad: 'ada@example.org' });
  await eventually(() => {
    logger.writer.flush();
    return [...readRecords(eventLogDir(h.dataDir))].some((r) => (r.env as { id: string }).id === sent.id);
  }, 'the ping logged');
  const overheard: string[] = [];
  const eve = await mqtt.connectAsync(h.brokerUrl, {
    clientId: `eve:${ulid()}`,
    username: 'eve',
    password: (await h.credentials('eve', { sub: ['dctrl/v1/event-logger/replay/+'] })).token,
    reconnectPeriod: 0,
  });
  eve.on('message', (_topic, bytes) => void overheard.push(bytes.toString('utf8')));
  await eve.subscribeAsync('dctrl/v1/event-logger/replay/+', { qos: 1 });
  try {
    const admin = await h.client('cli', {
      instance: 'sealed-replay',
      extra: { pub: ['dctrl/v1/event-logger/rpc/#'], sub: ['dctrl/v1/event-logger/replay/+'] },
    });
    const session = `sealed-${Date.now()}`;
    const replayed: Envelope[] = [];
    await admin.listen(Replayed, (payload) => void replayed.push(payload.envelope as Envelope), Topics.replayStream(session));
    await admin.request(ReplayRequest, { session, fromId: sent.id, limit: 1 });
    await eventually(() => replayed.length === 1 && overheard.length > 0, 'the replay at the asker and on the wire');
    assert.equal(replayed[0]!.id, sent.id);
    assert.ok(verifyEnvelopeSignature(replayed[0]!, h.keeper.signingKey('alice').publicKey), 'the original signature verifies');
    assert.ok(!overheard.some((raw) => raw.includes('ada@example.org')), overheard.join('\n'));
  } finally {
    await eve.endAsync();
  }
});

test('the EventLogger refuses to extend a log cut short while it was stopped', async () => {
  const logDir = eventLogDir(h.dataDir);
  await logger.stop();
  const segment = readdirSync(logDir)
    .filter((name) => name.startsWith('segment-'))
    .sort()
    .at(-1)!;
  const lines = readFileSync(join(logDir, segment), 'utf8').split('\n').filter(Boolean);
  writeFileSync(
    join(logDir, segment),
    lines
      .slice(0, -2)
      .map((line) => line + '\n')
      .join(''),
  );
  const again = createEventLogger(await h.context('event-logger'));
  const headBefore = readFileSync(join(logDir, 'HEAD.json'), 'utf8');
  await assert.rejects(again.start(), { code: 'EVENT_LOGGER_LOG_TRUNCATED' });
  await again.stop();
  assert.equal(readFileSync(join(logDir, 'HEAD.json'), 'utf8'), headBefore, 'the evidence (the signed head) is untouched');
  assert.equal(verifyLog(logDir).problem?.code, 'EVENT_LOGGER_LOG_TRUNCATED');
  logger = createEventLogger(await h.context('event-logger')); // for after(): a logger that was never started stops cleanly
});
