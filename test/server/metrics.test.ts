// Server metrics on a real bus: the exposition text after decisions, payments, mails, heartbeats and audits.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { register as globalRegistry } from 'prom-client';
import { ulid } from 'ulid';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { ChainPayment } from '../../src/core/messages-chain.js';
import { BusinessDecision, MachineStatus, type Decision } from '../../src/core/messages-machine.js';
import { doorStatus } from './door-status.js';
import { MailChanged } from '../../src/core/messages-mail.js';
import { AuditRejected, LogAlarm, LogDropped, Ping, Topics } from '../../src/core/messages.js';
import { createServerMetrics, type ServerMetrics } from '../../src/server/metrics.js';
import { startHarness, type Harness } from '../helpers/harness.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a text exposition (format 0.0.4): `name{label="value",…} number` per line, comments skipped. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[key!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample with this name and (at least) these labels; undefined when there is none. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter(
    (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  assert.ok(found.length <= 1, `one sample of ${name} ${JSON.stringify(labels)}, found ${found.length}`);
  return found[0]?.value;
}

/** Scrapes until `holds` is true of the samples, and returns them. */
async function scrapeUntil(holds: (samples: Sample[]) => boolean, what: string): Promise<Sample[]> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const samples = parseExposition(await metrics.metrics());
    if (holds(samples)) return samples;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const clock = new ManualClock(Date.now());
let h: Harness;
let metrics: ServerMetrics;
const clients: Record<string, BusClient> = {};

before(async () => {
  h = await startHarness({ clock });
  const server = await h.client('server', { extra: { sub: [Topics.everything] } });
  metrics = createServerMetrics({ bus: server, clock });
  await metrics.start();
  for (const name of ['cli', 'business-mgr', 'chain-notifier', 'member-mail', 'front-door', 'vending'])
    clients[name] = await h.client(name);
});
after(async () => {
  metrics.stop();
  await h.stop();
});

function decision(kind: Decision['kind'], allowed: boolean, reason: Decision['reason']): Decision {
  return {
    decisionId: ulid(),
    at: clock.now(),
    device: kind === 'door' ? 'front-door' : 'vending',
    kind,
    via: 'fob',
    allowed,
    reason,
    tapId: ulid(),
    invoiceId: null,
    memberId: allowed ? 'm-1' : null,
    fobLastDigits: '123',
    product: kind === 'vend' ? 'club-mate' : null,
    count: allowed ? 1 : 0,
    cents: null,
    outcome: null,
  };
}

function payment(event: 'seen' | 'confirmed', sats: number, ownerKind: 'member' | 'invoice') {
  return {
    event,
    txid: randomBytes(32).toString('hex'),
    vout: 0,
    address: 'bcrt1qexample',
    sats,
    ownerKind,
    ownerId: 'm-1',
    state: event,
    confirmations: event === 'confirmed' ? 3 : 0,
    requiredConfirmations: 3,
    blockHeight: event === 'confirmed' ? 101 : null,
    credited: event === 'confirmed',
  };
}

function machineStatus(device: string) {
  return doorStatus(clock.now(), { device });
}

