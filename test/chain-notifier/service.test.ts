// The ChainNotifier on the bus with the real MemberData, BusinessData, Reporter and PriceNotifier (fixed demo
// rate) over the simulated chain: payments are credited once at the rate first seen, and taken back when a
// reorg or a double spend removes them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { ulid } from 'ulid';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { SimulatedChain } from '../../src/chain-adaptor/index.js';
import { NETWORKS, parseAddress } from '../../src/core/bitcoin/index.js';
import { RemoteError } from '../../src/core/errors.js';
import { ChainAlarm, ChainPayment, ChainPayments, DepositAddress } from '../../src/core/messages-chain.js';
import { MemberCommand, ReportRequest } from '../../src/core/messages.js';
import type { Service } from '../../src/core/service.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';
import { testDescriptor } from './watcher-cases.js';
import { startChainHub, type ChainHub } from './hub.js';

const chain = new SimulatedChain('regtest');
let h: Harness;
let hub: ChainHub;
let services: Service[];
let notifier: Service & { sync(): Promise<void> };
let cli: BusClient;
let ada: string;
let adaScript: Uint8Array;
const heard: string[] = [];
// What a subscriber to the alarm topic that is not its reader sees on the wire.
const overheard: string[] = [];
let eavesdropper: MqttClient;

const statement = async () =>
  (
    (await cli.request(ReportRequest, { report: 'statement', memberId: ada })) as {
      json: {
        closingCents: number;
        entries: { kind: string; cents: number; sats: number | null; rate: { source: string } | null }[];
      };
    }
  ).json;

before(async () => {
  h = await startHarness({
    config: {
      bus: { requestTimeoutMs: 3_000 },
      reporter: { checkIntervalMs: 3_600_000 },
      chainNotifier: { depositDescriptor: testDescriptor().text, pollMs: 3_600_000, reorgLimit: 3 },
    },
  });
  hub = await startChainHub(h, chain);
  ({ services, notifier } = hub);
  cli = await h.client('cli');
  // Payments name deposit addresses, sealed to the Server.
  const watcher = await h.client('server', { extra: { sub: ['dctrl/v1/chain-notifier/#'] } });
  await watcher.listen(ChainPayment, (payment) => void heard.push(`${payment.event}:${payment.sats}:${payment.credited}`));
  await watcher.listen(ChainAlarm, (alarm) => void heard.push(`alarm:${alarm.code}:${alarm.cleared}`));
  const { member } = (await cli.request(MemberCommand, {
    action: 'join',
    name: 'Ada',
    email: 'ada@example.org',
    tier: 'member',
  })) as {
    member: { memberId: string };
  };
  ada = member.memberId;
  eavesdropper = await mqtt.connectAsync(h.brokerUrl, {
    clientId: `eve:${ulid()}`,
    username: 'eve',
    password: (await h.credentials('eve', { sub: [ChainAlarm.topic] })).token,
    reconnectPeriod: 0,
  });
  eavesdropper.on('message', (_topic, bytes) => void overheard.push(bytes.toString('utf8')));
  await eavesdropper.subscribeAsync(ChainAlarm.topic, { qos: 1 });
});
after(async () => {
  await eavesdropper.endAsync();
  await hub.stop();
  await h.stop();
});

test('a member has one deposit address, with a BIP21 URI; a stranger may not ask for it', async () => {
  const first = (await cli.request(DepositAddress, { memberId: ada })) as { address: string; uri: string; index: number };
  const again = (await cli.request(DepositAddress, { memberId: ada })) as { address: string };
  assert.equal(again.address, first.address);
  assert.equal(first.uri, `bitcoin:${first.address}`);
  assert.match(first.address, /^bcrt1q/);
  adaScript = parseAddress(first.address, NETWORKS.regtest).script;
  const stranger = await h.client('stranger', { extra: { pub: ['dctrl/v1/chain-notifier/rpc/#'] } });
  const refused = await stranger.request(DepositAddress, { memberId: ada }).catch((error: unknown) => error);
  assert.ok(refused instanceof RemoteError && refused.code === 'AUTH_PROXY_ASKER_NOT_ALLOWED');
});

