// How a mail leaves, against a real SMTP server on 127.0.0.1: headers, bodies and the inline QR code arrive;
// STARTTLS and login work; refusals fail for good, 4xx, silence and a dropped connection fail for now.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import type { ConfigInput } from '../../src/core/config.js';
import { classify, dropDelivery, smtpDelivery } from '../../src/member-mail/delivery.js';
import type { StoredMail } from '../../src/member-mail/outbox.js';
import { tempDir, testConfig } from '../helpers/harness.js';
import { startRawSmtp, startSmtp, type TestSmtp } from '../helpers/smtp.js';

const PNG_1x1 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

function mail(fields: Partial<StoredMail> = {}): StoredMail {
  return {
    id: '01KQ0000000000000000000000',
    key: 'welcome:M1:E1',
    kind: 'welcome',
    memberId: 'M1',
    to: 'ada@example.org',
    subject: 'Welcome to dctrl, Ada',
    state: 'sending',
    attempts: 1,
    createdAt: Date.UTC(2026, 10, 27, 12),
    nextAttemptAt: null,
    lastAttemptAt: null,
    sentAt: null,
    messageId: '<01KQ0000000000000000000000.welcome@dctrl.example>',
    error: null,
    response: null,
    text: 'Hello Ada,\nwelcome. Pay to bcrt1qexample.\n',
    html: '<p>Hello Ada, welcome.</p><img src="cid:deposit-qr@dctrl">',
    attachments: [{ filename: 'deposit-address.png', contentType: 'image/png', cid: 'deposit-qr@dctrl', contentBase64: PNG_1x1 }],
    ...fields,
  };
}

function settings(smtp: NonNullable<NonNullable<ConfigInput['memberMail']>['smtp']>) {
  return testConfig(tempDir(), {
    memberMail: { from: 'Dctrl Treasurer <treasurer@dctrl.example>', replyTo: 'board@dctrl.example', smtp },
  }).memberMail;
}

