// Issue 14: what an outsider on a Mosquitto without ACLs can make happen. An anonymous client replays what it
// recorded and forges messages in other clients' names: nothing moves. A stolen door (its signing key and token, from
// its credentials bundle) signs requests for reports and member data: no service answers it with data.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { ulid } from 'ulid';
import { readCredentialsBundle } from '../../src/cli/credentials.js';
import { decodeEnvelope, encodeEnvelope, signEnvelope, type Envelope } from '../../src/core/envelope.js';
import { generateSigningKey, type SigningKey } from '../../src/core/keys.js';
import { LedgerRecord, MemberQuery, ReportRequest } from '../../src/core/messages.js';
import { MachineCommand } from '../../src/core/messages-machine.js';
import type { RecordedMessage } from './recorder.js';
import { DOOR, startHostileSpace, until, type HostileSpace } from './hostile-space.js';

const ADA = { name: 'Ada Quellmorrow', email: 'ada.quellmorrow@hostile.example', fob: '0004231000' };
const KEN = { name: 'Ken Obsidianne', email: 'ken.obsidianne@hostile.example', fob: '0004231004' };

const MAX_BYTES = 1_000_000;

let space: HostileSpace;
let outsider: MqttClient;
let ada: string;

before(async () => {
  space = await startHostileSpace();
  ada = await space.addMember(ADA.name, ADA.email, ADA.fob);
  await space.addMember(KEN.name, KEN.email, KEN.fob);
  await space.pay(ada, 15_125, 'receipt-outsider-ada');
  outsider = await mqtt.connectAsync(space.mosquitto.url, { clientId: `outsider-${ulid()}`, reconnectPeriod: 0 });
});
after(async () => {
  await outsider?.endAsync(true);
  await space?.stop();
});

const isAudit = (message: RecordedMessage, claimedId: string) =>
  message.topic.endsWith('/audit') && message.payload.toString('utf8').includes(claimedId);

const statementOf = async (memberId: string) =>
  (
    (await space.cli.request(ReportRequest, { report: 'statement', memberId, format: 'json' })) as {
      json: { entries: { id?: string; kind: string; cents: number }[]; member: { balanceCents: number } };
    }
  ).json;

test('an anonymous client replaying a recorded door-open command, or forging one in BusinessMgr’s name, moves nothing', async () => {
  const door = space.devices[DOOR];
  const before = door.mgr.pulses().length;
  door.notifier.handleReaderText(`${ADA.fob}\n`, 'stdin');
  await until(() => door.mgr.pulses().length === before + 1, 'the door to open for Ada');
  const recorded = await space.recorder.waitFor(
    (message) => message.topic === `dctrl/v1/business-mgr/machine/${DOOR}`,
    'the open command on the wire',
  );
  const genuine = decodeEnvelope(recorded.payload, MAX_BYTES);
  await outsider.publishAsync(recorded.topic, recorded.payload, { qos: 1 });
  const forged = forge(genuine, generateSigningKey(), { reason: 'forged' });
  await outsider.publishAsync(recorded.topic, encodeEnvelope(forged), { qos: 1 });
  // The door says why it dropped each one; only then is "nothing moved" a fact and not a race.
  await space.recorder.waitFor((message) => isAudit(message, genuine.id), 'the door’s audit of the replayed command');
  await space.recorder.waitFor((message) => isAudit(message, forged.id), 'the door’s audit of the forged command');
  assert.equal(door.mgr.pulses().length, before + 1, 'the door opened once, for the genuine command only');
});

test('an anonymous client replaying a recorded payment, or forging one in the command line’s name, changes no balance', async () => {
  const before = await statementOf(ada);
  const recorded = await space.recorder.waitFor(
    (message) => message.topic === 'dctrl/v1/reporter/rpc/record',
    'Ada’s payment on the wire',
  );
  const genuine = decodeEnvelope(recorded.payload, MAX_BYTES);
  await outsider.publishAsync(recorded.topic, recorded.payload, { qos: 1 });
  const forged = forge(genuine, generateSigningKey(), {
    kind: 'payment',
    memberId: ada,
    cents: 1_000_000,
    method: 'cash',
    causedBy: 'receipt-forged',
  });
  await outsider.publishAsync(recorded.topic, encodeEnvelope(forged), { qos: 1 });
  await space.recorder.waitFor((message) => isAudit(message, forged.id), 'the Reporter’s audit of the forged payment');
  await space.recorder.waitFor((message) => isAudit(message, genuine.id), 'the Reporter’s audit of the replayed payment');
  const after = await statementOf(ada);
  assert.equal(after.member.balanceCents, before.member.balanceCents);
  assert.deepEqual(after.entries, before.entries, 'the ledger is unchanged');
  assert.equal(LedgerRecord.type, genuine.type);
});

