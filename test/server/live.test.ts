// The live feed on a real bus: what each message type may show, and that names, emails, fob hashes and addresses never do.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mqtt from 'mqtt';
import { ulid } from 'ulid';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { ChainInvoice, ChainPayment } from '../../src/core/messages-chain.js';
import {
  BusinessDecision,
  MachineCommand,
  MachineInput,
  MachineStatus,
  MachineTap,
  MachineTopics,
} from '../../src/core/messages-machine.js';
import { doorStatus } from './door-status.js';
import { MailChanged } from '../../src/core/messages-mail.js';
import {
  AuditRejected,
  BalanceChanged,
  MemberChanged,
  MemberCommand,
  MemberStatusChanged,
  Ping,
  RpcReply,
  Topics,
} from '../../src/core/messages.js';
import { createLiveFeed, summarizeMessage, type LiveEvent, type LiveFeed } from '../../src/server/live.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';

const SECRETS = {
  name: 'Ada Lovelace',
  email: 'ada@example.org',
  fobHash: 'a1'.repeat(32),
  address: 'bcrt1qsecretaddressofadaxxxxxxxxxxxxxxxxxxxx',
  txid: 'b2'.repeat(32),
  memo: 'dues of Ada',
  balance: 424_242,
  token: 'eyJsecret.token.value',
};

let h: Harness;
let server: BusClient;
let feed: LiveFeed;
const clients: Record<string, BusClient> = {};
/** Every type the Server's bus client accepted, to show that what the feed leaves out did arrive. */
const heard = new Set<string>();

before(async () => {
  h = await startHarness();
  server = await h.client('server', { extra: { sub: [Topics.everything] } });
  server.onAny(({ envelope }) => void heard.add(envelope.type));
  feed = createLiveFeed({ bus: server, clock: h.clock, bufferSize: 200 });
  await feed.start();
  for (const name of ['member-data', 'front-door', 'business-mgr', 'chain-notifier', 'reporter', 'member-mail', 'cli'])
    clients[name] = await h.client(name);
});
after(async () => {
  feed.stop();
  await h.stop();
});

const member = {
  memberId: 'm-ada',
  name: SECRETS.name,
  email: SECRETS.email,
  tier: 'regular',
  exempt: false,
  status: 'member' as const,
  joinedAt: 1,
  fobs: [{ fobHash: SECRETS.fobHash, lastDigits: '123' }],
  groups: ['keyholders'],
  badges: [],
};

function ledgerEntry() {
  return {
    id: ulid(),
    at: h.clock.now(),
    month: '2026-01',
    kind: 'payment' as const,
    memberId: 'm-ada',
    cents: SECRETS.balance,
    currency: 'CAD',
    method: 'bitcoin' as const,
    sats: 1_000,
    rate: null,
    causedBy: `${SECRETS.txid}:0`,
    dueAt: null,
    detail: { email: SECRETS.email, address: SECRETS.address },
    recordedBy: 'chain-notifier',
  };
}

const byType = (type: string) => feed.recent().filter((event) => event.type === type);

