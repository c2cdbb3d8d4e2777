// A real crash between handing a mail to the SMTP server and recording that it went: a sender in a child process
// (crash-child.ts) is killed with SIGKILL while the server holds its answer back, then MemberMail starts on the
// same SQLite file with its neighbours on a real bus. The mail that may have gone is unsure and never resent on
// its own; a retry sends it with the same Message-ID; a mail not yet handed over goes after the restart.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { createBusinessData } from '../../src/business-data/index.js';
import { SimulatedChain } from '../../src/chain-adaptor/index.js';
import { createChainNotifier } from '../../src/chain-notifier/index.js';
import { systemClock } from '../../src/core/clock.js';
import { createIdFactoryAfter } from '../../src/core/ids.js';
import { MailOutbox, MailRetry, type OutboxMail } from '../../src/core/messages-mail.js';
import type { Service } from '../../src/core/service.js';
import { openDatabase, type DatabaseHandle } from '../../src/core/storage/index.js';
import { createMemberData } from '../../src/member-data/index.js';
import { createMemberMail, type MemberMail } from '../../src/member-mail/index.js';
import { OutboxStore, type StoredMail } from '../../src/member-mail/outbox.js';
import { createReporter } from '../../src/reporter/index.js';
import { sqliteFactory } from '../helpers/databases.js';
import { eventually, startHarness, tempDir, type Harness } from '../helpers/harness.js';
import { startRawSmtp, startSmtp, type TestSmtp } from '../helpers/smtp.js';

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
/** The child compiles TypeScript on start; the first connection can take seconds. */
const CHILD_WAIT_MS = 30_000;

interface Child {
  stdout(): string;
  stderr(): string;
  /** SIGKILL, no chance to record anything; resolves once it is gone. */
  kill(): Promise<void>;
}

/** A sender process on the outbox in `sqliteFile`, sending to 127.0.0.1:`port`. */
function startChild(sqliteFile: string, port: number): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, sqliteFile, String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  return {
    stdout: () => out,
    stderr: () => err,
    async kill() {
      child.kill('SIGKILL');
      const signal = await exited;
      assert.equal(signal, 'SIGKILL', `the sender was killed, not finished: ${out}${err}`);
      assert.doesNotMatch(out, /finished/);
    },
  };
}

/** A fresh outbox file holding pending mails to `addresses`, made in this order, a millisecond apart. */
async function outboxWith(addresses: string[]): Promise<{ file: string; mails: StoredMail[] }> {
  const file = join(tempDir('dctrl-crash-'), 'data', 'dctrl.db');
  const database = await openDatabase({ sqliteFile: file });
  const store = await OutboxStore.open(database);
  const newId = createIdFactoryAfter(systemClock, undefined);
  const mails: StoredMail[] = [];
  const at = systemClock.now();
  for (const [index, to] of addresses.entries()) {
    const id = newId();
    await store.add(
      {
        key: `receipt:crash:${id}`,
        kind: 'receipt',
        memberId: null,
        to,
        subject: `Payment received (${to})`,
        text: 'Thank you.\n',
        html: '<p>Thank you.</p>',
        attachments: [],
      },
      { id, messageId: `<${id}.receipt@dctrl.example>`, at: at + index },
    );
    mails.push((await store.get(id))!);
  }
  await database.close();
  return { file, mails };
}

/** The rows as the killed process left them, read straight from the file. */
async function rowsIn(file: string, ids: string[]): Promise<StoredMail[]> {
  const database = await openDatabase({ sqliteFile: file });
  try {
    const store = await OutboxStore.open(database);
    return await Promise.all(ids.map(async (id) => (await store.get(id))!));
  } finally {
    await database.close();
  }
}

