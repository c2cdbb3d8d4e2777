// An anonymous client on a Mosquitto with no ACLs records every byte while a door fetches the fob hash key, a client
// renews its token and members are recorded and queried: none of those secrets appears in what it heard.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { ulid } from 'ulid';
import { createBusClient, type BusClient } from '../../src/auth-proxy/index.js';
import { createBusinessData } from '../../src/business-data/index.js';
import { hashFob } from '../../src/core/fob-hash.js';
import { MemberChanged, MemberCommand, MemberQuery, SecretGet } from '../../src/core/messages.js';
import type { Service } from '../../src/core/service.js';
import { openDatabase, type DatabaseHandle } from '../../src/core/storage/index.js';
import { createMachineNotifier, fobKeyPath } from '../../src/machine-notifier/index.js';
import { createMemberData } from '../../src/member-data/index.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';

const DOOR = 'door-1';
const ADA = { name: 'Ada Quintessa Lovelace', email: 'ada.quintessa@example.org' };
const FOB_NUMBER = '0004231009';

let broker: Mosquitto;
let h: Harness;
let database: DatabaseHandle;
let eavesdropper: MqttClient;
const services: Service[] = [];
const clients: BusClient[] = [];
const heard: Buffer[] = [];
const heardTopics = new Set<string>();

before(async () => {
  broker = await startMosquitto();
  eavesdropper = await mqtt.connectAsync(broker.url, { clientId: `eve-${ulid()}`, reconnectPeriod: 0 });
  eavesdropper.on('message', (topic, payload) => {
    heardTopics.add(topic);
    heard.push(Buffer.from(topic), payload);
  });
  // `#` does not match topics that start with `$` [MQTT-4.7.2-1]: ask for the broker-control tree by name.
  await eavesdropper.subscribeAsync(['#', '$dctrl/#'], { qos: 1 });
  h = await startHarness({
    brokerUrl: broker.url,
    config: { machines: { devices: { [DOOR]: { kind: 'door', outputs: { door: { driver: 'simulated' } } } } } },
  });
  database = await openDatabase({ sqliteFile: join(h.dataDir, 'dctrl.db') });
  for (const client of ['business-data', 'member-data', 'server', 'cli', DOOR]) h.keeper.ensureClient(client);
  await h.vault.publishChanges();
  services.push(createBusinessData(await h.context('business-data'), database));
  services.push(createMemberData(await h.context('member-data'), database));
  for (const service of services) await service.start();
});

after(async () => {
  for (const client of clients) await client.stop();
  for (const service of services.reverse()) await service.stop().catch(() => undefined);
  await eavesdropper?.endAsync(true);
  await h?.stop();
  await database?.close();
  await broker?.cleanup();
});

/** Every form in which a value could be spotted in the recorded bytes. */
function formsOf(value: string | Buffer): string[] {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  return [
    ...(typeof value === 'string' ? [value] : []),
    bytes.toString('hex'),
    bytes.toString('base64'),
    bytes.toString('base64url'),
  ];
}

function assertNeverHeard(what: string, value: string | Buffer): void {
  const recorded = Buffer.concat(heard);
  for (const form of formsOf(value)) {
    assert.equal(recorded.indexOf(form), -1, `${what} (${form.slice(0, 12)}…) was readable off the wire`);
  }
}

test('a door starts, a client renews its token, a member is recorded and queried: the eavesdropper learns none of it', async () => {
  // The door fetches the fob hash key from the Vault.
  const door = createMachineNotifier(await h.context(DOOR), DOOR);
  services.push(door);
  await door.start();
  const fobKey = h.keeper.secret('fob-hash-key');
  await eventually(() => door.stats().fobKey === 'vault', 'the door to get the fob hash key');
  assert.equal(readFileSync(fobKeyPath(h.config.dataDir, DOOR), 'utf8').trim(), fobKey.toString('base64url'));

  // A client renews its token: the Vault's reply and the renewal handed to the broker.
  const context = await h.context('cli');
  const oldToken = context.credentials.token;
  const renewedTokens: string[] = [];
  const cli = createBusClient({
    ...context,
    credentials: { ...context.credentials, saveToken: (token) => void renewedTokens.push(token) },
  });
  clients.push(cli);
  await cli.start();
  await cli.renewNow();
  assert.equal(renewedTokens.length, 1, 'the client holds a renewed token');
  assert.notEqual(renewedTokens[0], oldToken);

  // A member is recorded and queried; the Server hears the announcement.
  const server = await h.client('server', { extra: { sub: [MemberChanged.topic] } });
  const announced: string[] = [];
  await server.listen(MemberChanged, (change) => void announced.push(change.member.email));
  const fob = hashFob(FOB_NUMBER, fobKey);
  const { member } = (await cli.request(MemberCommand, { action: 'join', tier: 'member', ...ADA })) as {
    member: { memberId: string };
  };
  await cli.request(MemberCommand, { action: 'issue-fob', memberId: member.memberId, fob });
  const answer = (await cli.request(MemberQuery, { memberId: member.memberId })) as {
    members: { name: string; email: string; fobs: { fobHash: string }[] }[];
  };
  assert.equal(answer.members[0]!.email, ADA.email, 'the requester reads the answer');
  assert.equal(answer.members[0]!.fobs[0]!.fobHash, fob.hash);
  await eventually(() => announced.includes(ADA.email), 'the Server to read the announcement');

  // A secret asked for by a client that may not read it comes back as an error, also sealed.
  await assert.rejects(cli.request(SecretGet, { name: 'fob-hash-key' }), { code: 'VAULT_SECRET_NOT_ALLOWED' });

  // Every reply the clients read has reached the eavesdropper too (the join, the fob, the query; the renewal and
  // the refused secret on the private tree; the door's key).
  const heardOn = (prefix: string) =>
    [...heard.keys()].filter((index) => index % 2 === 0 && heard[index]!.toString().startsWith(prefix)).length;
  await eventually(
    () =>
      heardOn('dctrl/v1/cli/reply/') >= 3 &&
      heardOn('dctrl/private/cli/reply/') >= 2 &&
      heardOn(`dctrl/private/${DOOR}/reply/`) >= 1,
    'the eavesdropper to hear every reply',
  );
  assert.ok(heardTopics.has('$dctrl/session/renew'), 'the renewal crossed the broker, sealed');

  assertNeverHeard('the fob hash key', fobKey);
  for (const token of [oldToken, renewedTokens[0]!]) {
    assertNeverHeard('a token', token);
    assertNeverHeard('a token signature', token.split('.')[2]!);
  }
  assertNeverHeard('a name', ADA.name);
  assertNeverHeard('an email', ADA.email);
  assertNeverHeard('a fob hash', fob.hash);
  assert.ok(Buffer.concat(heard).length > 10_000, 'the eavesdropper did hear the traffic');
});