describe('member-mail delivery over SMTP', () => {
  const servers: { stop(): Promise<void> }[] = [];
  after(async () => {
    for (const server of servers) await server.stop();
  });
  const smtpServer = async (options: Parameters<typeof startSmtp>[0] = {}): Promise<TestSmtp> => {
    const server = await startSmtp(options);
    servers.push(server);
    return server;
  };

  test('a mail arrives with its headers, both bodies and the inline QR code', async () => {
    const server = await smtpServer();
    const delivery = smtpDelivery(settings({ host: '127.0.0.1', port: server.port, requireTls: false }));
    const outcome = await delivery.deliver(mail());
    delivery.close();
    assert.equal(outcome.sent, true);
    assert.equal(server.received.length, 1);
    const [received] = server.received;
    assert.deepEqual(received!.envelope, { from: 'treasurer@dctrl.example', to: ['ada@example.org'] });
    const parsed = received!.parsed;
    assert.equal(parsed.subject, 'Welcome to dctrl, Ada');
    assert.equal(parsed.messageId, '<01KQ0000000000000000000000.welcome@dctrl.example>');
    assert.equal(parsed.headers.get('auto-submitted'), 'auto-generated');
    assert.deepEqual(
      parsed.replyTo?.value.map((address) => address.address),
      ['board@dctrl.example'],
    );
    assert.equal(parsed.date?.getTime(), Date.UTC(2026, 10, 27, 12));
    assert.match(parsed.text ?? '', /Pay to bcrt1qexample/);
    assert.match(received!.raw.toString('latin1'), /src=3D"cid:deposit-qr@dctrl"|src="cid:deposit-qr@dctrl"/);
    const qr = parsed.attachments.find((attachment) => attachment.cid === 'deposit-qr@dctrl');
    assert.ok(qr, 'the QR code is attached inline');
    assert.equal(qr.contentType, 'image/png');
    assert.equal(qr.content.toString('base64'), PNG_1x1);
  });

  test('STARTTLS is required by default and a login is used when configured', async () => {
    const server = await smtpServer({ tls: true, auth: { user: 'dctrl', password: 's3cret' } });
    const delivery = smtpDelivery(
      settings({ host: '127.0.0.1', port: server.port, rejectUnauthorized: false, user: 'dctrl', password: 's3cret' }),
    );
    assert.equal((await delivery.deliver(mail())).sent, true);
    delivery.close();
    assert.equal(server.received[0]!.secure, true, 'upgraded with STARTTLS');
    assert.equal(server.received[0]!.user, 'dctrl');
  });

  test('a server without STARTTLS is refused for now when TLS is required, never sent in clear', async () => {
    const server = await smtpServer();
    const delivery = smtpDelivery(settings({ host: '127.0.0.1', port: server.port, timeoutMs: 2_000 }));
    const outcome = await delivery.deliver(mail());
    delivery.close();
    assert.equal(outcome.sent, false);
    assert.equal(outcome.sent === false && outcome.temporary, true, JSON.stringify(outcome));
    assert.equal(server.received.length, 0);
  });

  test('a wrong password waits (the configuration is at fault, not the mail)', async () => {
    const server = await smtpServer({ auth: { user: 'dctrl', password: 's3cret' } });
    const delivery = smtpDelivery(
      settings({ host: '127.0.0.1', port: server.port, requireTls: false, user: 'dctrl', password: 'wrong' }),
    );
    const outcome = await delivery.deliver(mail());
    delivery.close();
    assert.ok(!outcome.sent && outcome.temporary);
    assert.ok(!outcome.sent && outcome.error.code === 'MEMBER_MAIL_SMTP_UNAVAILABLE');
    assert.match(!outcome.sent ? outcome.error.message : '', /login/);
  });

  test('a 550 for the recipient fails for good; a 451 fails for now', async () => {
    const server = await smtpServer();
    const delivery = smtpDelivery(settings({ host: '127.0.0.1', port: server.port, requireTls: false }));
    server.recipientRule = () => ({ code: 550, message: 'No such user here' });
    const refused = await delivery.deliver(mail());
    assert.ok(!refused.sent && !refused.temporary);
    assert.ok(!refused.sent && refused.error.code === 'MEMBER_MAIL_SMTP_REFUSED');
    assert.match(!refused.sent ? refused.error.message : '', /550/);
    server.recipientRule = () => ({ code: 451, message: 'Greylisted, try later' });
    const later = await delivery.deliver(mail());
    assert.ok(!later.sent && later.temporary);
    delivery.close();
    assert.equal(server.received.length, 0);
  });

  test('a server that never greets times out as a temporary failure', async () => {
    const silent = await startRawSmtp('silent');
    servers.push(silent);
    const delivery = smtpDelivery(settings({ host: '127.0.0.1', port: silent.port, requireTls: false, timeoutMs: 1_000 }));
    const outcome = await delivery.deliver(mail());
    delivery.close();
    assert.ok(!outcome.sent && outcome.temporary);
    assert.equal(silent.connections, 1);
  });

  test('a connection dropped in the middle of the message is a temporary failure', async () => {
    const dropping = await startRawSmtp('drop-in-data');
    servers.push(dropping);
    const delivery = smtpDelivery(settings({ host: '127.0.0.1', port: dropping.port, requireTls: false, timeoutMs: 5_000 }));
    const outcome = await delivery.deliver(mail());
    delivery.close();
    assert.ok(!outcome.sent && outcome.temporary, JSON.stringify(outcome));
  });

  test('the server has the whole mail and its answer does not come in time: uncertain, never a retry', async () => {
    const server = await smtpServer();
    let release: () => void = () => undefined;
    server.holdData = new Promise<void>((resolve) => {
      release = resolve;
    });
    const delivery = smtpDelivery(settings({ host: '127.0.0.1', port: server.port, requireTls: false, timeoutMs: 1_000 }));
    const outcome = await delivery.deliver(mail());
    delivery.close();
    assert.ok(!outcome.sent && outcome.uncertain === true && !outcome.temporary, JSON.stringify(outcome));
    assert.ok(!outcome.sent && outcome.error.code === 'MEMBER_MAIL_ANSWER_LOST');
    release();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(server.received.length, 1, 'the server kept it: a retry would have sent it twice');
  });

  test('a connection refused before the mail was written is a temporary failure that stops the round', async () => {
    const server = await smtpServer();
    const port = server.port;
    await server.stop();
    const delivery = smtpDelivery(settings({ host: '127.0.0.1', port, requireTls: false, timeoutMs: 1_000 }));
    const outcome = await delivery.deliver(mail());
    delivery.close();
    assert.ok(!outcome.sent && outcome.temporary && outcome.serverDown === true && outcome.uncertain !== true);
  });

  test('nothing listening is a temporary failure', async () => {
    const server = await smtpServer();
    const port = server.port;
    await server.stop();
    const delivery = smtpDelivery(settings({ host: '127.0.0.1', port, requireTls: false, timeoutMs: 1_000 }));
    const outcome = await delivery.deliver(mail());
    delivery.close();
    assert.ok(!outcome.sent && outcome.temporary);
  });

  test('the classification of SMTP errors', () => {
    assert.ok(!classify({ responseCode: 552, message: 'too big' }).sent);
    assert.equal((classify({ responseCode: 552 }) as { temporary: boolean }).temporary, false);
    assert.equal((classify({ responseCode: 421 }) as { temporary: boolean }).temporary, true);
    assert.equal((classify({ code: 'EAUTH', responseCode: 535 }) as { temporary: boolean }).temporary, true);
    assert.equal((classify(new Error('boom')) as { temporary: boolean }).temporary, true);
    assert.equal((classify({ code: 'EENVELOPE', message: 'No recipients defined' }) as { temporary: boolean }).temporary, false);
  });

  test('a drop folder that cannot be written is a temporary failure naming the file, not a stuck mail', async () => {
    const blocker = join(tempDir(), 'not-a-folder');
    writeFileSync(blocker, 'a file where the folder should be');
    const delivery = dropDelivery(settings({}), join(blocker, 'mail'));
    const outcome = await delivery.deliver(mail());
    delivery.close();
    assert.ok(!outcome.sent && outcome.temporary);
    assert.ok(!outcome.sent && outcome.error.code === 'MEMBER_MAIL_DROP_UNWRITABLE');
    assert.match(!outcome.sent ? outcome.error.message : '', /not-a-folder/);
  });

  test('without a server, mail is written whole as .eml files', async () => {
    const dir = join(tempDir(), 'mail');
    const delivery = dropDelivery(settings({}), dir);
    const outcome = await delivery.deliver(mail());
    delivery.close();
    assert.equal(outcome.sent, true);
    const files = readdirSync(dir);
    assert.deepEqual(files, ['2026-11-27T12-00-00.000Z-01KQ0000000000000000000000.eml']);
    const parsed = await simpleParser(readFileSync(join(dir, files[0]!)));
    assert.equal(parsed.subject, 'Welcome to dctrl, Ada');
    assert.equal(parsed.attachments.length, 1);
  });
});
