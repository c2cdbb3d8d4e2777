// MemberMail on the bus with the real BusinessData, MemberData, Reporter and ChainNotifier, sending to a real SMTP
// server on 127.0.0.1, on SQLite or PostgreSQL: welcome, receipts, statements on the 1st, reminders and notices,
// each exactly once, through downtime, a mail server down for an hour, refusals and bad addresses.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import { DateTime } from 'luxon';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { createBusinessData } from '../../src/business-data/index.js';
import { SimulatedChain } from '../../src/chain-adaptor/index.js';
import { createChainNotifier } from '../../src/chain-notifier/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { DctrlError } from '../../src/core/errors.js';
import { DepositAddress } from '../../src/core/messages-chain.js';
import { MailOutbox, MailPreview, MailRetry, MailRun, type OutboxMail } from '../../src/core/messages-mail.js';
import { LedgerRecord, MemberCommand, ReporterRun, SettingSet } from '../../src/core/messages.js';
import type { Service, ServiceContext } from '../../src/core/service.js';
import type { DatabaseHandle } from '../../src/core/storage/index.js';
import { createMemberData } from '../../src/member-data/index.js';
import { createMemberMail, type MemberMail } from '../../src/member-mail/index.js';
import { createReporter } from '../../src/reporter/index.js';
import type { DatabaseFactory } from '../helpers/databases.js';
import { eventually, startHarness, tempDir, type Harness } from '../helpers/harness.js';
import { startSmtp, type ReceivedMail, type TestSmtp } from '../helpers/smtp.js';

const ZONE = 'America/Vancouver';
const local = (iso: string) => DateTime.fromISO(iso, { zone: ZONE }).toMillis();
const MINUTE = 60_000;
const WEEK = 7 * 86_400;

type Outbox = { mails: OutboxMail[]; counts: Record<string, number>; next: string | null };

