// `dctrl mail …` against a running hub that sends to a real SMTP server on 127.0.0.1, as the treasurer uses it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { dctrl, startHub, type RunningCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/harness.js';
import { freePort } from '../helpers/mosquitto.js';
import { startSmtp, type TestSmtp } from '../helpers/smtp.js';

interface Mail {
  id: string;
  kind: string;
  memberId: string | null;
  to: string;
  state: string;
  attempts: number;
  error: { code: string; message: string } | null;
}

let smtp: TestSmtp;
let hub: RunningCli;
let common: string[];
let ada: string;

const BOUNCING = 'bob@bounce.example.org';

function ok(args: string[]): string {
  const result = dctrl([...args, ...common]);
  assert.equal(result.status, 0, `dctrl ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

const outbox = (...args: string[]) =>
  (JSON.parse(ok(['mail', 'outbox', '--format', 'json', ...args])) as { mails: Mail[]; counts: Record<string, number> }).mails;

/** Asks again until the member's welcome mail is in the state (the hub sends on its own, moments after the join). */
async function welcomeOf(memberId: string, state: string): Promise<Mail> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const mail = outbox('--member', memberId, '--kind', 'welcome')[0];
    if (mail?.state === state) return mail;
    if (Date.now() > deadline) assert.fail(`the welcome of ${memberId} is ${mail?.state ?? 'not made'}, not ${state}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const receivedBy = (address: string) => smtp.received.filter((mail) => mail.envelope.to.includes(address));

/** The hub's memberMail settings for a test SMTP server on this machine (no TLS on loopback). */
const smtpSettings = (server: TestSmtp) => [
  '--set',
  'memberMail.smtp.host=127.0.0.1',
  '--set',
  `memberMail.smtp.port=${server.port}`,
  '--set',
  'memberMail.smtp.requireTls=false',
];

async function until(done: () => boolean, what = 'the condition'): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!done()) {
    if (Date.now() > deadline) assert.fail(`waited 20 s for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function joinMember(name: string, email: string): string {
  return ok(['member', 'add', '--name', name, '--email', email]).split(/\s+/)[0]!;
}

before(async () => {
  smtp = await startSmtp();
  smtp.recipientRule = (address) => (address === BOUNCING ? { code: 550, message: 'No such user here' } : undefined);
  ({ hub, common } = await startHub(smtpSettings(smtp)));
  ada = joinMember('Ada Lovelace', 'ada@example.org');
});
after(async () => {
  await hub.stop();
  await smtp.stop();
});

test('a new member’s welcome reaches the SMTP server; the outbox and the member’s history show it sent', async () => {
  const sent = await welcomeOf(ada, 'sent');
  assert.equal(receivedBy('ada@example.org').length, 1);
  assert.equal(
    receivedBy('ada@example.org')[0]!.parsed.subject,
    ok(['mail', 'preview', 'welcome', ada, '--part', 'subject']).trim(),
  );

  const table = ok(['mail', 'outbox']);
  assert.match(table, /^id\s+made\s+kind\s+member\s+to\s+state\s+attempts\s+error\n/);
  assert.match(
    table,
    new RegExp(`\\n${sent.id}  \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d\\s+welcome\\s+${ada}\\s+ada@example\\.org\\s+sent\\s+1\\n`),
  );
  assert.match(table, /\nwhole outbox: 1 sent\n$/);
  const history = ok(['mail', 'history', ada]);
  assert.match(history, new RegExp(`\\nall member ${ada}: 1 sent\\n$`));
  assert.match(history, new RegExp(`\\n${sent.id} .* welcome .* sent\\s+1\\n`));
  assert.doesNotMatch(history, /older mails/);
});

test('a refused recipient shows failed with the server’s answer; retry --failed sends it once the server takes it', async () => {
  const bob = joinMember('Bob Bounce', BOUNCING);
  const failed = await welcomeOf(bob, 'failed');
  assert.equal(failed.error?.code, 'MEMBER_MAIL_SMTP_REFUSED');
  assert.match(failed.error.message, /550/);

  const table = ok(['mail', 'outbox', '--state', 'failed']);
  assert.match(
    table,
    new RegExp(`\\n${failed.id} .* welcome\\s+${bob}\\s+${BOUNCING}\\s+failed\\s+1\\s+MEMBER_MAIL_SMTP_REFUSED: .*550`),
  );
  assert.doesNotMatch(table, new RegExp(ada), 'only failed mails');
  assert.match(table, /\nwhole outbox: 1 sent, 1 failed\n$/);

  smtp.recipientRule = () => undefined;
  const retried = dctrl(['mail', 'retry', '--failed', ...common]);
  assert.equal(retried.status, 0, retried.stderr);
  assert.equal(retried.stdout, `retried ${failed.id}\n1 retried, 0 skipped\n`);
  await welcomeOf(bob, 'sent');
  assert.equal(receivedBy(BOUNCING).length, 1);

  const nothingLeft = dctrl(['mail', 'retry', '--failed', ...common]);
  assert.deepEqual([nothingLeft.status, nothingLeft.stdout], [0, 'no failed mails to retry\n']);
  const sentOne = dctrl(['mail', 'retry', failed.id.toLowerCase(), ...common]);
  assert.equal(sentOne.status, 1, 'a mail asked for and not retried makes the exit code 1');
  assert.equal(sentOne.stdout, '0 retried, 1 skipped\n');
  assert.equal(sentOne.stderr, `dctrl: skipped ${failed.id}: MEMBER_MAIL_NOT_RETRYABLE: it is sent\n`);
  assert.equal(receivedBy(BOUNCING).length, 1, 'sent once');
});

test('pages: --limit 1 prints one mail and the command for the next page', () => {
  const first = ok(['mail', 'outbox', '--limit', '1']);
  const next = /\nolder mails: dctrl mail outbox --limit 1 --before (\w{26})\n$/.exec(first);
  assert.ok(next, first);
  const second = ok(['mail', 'outbox', '--limit', '1', '--before', next[1]!]);
  assert.equal(second.match(/ welcome /g)?.length, 1);
  assert.doesNotMatch(second, /older mails/);
  assert.notEqual(first.split('\n')[1]!.slice(0, 26), second.split('\n')[1]!.slice(0, 26));
});

test('preview: subject, text with the deposit address and the QR code attachment; --part html --out writes the HTML', () => {
  const address = ok(['bitcoin', 'address', ada]).split(/\s+/)[0]!;
  const before = smtp.received.length;
  const preview = ok(['mail', 'preview', 'welcome', ada]);
  assert.match(preview, /^To: ada@example\.org\nSubject: .+\n1 attachment: deposit-address\.png \(image\/png, \d+ bytes\)\n\n/);
  assert.ok(preview.includes(address), preview);
  assert.match(preview, /Ada/);

  const file = join(tempDir('dctrl-mail-'), 'preview.html');
  const wrote = ok(['mail', 'preview', 'welcome', ada, '--part', 'html', '--out', file]);
  assert.match(wrote, /^wrote the html of the welcome mail for \S+ to .*preview\.html \(\d+ bytes\)\n$/);
  const html = readFileSync(file, 'utf8');
  assert.match(html, /<html/i);
  assert.ok(html.includes(address));
  assert.ok(
    !html.includes('cid:') && html.includes('src="data:image/png;base64,'),
    'the QR code is in the file, as a browser needs it',
  );
  assert.equal(smtp.received.length, before, 'a preview is not sent');
});

test('the statements job run twice in a month: the first makes one per member and they arrive, the second makes none', async () => {
  // The demo space has members with months of history, so there is a month just ended to make statements for.
  const demoSmtp = await startSmtp();
  const demo = await startHub(['--demo', ...smtpSettings(demoSmtp)]);
  const inDemo = (args: string[]) => {
    const result = dctrl([...args, ...demo.common]);
    assert.equal(result.status, 0, `dctrl ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  try {
    const first = /^statements of (\d{4}-\d\d): (\d+) made, 0 already made before \(not made again\)\n$/.exec(
      inDemo(['mail', 'run', 'statements']),
    );
    assert.ok(first, 'the first run makes them');
    const made = Number(first[2]);
    assert.ok(made >= 8, `a statement for each member of the demo space, made ${made}`);
    assert.equal(
      inDemo(['mail', 'run', 'statements']),
      `statements of ${first[1]}: 0 made, ${made} already made before (not made again)\n`,
    );
    await until(
      () => demoSmtp.received.filter((mail) => /statement/i.test(mail.parsed.subject ?? '')).length === made,
      `${made} statements at the SMTP server`,
    );
    const listed = inDemo(['mail', 'outbox', '--kind', 'statement']);
    assert.equal(listed.match(/ statement .* sent /g)?.length, made, listed);
    // The demo's members behind on dues lapsed before MemberMail first ran: counted, not mailed, not "already made".
    assert.match(
      inDemo(['mail', 'run', 'reminders']),
      /^reminders and deactivation notices: \d+ made, 0 already made before \(not made again\); \d+ lapses? from before mail was set up, not mailed\n$/,
    );
  } finally {
    await demo.hub.stop();
    await demoSmtp.stop();
  }
});

test('bad flags and arguments are refused before anything is sent, naming the flag and what it takes', async () => {
  // Against a broker that is not there: a refusal here can only have come from the command line itself.
  const nowhere = [...common, '--set', `broker.url=mqtt://127.0.0.1:${await freePort()}`];
  const refusals: [string[], RegExp][] = [
    [['mail', 'outbox', '--state', 'bogus'], /--state expects one of pending, sending, sent, failed, unsure; got "bogus"/],
    [
      ['mail', 'outbox', '--kind', 'invoice'],
      /--kind expects one of welcome, receipt, statement, reminder, deactivation, payout/,
    ],
    [['mail', 'outbox', '--limit', '0'], /--limit expects a whole number from 1 to 200, got "0"/],
    [['mail', 'history', ada, '--limit', '201'], /--limit expects a whole number from 1 to 200, got "201"/],
    [['mail', 'outbox', '--before', 'yesterday'], /--before expects a mail id/],
    [['mail', 'outbox', '--format', 'csv'], /--format expects one of table, json/],
    [['mail', 'preview', 'birthday', ada], /unknown mail kind "birthday"; expected one of welcome, receipt, statement, reminder/],
    [['mail', 'preview', 'welcome', ada, '--part', 'pdf'], /--part expects one of subject, text, html/],
    [['mail', 'run', 'invoices'], /unknown mail job "invoices"; expected one of statements, reminders/],
    [['mail', 'retry'], /either mail ids or --failed/],
    [['mail', 'retry', 'not-an-id'], /mail retry expects a mail id/],
  ];
  const mailsBefore = outbox().length;
  for (const [args, message] of refusals) {
    const refused = dctrl([...args, ...nowhere]);
    assert.equal(refused.status, 1, args.join(' '));
    assert.match(refused.stderr, /^dctrl: CLI_OPTION_INVALID: /, args.join(' '));
    assert.match(refused.stderr, message);
    assert.equal(refused.stdout, '');
  }
  const unknown = dctrl(['mail', 'preview', 'welcome', 'nobody', ...common]);
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /^dctrl: MEMBER_MAIL_UNKNOWN_MEMBER: .*no member nobody/);
  assert.equal(outbox().length, mailsBefore);
});
