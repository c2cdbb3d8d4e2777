// `dctrl mail …`: what MemberMail sent, what failed and why; retries, previews and the mail jobs on demand.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { PayloadOf } from '../../core/contract.js';
import { isMessageId } from '../../core/ids.js';
import {
  MAIL_KINDS,
  MAIL_STATES,
  MailOutbox,
  MailPreview,
  MailRetry,
  MailRun,
  type MailKind,
  type MailState,
  type OutboxMail,
} from '../../core/messages-mail.js';
import { onBus, oneOf, print } from '../command-kit.js';
import { CliError } from '../errors.js';
import { parseLimit } from '../options.js';
import { table } from '../table.js';

/** The most mails one outbox page or one retry takes (member-mail.outbox, member-mail.retry). */
const MAX_PAGE = 200;
const DEFAULT_PAGE = 50;
/** A statement run writes a mail per member, each with its statement and QR code; more than an ordinary request. */
const RUN_TIMEOUT_MS = 60_000;
const PREVIEW_PARTS = ['subject', 'text', 'html'] as const;
const JOBS = ['statements', 'reminders'] as const;

type Format = 'table' | 'json';
type Part = (typeof PREVIEW_PARTS)[number];

interface OutboxPage {
  mails: OutboxMail[];
  counts: Record<MailState, number>;
  next: string | null;
}

interface Preview {
  kind: MailKind;
  to: string;
  subject: string;
  text: string;
  html: string;
  attachments: { filename: string; contentType: string; bytes: number; cid: string | null; contentBase64: string }[];
}

/** The same for an argument: `what` names it ("mail kind"). */
function argumentOneOf<T extends string>(what: string, allowed: readonly T[], text: string): T {
  if (!(allowed as readonly string[]).includes(text))
    throw new CliError('CLI_OPTION_INVALID', `unknown ${what} "${text.slice(0, 40)}"; expected one of ${allowed.join(', ')}`);
  return text as T;
}

/** Mail ids are ULIDs; typed in lower case they are the same id. */
function mailId(flag: string, text: string): string {
  const id = text.toUpperCase();
  if (!isMessageId(id))
    throw new CliError(
      'CLI_OPTION_INVALID',
      `${flag} expects a mail id (26 letters and digits, as listed by dctrl mail outbox); got "${text.slice(0, 40)}"`,
    );
  return id;
}

const limitOption = (text: string) => parseLimit(text, MAX_PAGE);
const beforeOption = (text: string) => mailId('--before', text);

