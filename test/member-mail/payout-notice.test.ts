// The payout notice: a payout to a member, confirmed and booked by PayoutMgr, brings that member one mail through a
// real SMTP server on 127.0.0.1, with the amount, the reason and the transaction; again after a restart, never twice.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { base64 } from '@scure/base';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { SimulatedChain } from '../../src/chain-adaptor/index.js';
import { createChainNotifier } from '../../src/chain-notifier/index.js';
import { addressFromScript, NETWORKS, parseAddress } from '../../src/core/bitcoin/index.js';
import { LedgerRecord, MemberCommand } from '../../src/core/messages.js';
import {
  PayoutRequest,
  PayoutWallet,
  PsbtBroadcast,
  PsbtBuild,
  PsbtImport,
  type PayoutRecord,
  type PsbtSummary,
} from '../../src/core/messages-payout.js';
import { MailOutbox, type OutboxMail } from '../../src/core/messages-mail.js';
import { createMemberMail, type MemberMail } from '../../src/member-mail/index.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';
import { startSmtp, type TestSmtp } from '../helpers/smtp.js';
import { testDescriptor } from '../chain-notifier/watcher-cases.js';
import { payoutConfig, startPayoutHub, type PayoutHub } from '../payout-mgr/hub.js';
import { signWithScure } from '../payout-mgr/keys.js';
import { enrollApprovers, signedDecision } from '../payout-mgr/approvers.js';

const chain = new SimulatedChain('regtest');
const PAYEE = addressFromScript(Uint8Array.from([0x00, 0x14, ...new Uint8Array(20).fill(0x77)]), NETWORKS.regtest);
let smtp: TestSmtp;
let h: Harness;
let hub: PayoutHub;
let mail: MemberMail;
let cli: BusClient;
let ada: string;

const outbox = async () => ((await cli.request(MailOutbox, { kind: 'payout' })) as { mails: OutboxMail[] }).mails;

before(async () => {
  smtp = await startSmtp();
  h = await startHarness({
    config: {
      ...payoutConfig(),
      chainNotifier: { depositDescriptor: testDescriptor().text, pollMs: 3_600_000 },
      memberMail: {
        from: 'Dctrl Treasurer <treasurer@dctrl.example>',
        smtp: { host: '127.0.0.1', port: smtp.port, requireTls: false, timeoutMs: 2_000, maxPerMinute: 1_000 },
        checkIntervalMs: 3_600_000,
      },
      // The command line may book a payout here, to make an entry PayoutMgr does not know.
      reporter: { checkIntervalMs: 3_600_000, ledgerWriters: { cli: ['payment', 'payout'], 'payout-mgr': ['payout'] } },
    },
  });
  hub = await startPayoutHub(h, chain);
  h.keeper.ensureClient('chain-notifier');
  h.keeper.ensureClient('member-mail');
  await h.vault.publishChanges();
  const notifier = createChainNotifier(await h.context('chain-notifier'), hub.database, {
    adaptor: new SimulatedChain('regtest'),
  });
  await notifier.start();
  hub.services.push(notifier);
  cli = await h.client('cli');
  await enrollApprovers(cli, ['alice', 'bob']);
  mail = createMemberMail(await h.context('member-mail'), hub.database);
  await mail.start();
  const joined = (await cli.request(MemberCommand, {
    action: 'join',
    name: 'Ada Lovelace',
    email: 'ada@example.org',
    tier: 'member',
  })) as {
    member: { memberId: string };
  };
  ada = joined.member.memberId;
  const { receiveAddress } = (await cli.request(PayoutWallet, { newAddress: true })) as { receiveAddress: string };
  chain.send([{ script: parseAddress(receiveAddress, NETWORKS.regtest).script, value: 1_000_000 }]);
  chain.mine(1);
  await hub.payouts.follow();
});
after(async () => {
  await mail?.stop();
  await hub?.stop();
  await h?.stop();
  await smtp?.stop();
});

test('a confirmed payout to a member brings them one notice with the amount, the reason and the transaction', async () => {
  const asked = (await cli.request(PayoutRequest, {
    address: PAYEE,
    cents: 4_250,
    reason: 'reimburse: soldering tips',
    requester: 'Ada Lovelace',
    memberId: ada,
  })) as PayoutRecord;
  await signedDecision(cli, asked.id, 'alice');
  await signedDecision(cli, asked.id, 'bob');
  let psbt = (await cli.request(PsbtBuild, {})) as PsbtSummary;
  for (const k of [0, 1]) {
    const signed = base64.encode(signWithScure(base64.decode(psbt.base64), k));
    psbt = ((await cli.request(PsbtImport, { psbtId: psbt.id, psbt: signed })) as { psbt: PsbtSummary }).psbt;
  }
  await cli.request(PsbtBroadcast, { psbtId: psbt.id });
  await mail.runOnce();
  assert.equal((await outbox()).length, 0, 'no notice before the payout is confirmed');

  chain.mine(2);
  await hub.payouts.follow();
  await mail.runOnce();
  await eventually(() => smtp.received.some((received) => /42\.50/.test(received.parsed.subject ?? '')), 'the payout notice');
  const notice = smtp.received.find((received) => /42\.50/.test(received.parsed.subject ?? ''))!;
  assert.deepEqual(notice.envelope.to, ['ada@example.org']);
  assert.match(notice.parsed.text ?? '', /reimburse: soldering tips/);
  assert.ok(notice.parsed.text?.includes(psbt.txid), 'the transaction is named');
  assert.ok(notice.parsed.text?.includes(PAYEE), 'the address paid is named');

  // Run again, and after a restart: still one notice.
  await mail.runOnce();
  await mail.stop();
  mail = createMemberMail(await h.context('member-mail'), hub.database);
  await mail.start();
  await mail.runOnce();
  const notices = await outbox();
  assert.equal(notices.length, 1);
  assert.equal(notices[0]!.memberId, ada);
  assert.equal(smtp.received.filter((received) => /42\.50/.test(received.parsed.subject ?? '')).length, 1);
});

test('a booked payout PayoutMgr does not know brings no notice and holds up no receipt after it', async () => {
  const rate = { centsPerBtc: 13_500_000, source: 'test', at: Date.now() };
  await cli.request(LedgerRecord, {
    kind: 'payout',
    cents: 1_350,
    sats: 10_000,
    rate,
    causedBy: `payout:${'0'.repeat(10)}ZZZZZZZZZZZZZZZZ`,
  });
  await cli.request(LedgerRecord, { kind: 'payment', memberId: ada, cents: 2_000, method: 'cash', causedBy: 'receipt-after' });
  await mail.runOnce();
  await eventually(
    () =>
      smtp.received.some(
        (received) => /receipt|20\.00/i.test(received.parsed.subject ?? '') && received.envelope.to.includes('ada@example.org'),
      ),
    'the receipt after the unknown payout',
  );
  assert.equal((await outbox()).length, 1, 'still only the one payout notice');
});