test('a small payment is credited as soon as it is seen, in CAD at the rate then, with its sats', async () => {
  chain.send([{ script: adaScript, value: 75_000 }]);
  await notifier.sync();
  await eventually(
    () => heard.includes('confirmed:75000:true'),
    () => heard.join(', '),
  );
  const { entries, closingCents } = await statement();
  // 75,000 sats at 135,000.00 CAD per bitcoin.
  assert.deepEqual(
    entries.map((entry) => [entry.kind, entry.cents, entry.sats, entry.rate?.source]),
    [['payment', 10_125, 75_000, 'fixed:demo-fixed']],
  );
  assert.equal(closingCents, 10_125);
  await notifier.sync();
  assert.equal((await statement()).entries.length, 1, 'a second pass credits nothing more');
});

test('a larger payment waits for its confirmation; a reorg that drops it takes the credit back', async () => {
  const txid = chain.send([{ script: adaScript, value: 1_000_000 }]);
  await notifier.sync();
  await eventually(
    () => heard.includes('seen:1000000:false'),
    () => heard.join(', '),
  );
  assert.equal((await statement()).entries.length, 1, 'not credited unconfirmed');
  chain.mine(1);
  await notifier.sync();
  await eventually(
    () => heard.includes('confirmed:1000000:true'),
    () => heard.join(', '),
  );
  assert.equal((await statement()).closingCents, 10_125 + 135_000);
  chain.reorg(1, [txid]);
  await notifier.sync();
  await eventually(
    () => heard.includes('reorged:1000000:true'),
    () => heard.join(', '),
  );
  const after = await statement();
  assert.equal(after.closingCents, 10_125);
  assert.deepEqual(after.entries.at(-1)!.kind, 'adjustment');
  const payments = (await cli.request(ChainPayments, { memberId: ada })) as { payments: { state: string; credited: boolean }[] };
  assert.deepEqual(
    payments.payments.map((payment) => `${payment.state}:${payment.credited}`),
    ['confirmed:true', 'reorged:false'],
  );
});

test('a payment credited unconfirmed and then double spent is taken back', async () => {
  const txid = chain.send([{ script: adaScript, value: 50_000 }]);
  await notifier.sync();
  await eventually(
    () => heard.includes('confirmed:50000:true'),
    () => heard.join(', '),
  );
  chain.replace(txid, [{ script: Uint8Array.from([0x51]), value: 49_000 }]);
  chain.mine(1);
  await notifier.sync();
  await eventually(
    () => heard.includes('replaced:50000:true'),
    () => heard.join(', '),
  );
  assert.equal((await statement()).closingCents, 10_125);
});

test('with the Reporter away the credit waits; if the payment is double spent meanwhile, the ledger ends at nothing', async () => {
  const reporter = services[2]!;
  await reporter.stop();
  const before = 10_125;
  const txid = chain.send([{ script: adaScript, value: 30_000 }]);
  await notifier.sync();
  await eventually(
    () => heard.includes('alarm:CHAIN_NOTIFIER_UNCREDITED:false'),
    () => heard.join(', '),
  );
  chain.replace(txid, [{ script: Uint8Array.from([0x00, 0x14, ...new Uint8Array(20).fill(3)]), value: 29_000 }]);
  chain.mine(1);
  await reporter.start();
  await notifier.sync();
  await eventually(
    () => heard.includes('alarm:CHAIN_NOTIFIER_UNCREDITED:true'),
    () => heard.join(', '),
  );
  const { entries, closingCents } = await statement();
  const last = entries.slice(-2).map((entry) => [entry.kind, entry.cents]);
  // Whether the first answer was lost before or after the Reporter stored it, the credit lands once and is taken back.
  assert.deepEqual(last, [
    ['payment', 4_050],
    ['adjustment', -4_050],
  ]);
  assert.equal(closingCents, before);
  // The alarm named the outpoint, its amount and the member: a bystander on the topic sees none of them.
  await eventually(() => overheard.length >= 2, 'the alarms on the wire');
  assert.ok(!overheard.some((raw) => raw.includes(txid) || raw.includes(ada) || raw.includes('30000')), overheard.join('\n'));
});

test('the node going away raises an alarm that clears when it returns, and nothing is lost meanwhile', async () => {
  chain.setAvailable(false);
  await notifier.sync();
  await eventually(
    () => heard.includes('alarm:CHAIN_NOTIFIER_NODE_UNAVAILABLE:false'),
    () => heard.join(', '),
  );
  chain.setAvailable(true);
  chain.send([{ script: adaScript, value: 20_000 }]);
  await notifier.sync();
  await eventually(
    () => heard.includes('alarm:CHAIN_NOTIFIER_NODE_UNAVAILABLE:true') && heard.includes('confirmed:20000:true'),
    () => heard.join(', '),
  );
});