test('every known type shows only its allow-listed fields; no secret reaches the stream', async () => {
  const tapId = ulid();
  await clients['member-data']!.publish(MemberChanged, { eventId: ulid(), event: 'joined', member });
  await clients['front-door']!.publish(MachineTap, {
    device: 'front-door',
    fob: { hash: SECRETS.fobHash, lastDigits: '123' },
    at: h.clock.now(),
    reader: 'simulated',
  });
  await clients['business-mgr']!.publish(BusinessDecision, {
    decisionId: ulid(),
    at: h.clock.now(),
    device: 'front-door',
    kind: 'door',
    via: 'fob',
    allowed: true,
    reason: 'member-active',
    tapId,
    invoiceId: null,
    memberId: 'm-ada',
    fobLastDigits: '123',
    product: null,
    count: 1,
    cents: null,
    outcome: null,
  });
  await clients['chain-notifier']!.publish(ChainPayment, {
    event: 'confirmed',
    txid: SECRETS.txid,
    vout: 0,
    address: SECRETS.address,
    sats: 50_000,
    ownerKind: 'member',
    ownerId: 'm-ada',
    state: 'confirmed',
    confirmations: 3,
    requiredConfirmations: 3,
    blockHeight: 120,
    credited: true,
  });
  await clients['chain-notifier']!.publish(ChainInvoice, {
    id: ulid(),
    state: 'settled',
    previousState: 'processing',
    cents: 500,
    currency: 'CAD',
    sats: 5_000,
    rate: { centsPerBtc: 10_000_000, source: 'fixed:test', at: 1 },
    address: SECRETS.address,
    uri: `bitcoin:${SECRETS.address}?amount=0.00005&message=${encodeURIComponent(SECRETS.memo)}`,
    memberId: 'm-ada',
    product: 'club-mate',
    memo: SECRETS.memo,
    createdAt: 1,
    expiresAt: 2,
    watchUntil: 3,
    settledAt: 2,
    paidSats: 5_000,
    settledSats: 5_000,
    flags: { partial: false, over: false, late: false },
  });
  await clients['reporter']!.publish(BalanceChanged, { memberId: 'm-ada', balanceCents: SECRETS.balance, entry: ledgerEntry() });
  await clients['reporter']!.publish(MemberStatusChanged, {
    memberId: 'm-ada',
    active: false,
    reason: 'dues-overdue',
    balanceCents: SECRETS.balance,
    groups: ['keyholders'],
  });
  await clients['member-mail']!.publish(MailChanged, {
    id: ulid(),
    kind: 'receipt',
    memberId: 'm-ada',
    state: 'sent',
    attempts: 1,
    errorCode: null,
  });
  // A request carries what it asks for (here a new member's name and email), and a reply what it answers.
  await clients['cli']!.publish(
    MemberCommand,
    { action: 'join', name: SECRETS.name, email: SECRETS.email, tier: 'regular' },
    { replyTo: 'dctrl/v1/cli/reply/test', correlationId: 'c-1' },
  );
  await clients['member-data']!.publish(
    RpcReply,
    { ok: true, result: { member, token: SECRETS.token } },
    { topic: 'dctrl/v1/cli/reply/test', correlationId: 'c-1' },
  );
  await clients['cli']!.publish(Ping, { seq: 1, sentAtNs: '0', pad: SECRETS.token });

  const expected = [
    'member-data.changed',
    'machine.tap',
    'business-mgr.decision',
    'chain.payment',
    'chain.invoice',
    'reporter.balance-changed',
    'reporter.status-changed',
    'member-mail.changed',
    'member-data.command',
  ];
  await eventually(
    () => expected.every((type) => byType(type).length > 0) && heard.has('rpc.reply') && heard.has('bus.ping'),
    () =>
      `every type in the feed; have ${feed
        .recent()
        .map((event) => event.type)
        .join(', ')}`,
  );

  const text = JSON.stringify(feed.recent());
  for (const [what, secret] of Object.entries(SECRETS)) {
    assert.ok(!text.includes(String(secret)), `the ${what} never appears in the feed`);
  }
  assert.equal(byType('rpc.reply').length, 0, 'replies are never shown');
  assert.equal(byType('bus.ping').length, 0, 'probes are not news');

  const summaryOf = (type: string) => byType(type)[0]!.summary;
  assert.deepEqual(summaryOf('machine.tap'), { device: 'front-door', lastDigits: '123', reader: 'simulated' });
  assert.deepEqual(summaryOf('business-mgr.decision'), {
    device: 'front-door',
    kind: 'door',
    via: 'fob',
    allowed: true,
    reason: 'member-active',
    memberId: 'm-ada',
    product: null,
    count: 1,
  });
  assert.deepEqual(summaryOf('chain.payment'), { event: 'confirmed', sats: 50_000, confirmations: 3, ownerKind: 'member' });
  assert.deepEqual(summaryOf('member-data.changed'), { memberId: 'm-ada', event: 'joined', status: 'member' });
  assert.deepEqual(summaryOf('reporter.status-changed'), { memberId: 'm-ada', active: false, reason: 'dues-overdue' });
  assert.deepEqual(summaryOf('reporter.balance-changed'), { memberId: 'm-ada', kind: 'payment' });
  assert.deepEqual(summaryOf('member-mail.changed'), { kind: 'receipt', state: 'sent', errorCode: null });
  assert.deepEqual(summaryOf('member-data.command'), {}, 'a type the allow-list does not name shows nothing of its payload');

  const tap = byType('machine.tap')[0]!;
  assert.equal(tap.issuer, 'front-door');
  assert.equal(tap.topic, 'dctrl/v1/front-door/tap');
  assert.match(tap.id, /^[0-9A-Z]{26}$/);
  assert.ok(tap.at <= tap.receivedAt, 'issued before it was heard');
});