test('the exposition counts messages by type, decisions, denials, payments, mails and audits', async () => {
  const { cli, 'business-mgr': businessMgr, 'chain-notifier': chain, 'member-mail': mail } = clients;
  for (let seq = 0; seq < 3; seq++) await cli!.publish(Ping, { seq, sentAtNs: '0', pad: '' });
  await businessMgr!.publish(BusinessDecision, decision('door', true, 'member-active'));
  await businessMgr!.publish(BusinessDecision, decision('door', false, 'unknown-fob'));
  await businessMgr!.publish(BusinessDecision, decision('door', false, 'unknown-fob'));
  await businessMgr!.publish(BusinessDecision, decision('vend', false, 'insufficient-balance'));
  await chain!.publish(ChainPayment, payment('seen', 1_000, 'member'));
  await chain!.publish(ChainPayment, payment('confirmed', 50_000, 'member'));
  await chain!.publish(ChainPayment, payment('confirmed', 7_000, 'member'));
  await chain!.publish(ChainPayment, payment('confirmed', 5_000, 'invoice'));
  const mailEvent = (kind: 'receipt' | 'statement', state: 'sent' | 'failed') => ({
    id: ulid(),
    kind,
    memberId: 'm-1',
    state,
    attempts: 1,
    errorCode: state === 'failed' ? 'MEMBER_MAIL_SMTP_REFUSED' : null,
  });
  await mail!.publish(MailChanged, mailEvent('receipt', 'sent'));
  await mail!.publish(MailChanged, mailEvent('statement', 'failed'));
  const audit = (reason: string) => ({ reason, message: 'x', topic: 'dctrl/v1/x', suppressed: 0 });
  await cli!.publish(AuditRejected, audit('CORE_ENVELOPE_REPLAYED'));
  await cli!.publish(AuditRejected, audit('made up by a client <script>'));

  const published = {
    'bus.ping': 3,
    'business-mgr.decision': 4,
    'chain.payment': 4,
    'member-mail.changed': 2,
    'audit.rejected': 2,
  };
  const samples = await scrapeUntil(
    (samples) =>
      Object.entries(published).every(([type, count]) => valueOf(samples, 'dctrl_bus_messages_total', { type }) === count),
    'every message counted',
  );
  assert.equal(valueOf(samples, 'dctrl_decisions_total', { kind: 'door', allowed: 'true', reason: 'member-active' }), 1);
  assert.equal(valueOf(samples, 'dctrl_decisions_total', { kind: 'door', allowed: 'false', reason: 'unknown-fob' }), 2);
  assert.equal(valueOf(samples, 'dctrl_denials_total', { kind: 'door', reason: 'unknown-fob' }), 2);
  assert.equal(valueOf(samples, 'dctrl_denials_total', { kind: 'vend', reason: 'insufficient-balance' }), 1);
  assert.equal(
    valueOf(samples, 'dctrl_denials_total', { reason: 'member-active' }),
    undefined,
    'an allowed decision is no denial',
  );
  assert.equal(valueOf(samples, 'dctrl_payments_total', { owner_kind: 'member' }), 2, 'a payment only seen is not counted');
  assert.equal(valueOf(samples, 'dctrl_payment_sats_total', { owner_kind: 'member' }), 57_000);
  assert.equal(valueOf(samples, 'dctrl_payment_sats_total', { owner_kind: 'invoice' }), 5_000);
  assert.equal(valueOf(samples, 'dctrl_mails_total', { kind: 'receipt', state: 'sent' }), 1);
  assert.equal(valueOf(samples, 'dctrl_mails_total', { kind: 'statement', state: 'failed' }), 1);
  assert.equal(valueOf(samples, 'dctrl_bus_rejected_total', { reason: 'CORE_ENVELOPE_REPLAYED' }), 1);
  assert.equal(valueOf(samples, 'dctrl_bus_rejected_total', { reason: 'OTHER' }), 1, 'a made-up reason is no label value');
  assert.ok((valueOf(samples, 'process_cpu_user_seconds_total') ?? -1) >= 0, 'process metrics are there');
  assert.ok(valueOf(samples, 'nodejs_eventloop_lag_seconds') !== undefined, 'event loop lag is there');
  assert.equal(globalRegistry.getSingleMetric('dctrl_bus_messages_total'), undefined, 'never the global registry');
  assert.match(metrics.contentType, /^text\/plain; version=0\.0\.4/);
});

