// The bus contract of MemberMail: its outbox (what was sent, what failed and why), retries, previews and jobs.
import { z } from 'zod';
import { defineMessage, type MessageSpec } from './contract.js';

const memberId = z.string().min(1).max(40);
const epochMs = z.int().nonnegative();
const mailId = z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'expected a mail id (26 letters and digits, a ULID)');

export const MAIL_KINDS = ['welcome', 'receipt', 'statement', 'reminder', 'deactivation', 'payout'] as const;
export type MailKind = (typeof MAIL_KINDS)[number];
export const mailKind = z.enum(MAIL_KINDS);

/**
 * pending: waiting to be sent (again); sending: handed to the SMTP server now; sent: the server accepted it;
 * failed: will not be sent (permanent refusal, no address, given up) until retried; unsure: the process stopped
 * while handing it over, so it may have gone: never resent on its own.
 */
export const MAIL_STATES = ['pending', 'sending', 'sent', 'failed', 'unsure'] as const;
export type MailState = (typeof MAIL_STATES)[number];
export const mailState = z.enum(MAIL_STATES);

/** One mail of the outbox as the treasurer sees it: never its body. */
export const outboxMail = z.strictObject({
  id: mailId,
  /** The idempotency key: kind, member and the period or event it is for; a second mail for it is never made. */
  key: z.string().max(200),
  kind: mailKind,
  memberId: memberId.nullable(),
  to: z.string().max(320),
  subject: z.string().max(400),
  state: mailState,
  attempts: z.int().nonnegative(),
  createdAt: epochMs,
  nextAttemptAt: epochMs.nullable(),
  lastAttemptAt: epochMs.nullable(),
  sentAt: epochMs.nullable(),
  /** The Message-ID header it goes out with, the same on every attempt, so receivers and the MTA log can match it. */
  messageId: z.string().max(300),
  /** A code and message for the last failure (MEMBER_MAIL_SMTP_REFUSED, …), or null. */
  error: z.strictObject({ code: z.string().max(64), message: z.string().max(1_000) }).nullable(),
  /** The SMTP server's last answer ("250 2.0.0 Ok: queued as …"). */
  response: z.string().max(1_000).nullable(),
});
export type OutboxMail = z.infer<typeof outboxMail>;

export const MailOutbox = defineMessage({
  type: 'member-mail.outbox',
  topic: 'dctrl/v1/member-mail/rpc/outbox',
  kind: 'request',
  sealed: { reply: true },
  issuers: 'any',
  description:
    'The outbox, newest first, a page at a time: every mail made, its state, attempts and last error; filter by member (a member’s mail history), state or kind. Only memberMail.operators may.',
  payload: z.strictObject({
    memberId: memberId.optional(),
    state: mailState.optional(),
    kind: mailKind.optional(),
    /** The previous reply's `next`. */
    before: mailId.optional(),
    limit: z.int().positive().max(200).optional(),
  }),
  reply: z.strictObject({
    mails: z.array(outboxMail),
    /** By state, for the member and kind asked for (all states, whatever `state` filters). */
    counts: z.record(mailState, z.int().nonnegative()),
    next: mailId.nullable(),
  }),
  askers: ['cli', 'server'],
});

export const MailRetry = defineMessage({
  type: 'member-mail.retry',
  topic: 'dctrl/v1/member-mail/rpc/retry',
  kind: 'request',
  sealed: { reply: true },
  issuers: 'any',
  description:
    'Send failed or unsure mails again (by id, or every failed one): the address is looked up again and the mail keeps its Message-ID. Only memberMail.operators may.',
  payload: z.union([z.strictObject({ ids: z.array(mailId).min(1).max(200) }), z.strictObject({ allFailed: z.literal(true) })]),
  reply: z.strictObject({
    retried: z.array(mailId),
    skipped: z.array(z.strictObject({ id: mailId, reason: z.string() })),
    /** More failed mails are left than one request retries (200): ask again. */
    more: z.boolean(),
  }),
  askers: ['cli', 'server'],
});

export const MailPreview = defineMessage({
  type: 'member-mail.preview',
  topic: 'dctrl/v1/member-mail/rpc/preview',
  kind: 'request',
  sealed: { reply: true },
  issuers: 'any',
  description:
    'A template rendered for one member with their data as it is now, without sending it: subject, plain text and HTML. A template with a missing variable fails here. Only memberMail.operators may.',
  payload: z.strictObject({ kind: mailKind, memberId }),
  reply: z.strictObject({
    kind: mailKind,
    to: z.string().max(320),
    subject: z.string(),
    text: z.string(),
    html: z.string(),
    attachments: z.array(
      z.strictObject({
        filename: z.string(),
        contentType: z.string(),
        bytes: z.int().nonnegative(),
        /** Set for an inline image, referenced from the HTML as cid:<cid>. */
        cid: z.string().nullable(),
        contentBase64: z.string().max(100_000),
      }),
    ),
  }),
  askers: ['cli', 'server'],
});

export const MailRun = defineMessage({
  type: 'member-mail.run',
  topic: 'dctrl/v1/member-mail/rpc/run',
  kind: 'request',
  issuers: 'any',
  description:
    'Run a job now: the statements of the month just ended, or the dues reminders and deactivation notices; a mail already made for its period is not made again. Only memberMail.operators may.',
  payload: z.strictObject({ job: z.enum(['statements', 'reminders']) }),
  reply: z.strictObject({
    job: z.string(),
    /** The statements' month; null when the job is reminders. */
    month: z.string().nullable(),
    made: z.int().nonnegative(),
    alreadyMade: z.int().nonnegative(),
    /** Lapses from before MemberMail was installed here: no notice is made for them. */
    skipped: z.int().nonnegative(),
  }),
  askers: ['cli', 'server'],
});

export const MailChanged = defineMessage({
  type: 'member-mail.changed',
  topic: 'dctrl/v1/member-mail/mail',
  kind: 'event',
  // A reminder or deactivation mail to a member says they are in arrears: for the Server's live view and metrics only.
  sealed: { to: ['server'] },
  issuers: ['member-mail'],
  description: 'A mail was made, sent, or failed (for dashboards and metrics); carries no address and no body.',
  payload: z.strictObject({
    id: mailId,
    kind: mailKind,
    memberId: memberId.nullable(),
    state: mailState,
    attempts: z.int().nonnegative(),
    errorCode: z.string().max(64).nullable(),
  }),
});

export const mailMessages: readonly MessageSpec[] = [MailOutbox, MailRetry, MailPreview, MailRun, MailChanged] as MessageSpec[];