test('subscribers get each new event until they unsubscribe', async () => {
  const seen: LiveEvent[] = [];
  const unsubscribe = feed.subscribe((event) => void seen.push(event));
  const door = clients['front-door']!;
  const input = (value: 0 | 1) =>
    door.publish(MachineInput, { device: 'front-door', input: 'contact', kind: 'sensor', value, at: h.clock.now() });
  await input(1);
  await eventually(() => seen.some((event) => event.type === 'machine.input'), 'the input pushed to the subscriber');
  assert.deepEqual(seen.at(-1)!.summary, { device: 'front-door', input: 'contact', kind: 'sensor', value: 1 });
  unsubscribe();
  const count = seen.length;
  await input(0);
  await eventually(() => byType('machine.input').some((event) => event.summary.value === 0), 'the second input buffered');
  assert.equal(seen.length, count, 'nothing after unsubscribing');
});

test('a listener that throws is dropped and does not keep the event from the others', async () => {
  const seen: string[] = [];
  feed.subscribe(() => {
    throw new Error('stream closed');
  });
  const unsubscribe = feed.subscribe((event) => void seen.push(event.type));
  await clients['cli']!.publish(
    MemberCommand,
    { action: 'leave', memberId: 'm-x' },
    { replyTo: 'dctrl/v1/cli/reply/t', correlationId: 'c-2' },
  );
  await clients['cli']!.publish(
    MemberCommand,
    { action: 'leave', memberId: 'm-y' },
    { replyTo: 'dctrl/v1/cli/reply/t', correlationId: 'c-3' },
  );
  await eventually(
    () => seen.filter((type) => type === 'member-data.command').length === 2,
    'both events reached the good listener',
  );
  unsubscribe();
});

test('a heartbeat that says nothing new is not shown again', async () => {
  const status = (mode: 'online' | 'offline') => doorStatus(h.clock.now(), { mode });
  const door = clients['front-door']!;
  await door.publish(MachineStatus, status('online'), { expiresInMs: 60_000 });
  await door.publish(MachineStatus, status('online'), { expiresInMs: 60_000 });
  await door.publish(MachineStatus, status('offline'), { expiresInMs: 60_000 });
  await eventually(() => byType('machine.status').some((event) => event.summary.mode === 'offline'), 'the offline status');
  assert.deepEqual(
    byType('machine.status').map((event) => event.summary.mode),
    ['online', 'offline'],
  );
});

test('the buffer keeps the last N; recent() pages by limit and after an id', async () => {
  const small = createLiveFeed({ bus: server, clock: h.clock, bufferSize: 3 });
  await small.start();
  const door = clients['front-door']!;
  for (let at = 1; at <= 5; at++)
    await door.publish(MachineInput, { device: 'front-door', input: `b${at}`, kind: 'button', value: 1, at });
  await eventually(() => small.recent().some((event) => event.summary.input === 'b5'), 'the fifth input');
  const inputs = small.recent().map((event) => event.summary.input);
  assert.deepEqual(inputs, ['b3', 'b4', 'b5']);
  assert.deepEqual(
    small.recent(1).map((event) => event.summary.input),
    ['b5'],
  );
  const [third] = small.recent();
  assert.deepEqual(
    small.recent(10, third!.id).map((event) => event.summary.input),
    ['b4', 'b5'],
  );
  assert.equal(small.recent(10, 'no-such-id').length, 3, 'an id no longer buffered gives the whole buffer');
  small.stop();
  await door.publish(MachineInput, { device: 'front-door', input: 'b6', kind: 'button', value: 1, at: 6 });
  await eventually(() => byType('machine.input').some((event) => event.summary.input === 'b6'), 'b6 in the other feed');
  assert.ok(!small.recent().some((event) => event.summary.input === 'b6'), 'a stopped feed takes nothing new');
});