export function runMemberMailCases(name: string, factory: DatabaseFactory): void {
  describe(`member-mail: ${name}`, () => {
    const clock = new ManualClock(local('2026-10-30T10:00'));
    let smtp: TestSmtp;
    let h: Harness;
    let database: DatabaseHandle;
    let services: Service[];
    let mail: MemberMail | undefined;
    let cli: BusClient;
    const ids: Record<string, string> = {};

    const startMail = async (context?: ServiceContext): Promise<MemberMail> => {
      const service = createMemberMail(context ?? (await h.context('member-mail')), database);
      await service.start();
      mail = service;
      return service;
    };
    const stopMail = async () => {
      await mail?.stop();
      mail = undefined;
    };
    const joinMember = async (key: string, name: string, email: string) => {
      const reply = (await cli.request(MemberCommand, { action: 'join', name, email, tier: 'member' })) as {
        member: { memberId: string };
      };
      ids[key] = reply.member.memberId;
      return reply.member.memberId;
    };
    const pay = async (memberId: string, cents: number, causedBy: string) =>
      cli.request(LedgerRecord, { kind: 'payment', memberId, cents, method: 'cash', causedBy });
    const outbox = async (query: Record<string, unknown> = {}) => (await cli.request(MailOutbox, query)) as Outbox;
    const mailsTo = (address: string) => smtp.received.filter((received) => received.envelope.to.includes(address));
    const subjects = (address: string) => mailsTo(address).map((received) => received.parsed.subject ?? '');
    const arrived = async (address: string, count: number, what: string): Promise<ReceivedMail[]> => {
      await eventually(
        () => mailsTo(address).length >= count,
        () => `${what}: ${count} mails to ${address}, have ${JSON.stringify(subjects(address))}`,
        10_000,
      );
      return mailsTo(address);
    };
    /** Lets the service's bus-event wakes run, then one full round. */
    const settle = async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      await mail!.runOnce();
    };
    const refusal = async (promise: Promise<unknown>): Promise<DctrlError> => {
      try {
        await promise;
      } catch (error) {
        assert.ok(error instanceof DctrlError, String(error));
        return error;
      }
      assert.fail('expected a refusal');
    };

    before(async () => {
      smtp = await startSmtp();
      h = await startHarness({
        clock,
        config: {
          memberMail: {
            from: 'Dctrl Treasurer <treasurer@dctrl.example>',
            smtp: { host: '127.0.0.1', port: smtp.port, requireTls: false, timeoutMs: 2_000, maxPerMinute: 1_000 },
            checkIntervalMs: 3_600_000,
            reminderDaysBeforeGraceEnd: 2,
          },
          vault: { tokenTtlSeconds: WEEK, directoryTtlSeconds: WEEK },
        },
      });
      database = await factory.create();
      for (const client of ['business-data', 'member-data', 'reporter', 'chain-notifier', 'member-mail'])
        h.keeper.ensureClient(client);
      await h.vault.publishChanges();
      services = [
        createBusinessData(await h.context('business-data'), database),
        createMemberData(await h.context('member-data'), database),
        createReporter(await h.context('reporter'), database),
        createChainNotifier(await h.context('chain-notifier'), database, { adaptor: new SimulatedChain('regtest') }),
      ];
      for (const service of services) await service.start();
      cli = await h.client('cli');
      // A short grace, so the month's dues, the reminder and the lapse fit in the tokens' week.
      await cli.request(SettingSet, { kind: 'policy', key: 'graceDays', value: 3 });
      await startMail();
    });

    after(async () => {
      await stopMail();
      for (const service of [...services].reverse()) await service.stop();
      await h.stop();
      await database.close();
      await factory.cleanup();
      await smtp.stop();
    });

    test('a new member gets a welcome mail with how to pay, their deposit address and its QR code', async () => {
      const ada = await joinMember('ada', 'Ada Lovelace', 'ada@example.org');
      const [welcome] = await arrived('ada@example.org', 1, 'the welcome');
      const deposit = (await cli.request(DepositAddress, { memberId: ada })) as { address: string; uri: string };
      const parsed = welcome!.parsed;
      assert.match(parsed.subject ?? '', /Welcome to dctrl, Ada Lovelace/);
      assert.equal(parsed.from?.value[0]?.address, 'treasurer@dctrl.example');
      assert.match(parsed.messageId ?? '', /^<[0-9A-Z]{26}\.welcome@dctrl\.example>$/);
      assert.ok(parsed.text?.includes(deposit.address), 'the deposit address is in the text');
      assert.ok(String(parsed.html).includes('75.00 CAD'), 'the dues are in the HTML');
      const qr = parsed.attachments.find((attachment) => attachment.contentType === 'image/png');
      assert.ok(qr?.cid, 'the QR code is inline');
      const listed = await outbox({ memberId: ada });
      assert.deepEqual(
        listed.mails.map((row) => [row.kind, row.state, row.attempts]),
        [['welcome', 'sent', 1]],
      );
      assert.match(listed.mails[0]!.response ?? '', /^250/);
    });

    test('a payment brings one receipt with the balance after it', async () => {
      await pay(ids.ada!, 7_500, 'receipt-1');
      const received = await arrived('ada@example.org', 2, 'the receipt');
      const receipt = received[1]!.parsed;
      assert.match(receipt.subject ?? '', /75\.00 CAD/);
      assert.match(receipt.text ?? '', /cash/i);
      await settle();
      assert.equal(mailsTo('ada@example.org').length, 2, 'one receipt, not two');
    });

    test('what happened while MemberMail was down is mailed when it is back, once', async () => {
      await stopMail();
      const ken = await joinMember('ken', 'Ken Thompson', 'ken@example.org');
      await pay(ken, 30_000, 'receipt-ken');
      assert.equal(mailsTo('ken@example.org').length, 0);
      await startMail();
      const received = await arrived('ken@example.org', 2, 'the welcome and receipt made after downtime');
      assert.deepEqual(received.map((item) => /Welcome/.test(item.parsed.subject ?? '')).sort(), [false, true]);
      await settle();
      await stopMail();
      await startMail();
      await settle();
      assert.equal(mailsTo('ken@example.org').length, 2, 'nothing made twice across restarts');
    });

    test('a member without a valid address: the mail is kept as failed, then goes once the address is fixed and retried', async () => {
      const grace = await joinMember('grace', 'Grace Hopper', 'grace@example.org');
      await arrived('grace@example.org', 1, 'the welcome');
      // Data from before MemberData checked addresses: the member's email is empty.
      const db = database.db as Kysely<{ member_data_members: { member_id: string; state: string } }>;
      const row = await db
        .selectFrom('member_data_members')
        .select('state')
        .where('member_id', '=', grace)
        .executeTakeFirstOrThrow();
      const state = JSON.parse(row.state) as Record<string, unknown>;
      await db
        .updateTable('member_data_members')
        .set({ state: JSON.stringify({ ...state, email: '' }) })
        .where('member_id', '=', grace)
        .execute();
      await pay(grace, 2_000, 'receipt-grace');
      await settle();
      const failed = (await outbox({ memberId: grace, state: 'failed' })).mails;
      assert.equal(failed.length, 1);
      assert.equal(failed[0]!.kind, 'receipt');
      assert.equal(failed[0]!.error?.code, 'MEMBER_MAIL_NO_ADDRESS');
      assert.match(failed[0]!.error?.message ?? '', /no email address/);
      const early = (await cli.request(MailRetry, { ids: [failed[0]!.id] })) as {
        retried: string[];
        skipped: { reason: string }[];
      };
      assert.deepEqual(early.retried, []);
      assert.match(early.skipped[0]!.reason, /^MEMBER_MAIL_NO_ADDRESS/, 'not put back in line to an address that is none');
      await cli.request(MemberCommand, { action: 'change-email', memberId: grace, email: 'grace.hopper@example.org' });
      const retried = (await cli.request(MailRetry, { ids: [failed[0]!.id] })) as { retried: string[] };
      assert.deepEqual(retried.retried, [failed[0]!.id]);
      const [receipt] = await arrived('grace.hopper@example.org', 1, 'the retried receipt');
      assert.match(receipt!.parsed.subject ?? '', /20\.00 CAD/);
      assert.equal(receipt!.parsed.messageId, failed[0]!.messageId, 'a retry keeps the Message-ID');
    });

    test('a recipient the server refuses for good is failed with the server’s answer, and a retry sends it', async () => {
      smtp.recipientRule = (address) => (address === 'linus@example.org' ? { code: 550, message: 'No such user' } : undefined);
      const linus = await joinMember('linus', 'Linus T', 'linus@example.org');
      await settle();
      const [failed] = (await outbox({ memberId: linus })).mails;
      assert.equal(failed?.state, 'failed');
      assert.equal(failed?.error?.code, 'MEMBER_MAIL_SMTP_REFUSED');
      assert.match(failed?.error?.message ?? '', /550/);
      await mail!.sendDue();
      assert.equal((await outbox({ memberId: linus })).mails[0]!.attempts, 1, 'not retried on its own');
      smtp.recipientRule = () => undefined;
      const retried = (await cli.request(MailRetry, { allFailed: true })) as { retried: string[] };
      assert.ok(retried.retried.includes(failed.id));
      await arrived('linus@example.org', 1, 'the retried welcome');
    });

    test('an SMTP server down for an hour: the mail waits with growing gaps, then goes', async () => {
      await smtp.stop();
      const before = mailsTo('ada@example.org').length;
      await pay(ids.ada!, 1_000, 'receipt-outage');
      await settle();
      let [waiting] = (await outbox({ memberId: ids.ada!, kind: 'receipt' })).mails;
      assert.equal(waiting?.state, 'pending');
      assert.equal(waiting?.error?.code, 'MEMBER_MAIL_SMTP_UNAVAILABLE');
      for (let minute = 0; minute < 60; minute += 5) {
        clock.advance(5 * MINUTE);
        await mail!.sendDue();
      }
      [waiting] = (await outbox({ memberId: ids.ada!, kind: 'receipt' })).mails;
      assert.equal(waiting?.state, 'pending');
      // Waits of 1, 2, 4, 8 and 15 minutes: six tries in the hour, not sixty.
      assert.ok(waiting.attempts >= 4 && waiting.attempts <= 7, `attempts ${waiting.attempts}`);
      await smtp.restart();
      clock.advance(15 * MINUTE);
      await mail!.sendDue();
      const received = await arrived('ada@example.org', before + 1, 'the receipt after the outage');
      assert.match(received.at(-1)!.parsed.subject ?? '', /10\.00 CAD/);
      assert.equal((await outbox({ memberId: ids.ada!, kind: 'receipt' })).mails[0]!.state, 'sent');
    });

    test('on the 1st each member gets the statement of the month just ended, once, however often the job runs', async () => {
      clock.set(local('2026-11-01T09:30'));
      await cli.request(ReporterRun, { action: 'dues' });
      await settle();
      for (const address of ['ada@example.org', 'ken@example.org', 'grace.hopper@example.org', 'linus@example.org']) {
        const statements = mailsTo(address).filter((received) => /October 2026/.test(received.parsed.subject ?? ''));
        assert.equal(statements.length, 1, `${address}: ${JSON.stringify(subjects(address))}`);
      }
      const adaStatement = mailsTo('ada@example.org').find((received) => /October 2026/.test(received.parsed.subject ?? ''))!;
      assert.match(adaStatement.parsed.text ?? '', /Payment/);
      assert.ok(adaStatement.parsed.attachments.some((attachment) => attachment.contentType === 'image/png'));
      const total = smtp.received.length;
      const again = (await cli.request(MailRun, { job: 'statements' })) as { made: number; alreadyMade: number };
      assert.deepEqual(again, { job: 'statements', month: '2026-10', made: 0, alreadyMade: 4, skipped: 0 });
      await mail!.runOnce();
      await mail!.sendDue();
      assert.equal(smtp.received.length, total, 'the second run sent nothing');
    });

    test('members still owing get a reminder before grace ends, and one notice when they are deactivated', async () => {
      // November's dues (75.00) were charged on the 1st and grace ends with the 3rd: Ada and Ken paid ahead,
      // Grace paid part, Linus nothing.
      const dueMails = (address: string, pattern: RegExp) =>
        subjects(address).filter((subject) => pattern.test(subject) && !/October/.test(subject));
      const reminder = /reminder/i;
      clock.set(local('2026-11-01T12:00'));
      await settle();
      assert.equal(dueMails('linus@example.org', reminder).length, 0, 'too early for a reminder');
      clock.set(local('2026-11-02T08:00'));
      await settle();
      await eventually(() => dueMails('linus@example.org', reminder).length === 1, 'Linus’s reminder');
      await eventually(() => dueMails('grace.hopper@example.org', reminder).length === 1, 'Grace’s reminder');
      const [linusReminder] = mailsTo('linus@example.org').filter((received) => reminder.test(received.parsed.subject ?? ''));
      assert.match(linusReminder!.parsed.subject ?? '', /75\.00 CAD/);
      assert.match(linusReminder!.parsed.text ?? '', /ends with 3 November 2026/);
      assert.equal(dueMails('ada@example.org', reminder).length, 0, 'Ada paid ahead');
      assert.equal(dueMails('ken@example.org', reminder).length, 0, 'Ken paid ahead');
      await settle();
      assert.equal(dueMails('linus@example.org', reminder).length, 1, 'one reminder');

      clock.set(local('2026-11-04T01:00'));
      await cli.request(ReporterRun, { action: 'dues' });
      await settle();
      const paused = /paused/i;
      await eventually(() => dueMails('linus@example.org', paused).length === 1, 'Linus’s notice');
      await eventually(() => dueMails('grace.hopper@example.org', paused).length === 1, 'Grace’s notice');
      await cli.request(ReporterRun, { action: 'dues' });
      await settle();
      assert.equal(dueMails('linus@example.org', paused).length, 1, 'one notice for one lapse');
      assert.deepEqual(
        (await outbox({ memberId: ids.linus!, kind: 'deactivation' })).mails.map((row) => row.state),
        ['sent'],
      );
      assert.equal((await outbox({ memberId: ids.ada!, kind: 'deactivation' })).mails.length, 0);
    });

    test('a preview renders a template for a member without sending it', async () => {
      const count = smtp.received.length;
      const preview = (await cli.request(MailPreview, { kind: 'statement', memberId: ids.ada! })) as {
        to: string;
        subject: string;
        text: string;
        html: string;
        attachments: { contentType: string; bytes: number }[];
      };
      assert.equal(preview.to, 'ada@example.org');
      assert.match(preview.subject, /October 2026/);
      assert.match(preview.text, /Ada Lovelace/);
      assert.match(preview.html, /<html/i);
      assert.ok(preview.attachments[0]!.bytes > 100);
      assert.equal(smtp.received.length, count);
      const unknown = await refusal(cli.request(MailPreview, { kind: 'welcome', memberId: 'NOBODY' }));
      assert.equal(unknown.code, 'MEMBER_MAIL_UNKNOWN_MEMBER');
    });

    test('only operators may read the outbox, retry, preview or run jobs', async () => {
      const other = await h.client('door-tool', { extra: { pub: ['dctrl/v1/member-mail/rpc/#'] } });
      const refused = await refusal(other.request(MailOutbox, {}));
      assert.equal(refused.code, 'AUTH_PROXY_ASKER_NOT_ALLOWED');
      const listed = await outbox({ limit: 3 });
      assert.equal(listed.mails.length, 3);
      assert.ok(listed.next);
      const older = await outbox({ limit: 3, before: listed.next });
      assert.ok(
        older.mails.every((row) => row.id < listed.next!),
        'the next page is older',
      );
      assert.ok(listed.counts.sent! > 5);
    });

    test('a template with a variable its mail does not have fails at preview and stops MemberMail at start', async () => {
      const dir = tempDir('dctrl-templates-');
      mkdirSync(join(dir, 'welcome'), { recursive: true });
      writeFileSync(join(dir, 'welcome', 'html.hbs'), '<p>Hello {{member.name}}</p>');
      const base = await h.context('member-mail');
      const context: ServiceContext = {
        ...base,
        config: { ...base.config, memberMail: { ...base.config.memberMail, templatesDir: dir } },
      };
      await stopMail();
      await startMail(context);
      const good = (await cli.request(MailPreview, { kind: 'welcome', memberId: ids.ada! })) as { html: string };
      assert.equal(good.html, '<p>Hello Ada Lovelace</p>');
      writeFileSync(join(dir, 'welcome', 'html.hbs'), '<p>Hello {{member.nickname}}</p>');
      const atPreview = await refusal(cli.request(MailPreview, { kind: 'welcome', memberId: ids.ada! }));
      assert.equal(atPreview.code, 'MEMBER_MAIL_TEMPLATE_INVALID');
      assert.match(atPreview.message, /welcome\/html\.hbs/);
      assert.match(atPreview.message, /nickname/);
      await stopMail();
      const broken = createMemberMail(context, database);
      const atStart = await refusal(broken.start());
      assert.equal(atStart.code, 'MEMBER_MAIL_TEMPLATE_INVALID');
      assert.match(atStart.message, /nickname/);
      await broken.stop();
      await startMail();
    });
  });
}
