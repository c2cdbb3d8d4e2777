// The Sender over a real outbox (SQLite and PostgreSQL) and a real SMTP server on 127.0.0.1, on a manual clock:
// the rate limit, doubling waits up to the ceiling, give-up and what a retry resets, refusals against temporary
// failures, one mail's failure not stopping the next, oldest due first, and the attempt recorded before the handover.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import type { Config } from '../../src/core/config.js';
import { createIdFactory } from '../../src/core/ids.js';
import { silentLogger } from '../../src/core/logger.js';
import type { OutboxMail } from '../../src/core/messages-mail.js';
import { openDatabase, type DatabaseHandle } from '../../src/core/storage/index.js';
import { smtpDelivery, type Delivery } from '../../src/member-mail/delivery.js';
import { OutboxStore, type StoredMail } from '../../src/member-mail/outbox.js';
import { Sender } from '../../src/member-mail/sender.js';
import { eventually, tempDir, testConfig } from '../helpers/harness.js';
import { startPostgres, type Postgres } from '../helpers/postgres.js';
import { startSmtp, type TestSmtp } from '../helpers/smtp.js';

const SECOND = 1_000;
const MINUTE = 60_000;
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 27, 12);

type MailSettings = Config['memberMail'];

/** Where each test gets a fresh, empty database. */
interface Databases {
  setup(): Promise<void>;
  fresh(): Promise<DatabaseHandle>;
  teardown(): Promise<void>;
}

function sqliteDatabases(): Databases {
  const dir = tempDir('dctrl-sender-');
  let count = 0;
  return {
    setup: () => Promise.resolve(),
    fresh: () => openDatabase({ sqliteFile: join(dir, `outbox-${++count}.db`) }),
    teardown: () => Promise.resolve(),
  };
}

/** One PostgreSQL server for the file, a new database per test. */
function postgresDatabases(): Databases {
  let server: Postgres | undefined;
  return {
    setup: async () => {
      server = await startPostgres();
    },
    fresh: async () => openDatabase({ url: await server!.createDatabase(), sqliteFile: 'unused' }),
    teardown: async () => server?.stop(),
  };
}

interface Rig {
  clock: ManualClock;
  store: OutboxStore;
  sender: Sender;
  changes: OutboxMail[];
  /** Stores a pending mail due at `at` (the clock's time unless given). */
  add: (to: string, subject: string, at?: number) => Promise<StoredMail>;
  get: (id: string) => Promise<StoredMail>;
}