/** The door's key and token as its bundle holds them: what a thief who takes the door's Pi has. */
function stolenDoorKey(): SigningKey {
  const credentials = readCredentialsBundle(space.devices[DOOR].bundleFile).get(DOOR);
  assert.ok(credentials, 'the door’s bundle holds its credentials');
  return credentials.signingKey;
}

/**
 * Signs a request as the door with its stolen key and publishes it past the broker (which checks nothing), then
 * returns the raw reply on the door's reply topic; a service that refuses answers with an error.
 */
async function askAsStolenDoor(type: string, topic: string, payload: unknown): Promise<{ raw: string; reply: unknown }> {
  const replyTo = `dctrl/v1/${DOOR}/reply/stolen-${ulid()}`;
  const correlationId = ulid();
  await outsider.subscribeAsync(replyTo, { qos: 1 });
  const now = Date.now();
  const request = signEnvelope(
    { v: 1, id: ulid(), type, issuer: DOOR, issuedAt: now, expiresAt: now + 10_000, replyTo, correlationId, payload },
    stolenDoorKey(),
  );
  const answered = new Promise<Buffer>((resolve) => {
    const onMessage = (replyTopic: string, bytes: Buffer) => {
      if (replyTopic !== replyTo) return;
      outsider.off('message', onMessage);
      resolve(Buffer.from(bytes));
    };
    outsider.on('message', onMessage);
  });
  await outsider.publishAsync(topic, encodeEnvelope(request), { qos: 1 });
  const bytes = await Promise.race([
    answered,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`no answer at all to ${type} within 10 s (a refusal is answered)`)), 10_000),
    ),
  ]);
  const raw = bytes.toString('utf8');
  return { raw, reply: decodeEnvelope(bytes, MAX_BYTES).payload };
}

function assertRefusedWithoutData(type: string, answer: { raw: string; reply: unknown }): void {
  const leaked = [ADA.email, ADA.name, KEN.email, KEN.name].filter((value) => answer.raw.includes(value));
  const reply = answer.reply as { ok?: boolean; error?: { code: string } };
  if (reply.ok !== false || leaked.length > 0) {
    assert.fail(
      `${type} asked with the front door's key was answered ${reply.ok === false ? 'with an error' : 'with data'}` +
        (leaked.length > 0 ? `, and the answer carries ${leaked.join(', ')}` : '') +
        `: ${answer.raw.slice(0, 300)}`,
    );
  }
  assert.ok(reply.error?.code, 'the refusal names its code');
}

test('the front door’s key asking reporter.report for every member’s balance gets nothing', async () => {
  const answer = await askAsStolenDoor(ReportRequest.type, ReportRequest.topic, { report: 'members', format: 'json' });
  assertRefusedWithoutData(ReportRequest.type, answer);
});

test('the front door’s key asking member-data.query for every member gets nothing', async () => {
  const answer = await askAsStolenDoor(MemberQuery.type, MemberQuery.topic, { includeLeft: true });
  assertRefusedWithoutData(MemberQuery.type, answer);
});

/** A copy of a recorded message with a fresh id and time, new payload fields, signed by a key that is not its issuer's. */
function forge(genuine: Envelope, key: SigningKey, payload: Record<string, unknown>): Envelope {
  const now = Date.now();
  const { v, type, issuer, replyTo, correlationId } = genuine;
  const base = genuine.type === MachineCommand.type ? (genuine.payload as Record<string, unknown>) : {};
  return signEnvelope(
    {
      v,
      id: ulid(),
      type,
      issuer,
      issuedAt: now,
      expiresAt: now + 10_000,
      ...(replyTo !== undefined ? { replyTo } : {}),
      ...(correlationId !== undefined ? { correlationId } : {}),
      payload: { ...base, ...payload },
    },
    key,
  );
}