describe('member-mail: a crash between handing a mail over and recording it', () => {
  let smtp: TestSmtp;
  let h: Harness;
  const upstreamDatabases = sqliteFactory();
  let upstreamDatabase: DatabaseHandle;
  let services: Service[];
  let cli: BusClient;

  const arrivals = (messageId: string) => smtp.received.filter((received) => received.parsed.messageId === messageId);
  const outboxMail = async (id: string): Promise<OutboxMail> => {
    const { mails } = (await cli.request(MailOutbox, { limit: 200 })) as { mails: OutboxMail[] };
    const mail = mails.find((row) => row.id === id);
    assert.ok(mail, `mail ${id} is in the outbox`);
    return mail;
  };
  /** Polls the outbox until the mail is in `state`. */
  const reaches = async (id: string, state: OutboxMail['state']): Promise<OutboxMail> => {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const mail = await outboxMail(id);
      if (mail.state === state) return mail;
      if (Date.now() > deadline) assert.fail(`mail ${id} stayed ${mail.state}, expected ${state}`);
      await sleep(20);
    }
  };
  /**
   * Holds the server's answer to every message until released, and counts the messages it has read in full: the
   * SMTP helper reads `holdData` once a message's data has ended, so a getter sees exactly that moment. Killing
   * at `dataStarted` instead would race: smtp-server drops a message whose sender dies before its last line.
   */
  const holdAnswers = () => {
    let release!: () => void;
    const hold = new Promise<void>((resolve) => (release = resolve));
    let readInFull = 0;
    Object.defineProperty(smtp, 'holdData', {
      configurable: true,
      get: () => {
        readInFull += 1;
        return hold;
      },
    });
    return {
      readInFull: () => readInFull,
      release: () => {
        Object.defineProperty(smtp, 'holdData', { configurable: true, writable: true, value: undefined });
        release();
      },
    };
  };
  /** MemberMail as `dctrl up` starts it, on the outbox the killed process left. */
  const startMemberMail = async (file: string): Promise<{ service: MemberMail; stop(): Promise<void> }> => {
    const database = await openDatabase({ sqliteFile: file });
    const service = createMemberMail(await h.context('member-mail'), database);
    await service.start();
    return {
      service,
      async stop() {
        await service.stop();
        await database.close();
      },
    };
  };

  before(async () => {
    smtp = await startSmtp();
    h = await startHarness({
      config: {
        memberMail: {
          from: 'Dctrl Treasurer <treasurer@dctrl.example>',
          smtp: { host: '127.0.0.1', port: smtp.port, requireTls: false, timeoutMs: 2_000, maxPerMinute: 1_000 },
          checkIntervalMs: 3_600_000,
        },
      },
    });
    upstreamDatabase = await upstreamDatabases.create();
    for (const client of ['business-data', 'member-data', 'reporter', 'chain-notifier', 'member-mail'])
      h.keeper.ensureClient(client);
    await h.vault.publishChanges();
    services = [
      createBusinessData(await h.context('business-data'), upstreamDatabase),
      createMemberData(await h.context('member-data'), upstreamDatabase),
      createReporter(await h.context('reporter'), upstreamDatabase),
      createChainNotifier(await h.context('chain-notifier'), upstreamDatabase, { adaptor: new SimulatedChain('regtest') }),
    ];
    for (const service of services) await service.start();
    cli = await h.client('cli');
  });

  after(async () => {
    for (const service of [...services].reverse()) await service.stop();
    await h.stop();
    await upstreamDatabase.close();
    await upstreamDatabases.cleanup();
    await smtp.stop();
  });

  test('killed once the server had the whole message, before its answer: unsure, never resent on its own; a retry sends it with the same Message-ID', async () => {
    const { file, mails } = await outboxWith(['ada@example.org']);
    const mail = mails[0]!;
    const hold = holdAnswers();
    const child = startChild(file, smtp.port);
    try {
      await eventually(
        () => hold.readInFull() === 1,
        () => `the server to read the message: ${child.stdout()}${child.stderr()}`,
        CHILD_WAIT_MS,
      );
    } finally {
      await child.kill();
      hold.release();
    }
    // The server answered 250 to a dead connection and keeps the message: it went.
    await eventually(() => arrivals(mail.messageId).length === 1, 'the server to keep the message');
    const [left] = await rowsIn(file, [mail.id]);
    assert.equal(left!.state, 'sending', 'the attempt was recorded before the handover; its end never was');
    assert.equal(left!.attempts, 1);

    const mailer = await startMemberMail(file);
    try {
      await mailer.service.runOnce();
      const unsure = await outboxMail(mail.id);
      assert.equal(unsure.state, 'unsure');
      assert.equal(unsure.error?.code, 'MEMBER_MAIL_INTERRUPTED');
      assert.match(unsure.error?.message ?? '', /Message-ID/);
      assert.equal(unsure.attempts, 1);
      assert.equal(await mailer.service.sendDue(), 0);
      await sleep(1_000);
      await mailer.service.runOnce();
      assert.equal(arrivals(mail.messageId).length, 1, 'not sent a second time on its own');
      assert.equal((await outboxMail(mail.id)).state, 'unsure');

      const retried = (await cli.request(MailRetry, { ids: [mail.id] })) as { retried: string[]; skipped: unknown[] };
      assert.deepEqual(retried, { retried: [mail.id], skipped: [], more: false });
      await eventually(() => arrivals(mail.messageId).length === 2, 'the retried mail');
      const [first, second] = arrivals(mail.messageId);
      assert.equal(second!.parsed.messageId, first!.parsed.messageId, 'the same Message-ID, so the receiver can tell');
      assert.deepEqual(second!.envelope.to, ['ada@example.org']);
      assert.equal((await reaches(mail.id, 'sent')).attempts, 2);
    } finally {
      await mailer.stop();
    }
  });

  test('killed in the middle of a round: the mail being handed over is unsure, the next one (never handed over) goes after the restart', async () => {
    const { file, mails } = await outboxWith(['ken@example.org', 'grace@example.org']);
    const [inFlight, untouched] = mails as [StoredMail, StoredMail];
    const hold = holdAnswers();
    const child = startChild(file, smtp.port);
    try {
      await eventually(
        () => hold.readInFull() === 1,
        () => `the server to read the first message: ${child.stdout()}${child.stderr()}`,
        CHILD_WAIT_MS,
      );
    } finally {
      await child.kill();
      hold.release();
    }
    await eventually(() => arrivals(inFlight.messageId).length === 1, 'the server to keep the first message');
    const left = await rowsIn(file, [inFlight.id, untouched.id]);
    assert.deepEqual(
      left.map((row) => [row.state, row.attempts]),
      [
        ['sending', 1],
        ['pending', 0],
      ],
    );

    const mailer = await startMemberMail(file);
    try {
      await eventually(() => arrivals(untouched.messageId).length === 1, 'the mail not yet handed over, sent after restart');
      await mailer.service.runOnce();
      await reaches(untouched.id, 'sent');
      const unsure = await outboxMail(inFlight.id);
      assert.equal(unsure.state, 'unsure');
      assert.equal(unsure.error?.code, 'MEMBER_MAIL_INTERRUPTED');
      assert.equal(await mailer.service.sendDue(), 0);
      assert.equal(arrivals(inFlight.messageId).length, 1, 'the one that may have gone is not resent');
      assert.equal(arrivals(untouched.messageId).length, 1);
    } finally {
      await mailer.stop();
    }
  });

  test('killed while the server had not even greeted: the attempt was recorded before connecting, so the mail is unsure all the same and goes only when retried', async () => {
    // Nothing of the mail reached a server, but the process cannot know where a crash fell: it records the attempt
    // before it connects, and after a restart treats every interrupted attempt alike (never twice over maybe lost).
    const { file, mails } = await outboxWith(['linus@example.org']);
    const mail = mails[0]!;
    const silent = await startRawSmtp('silent');
    const child = startChild(file, silent.port);
    try {
      await eventually(
        () => silent.connections === 1,
        () => `the sender to connect: ${child.stdout()}${child.stderr()}`,
        CHILD_WAIT_MS,
      );
    } finally {
      await child.kill();
      await silent.stop();
    }
    const [left] = await rowsIn(file, [mail.id]);
    assert.equal(left!.state, 'sending');

    const mailer = await startMemberMail(file);
    try {
      await mailer.service.runOnce();
      assert.equal((await outboxMail(mail.id)).state, 'unsure');
      assert.equal(await mailer.service.sendDue(), 0);
      assert.equal(arrivals(mail.messageId).length, 0);
      const retried = (await cli.request(MailRetry, { ids: [mail.id] })) as { retried: string[] };
      assert.deepEqual(retried.retried, [mail.id]);
      await eventually(() => arrivals(mail.messageId).length === 1, 'the retried mail');
      await reaches(mail.id, 'sent');
    } finally {
      await mailer.stop();
    }
  });
});