function runSenderCases(name: string, databases: Databases): void {
  describe(`member-mail sender: ${name}`, () => {
    let smtp: TestSmtp;
    let base: MailSettings;
    const open: { database: DatabaseHandle; delivery: Delivery; sender: Sender }[] = [];

    const rig = async (overrides: { maxPerMinute?: number; giveUpAfterHours?: number } = {}): Promise<Rig> => {
      const clock = new ManualClock(T0);
      const settings: MailSettings = {
        ...base,
        giveUpAfterHours: overrides.giveUpAfterHours ?? base.giveUpAfterHours,
        smtp: { ...base.smtp, maxPerMinute: overrides.maxPerMinute ?? base.smtp.maxPerMinute },
      };
      const database = await databases.fresh();
      const store = await OutboxStore.open(database);
      const delivery = smtpDelivery(settings);
      const changes: OutboxMail[] = [];
      const sender = new Sender({
        store,
        delivery,
        clock,
        settings,
        logger: silentLogger,
        onChange: (mail) => changes.push(mail),
      });
      open.push({ database, delivery, sender });
      const newId = createIdFactory(clock);
      const get = async (id: string) => {
        const mail = await store.get(id);
        assert.ok(mail, `mail ${id} is in the outbox`);
        return mail;
      };
      return {
        clock,
        store,
        sender,
        changes,
        get,
        add: async (to, subject, at = clock.now()) => {
          const id = newId();
          const made = await store.add(
            {
              key: `receipt:test:${id}`,
              kind: 'receipt',
              memberId: null,
              to,
              subject,
              text: `${subject}\n`,
              html: `<p>${subject}</p>`,
              attachments: [],
            },
            { id, messageId: `<${id}.receipt@dctrl.example>`, at },
          );
          assert.ok(made);
          return get(id);
        },
      };
    };
    const subjectsReceived = () => smtp.received.map((received) => received.parsed.subject);

    before(async () => {
      await databases.setup();
      smtp = await startSmtp();
      base = testConfig(tempDir(), {
        memberMail: {
          from: 'Dctrl Treasurer <treasurer@dctrl.example>',
          smtp: { host: '127.0.0.1', port: smtp.port, requireTls: false, timeoutMs: 2_000 },
        },
      }).memberMail;
    });

    beforeEach(() => {
      smtp.received.length = 0;
      smtp.dataStarted = 0;
      smtp.recipientRule = () => undefined;
      smtp.holdData = undefined;
    });

    afterEach(async () => {
      for (const { database, delivery, sender } of open.splice(0)) {
        await sender.stop();
        delivery.close();
        await database.close();
      }
    });

    after(async () => {
      await smtp.stop();
      await databases.teardown();
    });

    test('the rate limit: two a minute out of five due, the next round when a slot frees, then two more', async () => {
      const { clock, sender, add } = await rig({ maxPerMinute: 2 });
      for (let n = 1; n <= 5; n += 1) await add(`member${n}@example.org`, `mail ${n}`);
      assert.equal(await sender.sendDue(), 2);
      assert.deepEqual(subjectsReceived(), ['mail 1', 'mail 2']);
      assert.equal(await sender.nextWakeAt(), T0 + MINUTE, 'three are due now, but the next slot frees a minute on');
      clock.advance(MINUTE - 1);
      assert.equal(await sender.sendDue(), 0, 'no slot yet');
      clock.advance(1);
      assert.equal(await sender.sendDue(), 2);
      assert.deepEqual(subjectsReceived(), ['mail 1', 'mail 2', 'mail 3', 'mail 4']);
      assert.equal(await sender.nextWakeAt(), T0 + 2 * MINUTE);
      clock.advance(MINUTE);
      assert.equal(await sender.sendDue(), 1);
      assert.equal(smtp.received.length, 5);
      assert.equal(await sender.nextWakeAt(), null, 'nothing left to send');
    });

    test('a server that is down: attempts after waits of 1, 2, 4, 8 and then 15 minutes, none before their time', async () => {
      const { clock, sender, add, get } = await rig();
      const mail = await add('ada@example.org', 'the receipt');
      await smtp.stop();
      try {
        const gaps: number[] = [];
        let previous = T0;
        assert.equal(await sender.sendDue(), 0);
        for (let attempt = 1; attempt <= 6; attempt += 1) {
          const row = await get(mail.id);
          assert.equal(row.state, 'pending');
          assert.equal(row.attempts, attempt);
          assert.equal(row.lastAttemptAt, previous);
          assert.equal(row.error?.code, 'MEMBER_MAIL_SMTP_UNAVAILABLE');
          const next = row.nextAttemptAt!;
          gaps.push((next - previous) / MINUTE);
          assert.equal(await sender.nextWakeAt(), next);
          clock.set(next - 1);
          assert.equal(await sender.sendDue(), 0);
          assert.equal((await get(mail.id)).attempts, attempt, 'no attempt before its time');
          clock.set(next);
          previous = next;
          if (attempt < 6) assert.equal(await sender.sendDue(), 0);
        }
        assert.deepEqual(gaps, [1, 2, 4, 8, 15, 15]);
      } finally {
        await smtp.restart();
      }
      assert.equal(await sender.sendDue(), 1, 'the server is back at the seventh attempt');
      const sent = await get(mail.id);
      assert.equal(sent.state, 'sent');
      assert.equal(sent.attempts, 7);
      assert.equal(sent.error, null);
      assert.equal(smtp.received.length, 1);
      assert.equal(smtp.received[0]!.parsed.messageId, mail.messageId);
    });

    test('a mail not accepted within giveUpAfterHours is failed with the last error kept, and a retry starts its clock again', async () => {
      const { clock, store, sender, changes, add, get } = await rig({ giveUpAfterHours: 1 });
      const mail = await add('ada@example.org', 'the receipt');
      await smtp.stop();
      try {
        // Attempts at 0, 1, 3, 7, 15, 30, 45 and 60 minutes: at exactly the hour it is still in line.
        assert.equal(await sender.sendDue(), 0);
        for (let next = (await get(mail.id)).nextAttemptAt!; next <= T0 + HOUR; next = (await get(mail.id)).nextAttemptAt!) {
          clock.set(next);
          assert.equal(await sender.sendDue(), 0);
        }
        const waiting = await get(mail.id);
        assert.equal(waiting.state, 'pending');
        assert.equal(waiting.attempts, 8);
        const lastError = waiting.error!.message;
        assert.match(lastError, /not available/);

        clock.set(T0 + HOUR + 1);
        assert.equal(await sender.sendDue(), 0);
        const given = await get(mail.id);
        assert.equal(given.state, 'failed');
        assert.equal(given.nextAttemptAt, null);
        assert.equal(given.attempts, 8, 'given up without another attempt');
        assert.equal(given.error?.code, 'MEMBER_MAIL_GAVE_UP');
        assert.match(given.error?.message ?? '', /not accepted within 1 hour\(s\) of being queued/);
        assert.ok(given.error?.message.endsWith(`; the last try: ${lastError}`), given.error?.message);
        assert.deepEqual(
          changes.filter((change) => change.state === 'failed').map((change) => change.error?.code),
          ['MEMBER_MAIL_GAVE_UP'],
          'the give-up is announced once',
        );
        assert.equal(await sender.nextWakeAt(), null);
        clock.set(T0 + 2 * HOUR);
        assert.equal(await sender.sendDue(), 0);
        assert.equal((await get(mail.id)).attempts, 8, 'a failed mail is not attempted again');

        // Made two hours ago, but retried now: it has a new hour.
        assert.equal(await store.requeue(mail.id, mail.to, clock.now()), true);
        assert.equal(await sender.sendDue(), 0);
        const retried = await get(mail.id);
        assert.equal(retried.state, 'pending', 'not given up at once');
        assert.equal(retried.attempts, 9);
        clock.set(retried.nextAttemptAt!);
      } finally {
        await smtp.restart();
      }
      assert.equal(await sender.sendDue(), 1);
      assert.equal((await get(mail.id)).state, 'sent');
      assert.equal(smtp.received[0]!.parsed.messageId, mail.messageId, 'the same Message-ID after the retry');
    });

    test('a 5xx refusal fails the mail at once; a 4xx waits and goes once the server accepts it', async () => {
      const { clock, sender, add, get } = await rig();
      smtp.recipientRule = (address) =>
        address === 'nobody@example.org'
          ? { code: 550, message: 'No such user here' }
          : address === 'grey@example.org'
            ? { code: 451, message: 'Greylisted, try again later' }
            : undefined;
      const refused = await add('nobody@example.org', 'refused');
      const greylisted = await add('grey@example.org', 'greylisted');
      assert.equal(await sender.sendDue(), 0);

      const failed = await get(refused.id);
      assert.equal(failed.state, 'failed');
      assert.equal(failed.attempts, 1);
      assert.equal(failed.nextAttemptAt, null);
      assert.equal(failed.error?.code, 'MEMBER_MAIL_SMTP_REFUSED');
      assert.match(failed.error?.message ?? '', /550/);
      assert.match(failed.response ?? '', /^550.*No such user here/);

      const waiting = await get(greylisted.id);
      assert.equal(waiting.state, 'pending');
      assert.equal(waiting.error?.code, 'MEMBER_MAIL_SMTP_UNAVAILABLE');
      assert.equal(waiting.nextAttemptAt, T0 + MINUTE);
      assert.match(waiting.response ?? '', /^451/);

      smtp.recipientRule = () => undefined;
      clock.advance(MINUTE);
      assert.equal(await sender.sendDue(), 1);
      assert.equal((await get(greylisted.id)).state, 'sent');
      assert.deepEqual((await get(refused.id)).attempts, 1, 'the refused mail is not tried again on its own');
      assert.deepEqual(subjectsReceived(), ['greylisted']);
    });

    test('one mail refused and one deferred do not hold up the next in the same round', async () => {
      const { sender, add, get } = await rig();
      smtp.recipientRule = (address) =>
        address === 'nobody@example.org'
          ? { code: 550, message: 'No such user here' }
          : address === 'grey@example.org'
            ? { code: 451, message: 'Greylisted' }
            : undefined;
      const refused = await add('nobody@example.org', 'refused');
      const deferred = await add('grey@example.org', 'deferred');
      const fine = await add('ada@example.org', 'fine');
      assert.equal(await sender.sendDue(), 1);
      assert.deepEqual(
        [(await get(refused.id)).state, (await get(deferred.id)).state, (await get(fine.id)).state],
        ['failed', 'pending', 'sent'],
      );
      assert.deepEqual(subjectsReceived(), ['fine']);
    });

    test('mails go oldest due first, whatever order they were made in, and none before its time', async () => {
      const { clock, sender, add, get } = await rig();
      const third = await add('c@example.org', 'third', T0 + 3 * SECOND);
      await add('a@example.org', 'first', T0 + SECOND);
      await add('b@example.org', 'second', T0 + 2 * SECOND);
      const later = await add('d@example.org', 'later', T0 + 10 * SECOND);
      assert.ok(third.id < later.id, 'ids follow the order made');
      clock.set(T0 + 5 * SECOND);
      assert.equal(await sender.sendDue(), 3);
      assert.deepEqual(subjectsReceived(), ['first', 'second', 'third']);
      assert.equal((await get(later.id)).state, 'pending');
      assert.equal(await sender.nextWakeAt(), T0 + 10 * SECOND);
    });

    test('the attempt is recorded before the mail is handed over, and the Message-ID goes with it', async () => {
      const { clock, sender, add, get } = await rig();
      const mail = await add('ada@example.org', 'the receipt');
      let release!: () => void;
      smtp.holdData = new Promise<void>((resolve) => (release = resolve));
      const sending = sender.sendDue();
      await eventually(() => smtp.dataStarted === 1, 'the server to start DATA');
      const during = await get(mail.id);
      assert.equal(during.state, 'sending');
      assert.equal(during.attempts, 1);
      assert.equal(during.lastAttemptAt, clock.now());
      assert.equal(during.nextAttemptAt, null, 'not due again while it is being handed over');
      release();
      assert.equal(await sending, 1);
      const sent = await get(mail.id);
      assert.equal(sent.state, 'sent');
      assert.match(sent.response ?? '', /^250/);
      assert.equal(smtp.received[0]!.parsed.messageId, mail.messageId);
    });

    test('two rounds asked for at once send each mail once', async () => {
      const { sender, add } = await rig();
      for (let n = 1; n <= 3; n += 1) await add(`member${n}@example.org`, `mail ${n}`);
      const rounds = await Promise.all([sender.sendDue(), sender.sendDue(), sender.sendDue()]);
      assert.deepEqual(rounds, [3, 3, 3], 'the later calls join the running round');
      assert.deepEqual(subjectsReceived(), ['mail 1', 'mail 2', 'mail 3']);
    });
  });
}

runSenderCases('SQLite', sqliteDatabases());
runSenderCases('PostgreSQL', postgresDatabases());
