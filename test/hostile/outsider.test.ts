// Issue 14: what an outsider on a Mosquitto without ACLs can make happen. An anonymous client replays what it
// recorded and forges messages in other clients' names: nothing moves. A stolen door (its signing key and token, from
// its credentials bundle, and a token it made itself) asks for reports and member data: no service answers with data.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { ulid } from 'ulid';
import { closeShared, createBusClient, type BusClient } from '../../src/auth-proxy/index.js';
import { readCredentialsBundle } from '../../src/cli/credentials.js';
import { systemClock } from '../../src/core/clock.js';
import { DctrlError } from '../../src/core/errors.js';
import { defaultGrants } from '../../src/core/grants.js';
import { silentLogger } from '../../src/core/logger.js';
import { signToken } from '../../src/core/token.js';
import { decodeEnvelope, encodeEnvelope, signEnvelope, type Envelope } from '../../src/core/envelope.js';
import { generateSigningKey, type SigningKey } from '../../src/core/keys.js';
import { createRegistry, LedgerRecord, MemberQuery, ReportRequest } from '../../src/core/messages.js';
import { MachineCommand } from '../../src/core/messages-machine.js';
import type { RecordedMessage } from './recorder.js';
import { DOOR, startHostileSpace, until, type HostileSpace } from './hostile-space.js';

const ADA = { name: 'Ada Quellmorrow', email: 'ada.quellmorrow@hostile.example', fob: '0004231000' };
const KEN = { name: 'Ken Obsidianne', email: 'ken.obsidianne@hostile.example', fob: '0004231004' };

const MAX_BYTES = 1_000_000;

let space: HostileSpace;
let outsider: MqttClient;
const thieves: (() => Promise<void>)[] = [];
let ada: string;

before(async () => {
  space = await startHostileSpace();
  ada = await space.addMember(ADA.name, ADA.email, ADA.fob);
  await space.addMember(KEN.name, KEN.email, KEN.fob);
  await space.pay(ada, 15_125, 'receipt-outsider-ada');
  outsider = await mqtt.connectAsync(space.mosquitto.url, { clientId: `outsider-${ulid()}`, reconnectPeriod: 0 });
});
after(async () => {
  for (const stop of thieves) await stop().catch(() => undefined);
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

/**
 * The door as a thief who took its Pi runs it: its signing key from the bundle (and so whatever the door can open),
 * and a token of the thief's own making that grants everything. Nothing on a broker without our ACLs checks tokens,
 * so the only thing between this client and the data is the answering service.
 */
async function stolenDoor(): Promise<BusClient> {
  const credentials = readCredentialsBundle(space.devices[DOOR].bundleFile).get(DOOR);
  assert.ok(credentials, 'the door’s bundle holds its credentials');
  const now = Date.now();
  const selfMadeToken = await signToken(generateSigningKey().privateKey, {
    client: DOOR,
    tokenId: ulid(),
    issuedAt: now,
    expiresAt: now + 3_600_000,
    grants: defaultGrants(DOOR, { pub: ['dctrl/#'], sub: ['dctrl/#'] }),
    audience: 'bus',
  });
  const shared: Record<string, unknown> = {};
  const thief = createBusClient(
    {
      config: space.hub.config,
      clock: systemClock,
      logger: silentLogger,
      registry: createRegistry(),
      credentials: { ...credentials, token: selfMadeToken },
      shared,
    },
    { instance: 'thief' },
  );
  await thief.start();
  thieves.push(async () => {
    await thief.stop();
    await closeShared(shared);
  });
  return thief;
}

/** Fails naming what came back when the answer is data; a refusal (a coded error) or silence is "nothing". */
async function assertGetsNothing(type: string, ask: Promise<unknown>): Promise<void> {
  let answer: unknown;
  try {
    answer = await ask;
  } catch (error) {
    assert.ok(error instanceof DctrlError, `a refusal is a coded error, got ${String(error)}`);
    return;
  }
  const text = JSON.stringify(answer);
  const leaked = [ADA.email, ADA.name, KEN.email, KEN.name].filter((value) => text.includes(value));
  assert.fail(
    `${type} asked with the front door's key was answered with data` +
      (leaked.length > 0 ? ` carrying ${leaked.join(', ')}` : '') +
      `: ${text.slice(0, 300)}`,
  );
}

test('the front door’s key asking reporter.report for every member’s balance gets nothing', async () => {
  const thief = await stolenDoor();
  await assertGetsNothing(ReportRequest.type, thief.request(ReportRequest, { report: 'members', format: 'json' }));
});

test('the front door’s key asking member-data.query for every member gets nothing', async () => {
  const thief = await stolenDoor();
  await assertGetsNothing(MemberQuery.type, thief.request(MemberQuery, { includeLeft: true }));
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