test('an audit shows what a client claimed only when it has the form of a code or a type', async () => {
  const audit = (reason: string, claimedType: string) => ({
    reason,
    message: SECRETS.token,
    topic: 'dctrl/v1/x',
    claimedType,
    suppressed: 0,
  });
  await clients['cli']!.publish(AuditRejected, audit('CORE_ENVELOPE_REPLAYED', 'machine.tap'));
  await clients['cli']!.publish(AuditRejected, audit(`pw ${SECRETS.token}`, `hunter2 ${SECRETS.email}`));
  await eventually(() => byType('audit.rejected').length === 2, 'both audits');
  assert.deepEqual(
    byType('audit.rejected').map((event) => event.summary),
    [
      { reason: 'CORE_ENVELOPE_REPLAYED', claimedType: 'machine.tap', suppressed: 0 },
      { reason: null, claimedType: null, suppressed: 0 },
    ],
  );
});

test('private and reply topics are never summarized, whatever their type', () => {
  const envelope = {
    v: 1,
    id: ulid(),
    type: 'machine.tap',
    issuer: 'front-door',
    issuedAt: 1,
    payload: { device: 'front-door', fob: { hash: SECRETS.fobHash, lastDigits: '123' }, at: 1, reader: 'simulated' },
    sig: 'x',
  };
  assert.equal(summarizeMessage(envelope as never, 'dctrl/private/server/reply/abc', 2), null);
  assert.equal(summarizeMessage(envelope as never, 'dctrl/v1/server/reply/abc', 2), null);
  assert.equal(summarizeMessage({ ...envelope, type: 'rpc.private-reply' } as never, 'dctrl/v1/x/tap', 2), null);
  assert.equal(summarizeMessage(envelope as never, 'dctrl/v1/front-door/tap', 2)!.summary.lastDigits, '123');
});

test('decisions, mail events and commands are sealed: a subscriber to everything learns no member, reason or tap', async () => {
  const overheard: string[] = [];
  const eve = await mqtt.connectAsync(h.brokerUrl, {
    clientId: `eve:${ulid()}`,
    username: 'eve',
    password: (await h.credentials('eve', { sub: [Topics.everything] })).token,
    reconnectPeriod: 0,
  });
  eve.on('message', (_topic, bytes) => void overheard.push(bytes.toString('utf8')));
  await eve.subscribeAsync(Topics.everything, { qos: 1 });
  try {
    const tapId = ulid();
    const decisionId = ulid();
    await clients['business-mgr']!.publish(BusinessDecision, {
      decisionId,
      at: h.clock.now(),
      device: 'front-door',
      kind: 'door',
      via: 'fob',
      allowed: false,
      reason: 'insufficient-balance',
      tapId,
      invoiceId: null,
      memberId: 'm-arrears',
      fobLastDigits: '987',
      product: null,
      count: 1,
      cents: null,
      outcome: null,
    });
    await clients['member-mail']!.publish(MailChanged, {
      id: ulid(),
      kind: 'deactivation',
      memberId: 'm-arrears',
      state: 'sent',
      attempts: 1,
      errorCode: null,
    });
    await clients['business-mgr']!.publish(
      MachineCommand,
      { device: 'front-door', action: 'deny', count: 1, tapId, decisionId, reason: 'insufficient-balance' },
      { topic: MachineTopics.command('front-door') },
    );
    // The Server still reads what it shows.
    await eventually(
      () =>
        feed.recent().some((event) => event.type === 'business-mgr.decision' && event.summary['memberId'] === 'm-arrears') &&
        feed.recent().some((event) => event.type === 'member-mail.changed' && event.summary['kind'] === 'deactivation'),
      'the decision and the mail event in the Server’s feed',
    );
    await eventually(() => overheard.some((raw) => raw.includes('"machine.command"')), 'the command on the wire');
    const wire = overheard.filter((raw) => /business-mgr\.decision|member-mail\.changed|machine\.command/.test(raw));
    assert.equal(wire.length, 3, 'the eavesdropper heard all three');
    for (const secret of ['m-arrears', 'insufficient-balance', 'deactivation', tapId, '987']) {
      assert.ok(!wire.some((raw) => raw.includes(secret)), `${secret} is not readable on the wire`);
    }
  } finally {
    await eve.endAsync();
  }
});