/** Epoch ms as this machine's local time, to the minute: the outbox is read by someone at this machine. */
function localTime(at: number): string {
  const date = new Date(at);
  const two = (value: number) => String(value).padStart(2, '0');
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}`;
}

/** Why a mail is not sent (yet): the last error of a failed or unsure one, and of a pending one waiting to try again. */
function problem(mail: OutboxMail): string {
  if (mail.state === 'sent' || mail.error === null) return '';
  const retry = mail.state === 'pending' && mail.nextAttemptAt !== null ? ` (next try ${localTime(mail.nextAttemptAt)})` : '';
  return `${mail.error.code}: ${mail.error.message}${retry}`;
}

/** The table, and the counts by state of every mail of the member and kind asked for (whatever the state filter). */
function showOutbox(page: OutboxPage, scope: string): string {
  const rows = [['id', 'made', 'kind', 'member', 'to', 'state', 'attempts', 'error']];
  for (const mail of page.mails) {
    rows.push([
      mail.id,
      localTime(mail.createdAt),
      mail.kind,
      mail.memberId ?? '',
      mail.to,
      mail.state,
      String(mail.attempts),
      problem(mail),
    ]);
  }
  const counts = MAIL_STATES.filter((state) => page.counts[state] > 0).map((state) => `${page.counts[state]} ${state}`);
  const totals = `${scope}: ${counts.length > 0 ? counts.join(', ') : 'none'}`;
  return rows.length === 1 ? `no mails\n${totals}` : `${table(rows)}\n${totals}`;
}

interface ListOptions {
  member?: string;
  state?: MailState;
  kind?: MailKind;
  limit: number;
  before?: string;
  format: Format;
}

/** Prints one page and, when there is more, the command that prints the next one. */
async function listOutbox(command: Command, options: ListOptions, nextCommand: (before: string) => string): Promise<void> {
  const payload: PayloadOf<typeof MailOutbox> = {
    limit: options.limit,
    ...(options.member !== undefined ? { memberId: options.member } : {}),
    ...(options.state !== undefined ? { state: options.state } : {}),
    ...(options.kind !== undefined ? { kind: options.kind } : {}),
    ...(options.before !== undefined ? { before: options.before } : {}),
  };
  await onBus(command, async (bus) => {
    const page = (await bus.request(MailOutbox, payload)) as OutboxPage;
    if (options.format === 'json') return print(JSON.stringify(page, null, 2));
    const scope = [
      options.member !== undefined ? `member ${options.member}` : '',
      options.kind !== undefined ? `${options.kind} mails` : '',
    ].filter((part) => part !== '');
    print(showOutbox(page, scope.length > 0 ? `all ${scope.join(', ')}` : 'whole outbox'));
    if (page.next !== null) print(`older mails: ${nextCommand(page.next)}`);
  });
}

function outboxCommandLine(options: ListOptions, before: string): string {
  const flags = [
    options.member !== undefined ? `--member ${options.member}` : '',
    options.state !== undefined ? `--state ${options.state}` : '',
    options.kind !== undefined ? `--kind ${options.kind}` : '',
    options.limit !== DEFAULT_PAGE ? `--limit ${options.limit}` : '',
    `--before ${before}`,
  ];
  return ['dctrl mail outbox', ...flags.filter((flag) => flag !== '')].join(' ');
}

async function retry(command: Command, ids: string[], failed: boolean): Promise<void> {
  if (failed === ids.length > 0)
    throw new CliError(
      'CLI_OPTION_INVALID',
      'mail retry takes either mail ids or --failed (every failed mail), not both or neither',
    );
  if (ids.length > MAX_PAGE)
    throw new CliError('CLI_OPTION_INVALID', `mail retry takes at most ${MAX_PAGE} ids at once; got ${ids.length}`);
  const wanted = ids.map((id) => mailId('mail retry', id));
  const payload: PayloadOf<typeof MailRetry> = failed ? { allFailed: true } : { ids: wanted };
  await onBus(command, async (bus) => {
    const { retried, skipped, more } = (await bus.request(MailRetry, payload)) as {
      retried: string[];
      skipped: { id: string; reason: string }[];
      more: boolean;
    };
    for (const id of retried) print(`retried ${id}`);
    for (const { id, reason } of skipped) process.stderr.write(`dctrl: skipped ${id}: ${reason}\n`);
    if (retried.length + skipped.length === 0) print('no failed mails to retry');
    else print(`${retried.length} retried, ${skipped.length} skipped`);
    if (more) print('more failed mails are left: run dctrl mail retry --failed again');
    // As rm and kill do: every mail asked for that was not put back in line makes the exit code 1.
    if (skipped.length > 0) process.exitCode = 1;
  });
}

function describePreview(preview: Preview): string {
  const attachments =
    preview.attachments.length === 0
      ? 'no attachments'
      : `${preview.attachments.length} attachment${preview.attachments.length === 1 ? '' : 's'}: ${preview.attachments
          .map((attachment) => `${attachment.filename} (${attachment.contentType}, ${attachment.bytes} bytes)`)
          .join(', ')}`;
  return [`To: ${preview.to}`, `Subject: ${preview.subject}`, attachments, '', preview.text].join('\n');
}

/** The HTML with its inline images (cid:) turned into data: URIs, so a browser shows it as a mail client would. */
function withInlineImages(mail: Preview): string {
  let html = mail.html;
  for (const attachment of mail.attachments) {
    if (attachment.cid === null) continue;
    html = html.replaceAll(`cid:${attachment.cid}`, `data:${attachment.contentType};base64,${attachment.contentBase64}`);
  }
  return html;
}

async function preview(command: Command, kind: string, memberId: string, options: { part?: Part; out?: string }): Promise<void> {
  const checkedKind = argumentOneOf('mail kind', MAIL_KINDS, kind);
  await onBus(command, async (bus) => {
    const mail = (await bus.request(MailPreview, { kind: checkedKind, memberId })) as Preview;
    const content =
      options.part === undefined ? describePreview(mail) : options.part === 'html' ? withInlineImages(mail) : mail[options.part];
    if (options.out === undefined) return print(content);
    try {
      writeFileSync(options.out, content);
    } catch (cause) {
      throw new CliError('CLI_FAILED', `cannot write ${options.out}: ${(cause as Error).message}`, { cause });
    }
    print(
      `wrote the ${options.part ?? 'preview'} of the ${kind} mail for ${memberId} to ${options.out} (${Buffer.byteLength(content)} bytes)`,
    );
  });
}

async function run(command: Command, jobText: string): Promise<void> {
  const job = argumentOneOf('mail job', JOBS, jobText);
  await onBus(command, async (bus) => {
    const { month, made, alreadyMade, skipped } = (await bus.request(MailRun, { job }, { timeoutMs: RUN_TIMEOUT_MS })) as {
      month: string | null;
      made: number;
      alreadyMade: number;
      skipped: number;
    };
    const what = job === 'statements' ? `statements of ${month ?? 'the month just ended'}` : 'reminders and deactivation notices';
    const before = skipped > 0 ? `; ${skipped} lapse${skipped === 1 ? '' : 's'} from before mail was set up, not mailed` : '';
    print(`${what}: ${made} made, ${alreadyMade} already made before (not made again)${before}`);
  });
}

export function registerMailCommands(program: Command): void {
  const mail = program.command('mail').description('the mail members get: the outbox, retries, previews and the mail jobs');
  mail
    .command('outbox')
    .description('every mail made, newest first: its state, attempts and why it failed; a page at a time')
    .option('--member <memberId>', 'only this member’s mails')
    .option('--state <state>', `only mails in this state: ${MAIL_STATES.join(', ')}`, oneOf('--state', MAIL_STATES))
    .option('--kind <kind>', `only mails of this kind: ${MAIL_KINDS.join(', ')}`, oneOf('--kind', MAIL_KINDS))
    .option('--limit <n>', `how many (at most ${MAX_PAGE})`, limitOption, DEFAULT_PAGE)
    .option('--before <mailId>', 'the page after this mail (the command prints it when there are older mails)', beforeOption)
    .option('--format <format>', 'table or json', oneOf('--format', ['table', 'json'] as const), 'table' as Format)
    .action((o: ListOptions, c: Command) => listOutbox(c, o, (before) => outboxCommandLine(o, before)));
  mail
    .command('history <memberId>')
    .description('one member’s mails, newest first (the outbox for that member)')
    .option('--limit <n>', `how many (at most ${MAX_PAGE})`, limitOption, DEFAULT_PAGE)
    .option('--before <mailId>', 'the page after this mail', beforeOption)
    .option('--format <format>', 'table or json', oneOf('--format', ['table', 'json'] as const), 'table' as Format)
    .action((memberId: string, o: Omit<ListOptions, 'member'>, c: Command) =>
      listOutbox(c, { ...o, member: memberId }, (before) =>
        [`dctrl mail history ${memberId}`, o.limit !== DEFAULT_PAGE ? `--limit ${o.limit}` : '', `--before ${before}`]
          .filter((part) => part !== '')
          .join(' '),
      ),
    );
  mail
    .command('retry [mailIds...]')
    .description('send failed or unsure mails again, to the member’s address as it is now: the ids given, or --failed')
    .option(
      '--failed',
      `every failed mail (up to ${MAX_PAGE} at once); unsure ones only by id, after checking the mail server log`,
    )
    .addHelpText(
      'after',
      '\nPrints each mail retried, and each one skipped with the reason (on stderr).\nExit code: 0 when every mail asked for was put back in line (also when --failed finds none), 1 when any was skipped.',
    )
    .action((ids: string[], o: { failed?: boolean }, c: Command) => retry(c, ids, o.failed ?? false));
  mail
    .command('preview <kind> <memberId>')
    .description(`a mail as the member would get it now, not sent; kinds: ${MAIL_KINDS.join(', ')}`)
    .option(
      '--part <part>',
      'only the subject, the text or the html (default: To, subject, attachments and the text)',
      oneOf('--part', PREVIEW_PARTS),
    )
    .option('--out <file>', 'write it to this file instead (e.g. --part html --out preview.html, for a browser)')
    .action((kind: string, memberId: string, o: { part?: Part; out?: string }, c: Command) => preview(c, kind, memberId, o));
  mail
    .command('run <job>')
    .description(
      'run a mail job now: statements (of the month just ended) or reminders (and deactivation notices); a mail already made is not made again',
    )
    .action((job: string, _o: unknown, c: Command) => run(c, job));
}