test('device heartbeats: last seen and up from machine.status, down once the heartbeat expires by the clock', async () => {
  const beatAt = clock.now();
  await clients['front-door']!.publish(MachineStatus, machineStatus('front-door'), { expiresInMs: 90_000 });
  // A device speaking for another is not believed.
  await clients['vending']!.publish(MachineStatus, machineStatus('back-door'), { expiresInMs: 90_000 });
  let samples = await scrapeUntil(
    (samples) => valueOf(samples, 'dctrl_bus_messages_total', { type: 'machine.status' }) === 2,
    'both heartbeats heard',
  );
  assert.equal(valueOf(samples, 'dctrl_device_up', { device: 'front-door' }), 1);
  assert.equal(valueOf(samples, 'dctrl_device_last_seen_seconds', { device: 'front-door' }), beatAt / 1000);
  assert.equal(valueOf(samples, 'dctrl_device_up', { device: 'back-door' }), undefined);
  assert.equal(valueOf(samples, 'dctrl_device_up', { device: 'vending' }), undefined);
  assert.equal(valueOf(samples, 'dctrl_service_up', { service: 'front-door' }), 1, 'its bus client is up too');
  assert.equal(valueOf(samples, 'dctrl_bus_messages_total', { type: 'machine.status' }), 2, 'both were counted as messages');

  clock.advance(90_001);
  samples = parseExposition(await metrics.metrics());
  assert.equal(valueOf(samples, 'dctrl_device_up', { device: 'front-door' }), 0, 'expired heartbeat: down');
  assert.equal(valueOf(samples, 'dctrl_device_last_seen_seconds', { device: 'front-door' }), beatAt / 1000);
  assert.equal(valueOf(samples, 'dctrl_service_up', { service: 'front-door' }), 0);

  await clients['front-door']!.publish(MachineStatus, machineStatus('front-door'), { expiresInMs: 90_000 });
  await scrapeUntil((samples) => valueOf(samples, 'dctrl_device_up', { device: 'front-door' }) === 1, 'front-door up again');
});

test('record() counts a message handed to it, and two instances in one process keep apart', async () => {
  const other = createServerMetrics({ bus: clients['cli']!, clock });
  other.record({
    envelope: { v: 1, id: ulid(), type: 'bus.ping', issuer: 'cli', issuedAt: clock.now(), payload: {}, sig: 'x' },
    topic: 'dctrl/v1/cli/ping',
  });
  const mine = parseExposition(await other.metrics());
  assert.equal(valueOf(mine, 'dctrl_bus_messages_total', { type: 'bus.ping' }), 1);
  assert.equal(valueOf(parseExposition(await metrics.metrics()), 'dctrl_bus_messages_total', { type: 'bus.ping' }), 3);
  other.stop();
  other.record({
    envelope: { v: 1, id: ulid(), type: 'bus.ping', issuer: 'cli', issuedAt: clock.now(), payload: {}, sig: 'x' },
    topic: 'dctrl/v1/cli/ping',
  });
  assert.equal(valueOf(parseExposition(await other.metrics()), 'dctrl_bus_messages_total', { type: 'bus.ping' }), 1);
});

test('the event log budget alarms and per-issuer drops show as metrics', async () => {
  const logger = await h.client('event-logger');
  await logger.publish(LogAlarm, { level: 'warning', usedBytes: 900, warnBytes: 800, budgetBytes: 1_000 });
  await logger.publish(LogAlarm, { level: 'over-budget', usedBytes: 1_200, warnBytes: 800, budgetBytes: 1_000 });
  const drop = { issuer: 'front-door', bytes: 9_000, firstAt: clock.now(), lastAt: clock.now(), firstId: ulid(), lastId: ulid() };
  await logger.publish(LogDropped, { ...drop, messages: 3 });
  await logger.publish(LogDropped, { ...drop, messages: 4 });
  const samples = await scrapeUntil(
    (samples) => valueOf(samples, 'dctrl_event_log_dropped_total', { issuer: 'front-door' }) === 7,
    'the drops counted',
  );
  assert.equal(valueOf(samples, 'dctrl_event_log_alarms_total', { level: 'warning' }), 1);
  assert.equal(valueOf(samples, 'dctrl_event_log_alarms_total', { level: 'over-budget' }), 1);
  assert.equal(valueOf(samples, 'dctrl_event_log_used_bytes'), 1_200);
  assert.equal(valueOf(samples, 'dctrl_event_log_budget_bytes'), 1_000);
});
