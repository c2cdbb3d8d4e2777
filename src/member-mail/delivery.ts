// How a mail leaves: over SMTP (nodemailer) to the configured server, or as an .eml file in a drop folder when
// no server is configured (the demo). Each attempt ends sent, temporarily failed (wait and try again), refused, or
// uncertain: the server had the whole mail and its answer never came, so it may have been sent.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer, { type SendMailOptions } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import type { Config } from '../core/config.js';
import type { MailError, StoredMail } from './outbox.js';

export type DeliveryOutcome =
  | { sent: true; response: string }
  | {
      sent: false;
      /** Worth trying again later; false: refused for good. */
      temporary: boolean;
      /** The server cannot be reached or talked to: the next mails would fail the same way now. */
      serverDown?: boolean;
      /** The whole mail was handed over and no answer came: it may have been sent, so it is never resent on its own. */
      uncertain?: boolean;
      error: MailError;
      response: string | null;
    };

export interface Delivery {
  deliver(mail: StoredMail): Promise<DeliveryOutcome>;
  close(): void;
  /** Where mail goes, for the banner and logs (never the password). */
  readonly description: string;
}

type MailSettings = Config['memberMail'];

function messageOf(mail: StoredMail, settings: MailSettings): SendMailOptions {
  return {
    from: settings.from,
    ...(settings.replyTo !== undefined ? { replyTo: settings.replyTo } : {}),
    to: mail.to,
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    messageId: mail.messageId,
    date: new Date(mail.createdAt),
    // RFC 3834: an automatic mail, so out-of-office responders stay quiet.
    headers: { 'Auto-Submitted': 'auto-generated', 'X-Dctrl-Mail': `${mail.kind} ${mail.id}` },
    attachments: mail.attachments.map((attachment) => ({
      filename: attachment.filename,
      contentType: attachment.contentType,
      content: Buffer.from(attachment.contentBase64, 'base64'),
      ...(attachment.cid !== undefined ? { cid: attachment.cid } : {}),
    })),
  };
}

/** The SMTP server named in memberMail.smtp; one connection per mail, so a dropped one never poisons the next. */
export function smtpDelivery(settings: MailSettings): Delivery {
  const smtp = settings.smtp;
  const options: SMTPTransport.Options = {
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    requireTLS: smtp.requireTls && !smtp.secure,
    tls: { rejectUnauthorized: smtp.rejectUnauthorized },
    connectionTimeout: smtp.timeoutMs,
    greetingTimeout: smtp.timeoutMs,
    socketTimeout: smtp.timeoutMs,
    ...(smtp.user !== undefined ? { auth: { user: smtp.user, pass: smtp.password ?? '' } } : {}),
  };
  // The Sender hands over one mail at a time, so one flag per transport tells about the mail being sent.
  const handover = { written: false };
  const transport = nodemailer.createTransport({ ...options, logger: handoverLogger(handover) });
  return {
    description: `smtp://${smtp.host}:${smtp.port}${smtp.secure ? ' (TLS)' : smtp.requireTls ? ' (STARTTLS required)' : ''}`,
    async deliver(mail) {
      handover.written = false;
      try {
        const info = await transport.sendMail(messageOf(mail, settings));
        if (info.accepted.length === 0) {
          return refused(`the server accepted no recipient: ${info.response}`, info.response);
        }
        return { sent: true, response: info.response };
      } catch (error) {
        const answered = typeof (error as SmtpFailure).responseCode === 'number';
        if (handover.written && !answered) return uncertain(error);
        return classify(error);
      }
    },
    close() {
      transport.close();
    },
  };
}

/** Writes each mail as <made>-<id>.eml, whole or not at all, for a demo or a server without mail. */
export function dropDelivery(settings: MailSettings, dir: string): Delivery {
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    description: `.eml files in ${dir} (memberMail.smtp.host is unset)`,
    async deliver(mail) {
      const info = await transport.sendMail(messageOf(mail, settings));
      const file = join(dir, `${new Date(mail.createdAt).toISOString().replaceAll(':', '-')}-${mail.id}.eml`);
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        writeFileSync(`${file}.tmp`, info.message as Buffer, { mode: 0o600 });
        renameSync(`${file}.tmp`, file);
      } catch (error) {
        const message = `cannot write ${file}: ${(error as Error).message}`;
        return { sent: false, temporary: true, error: { code: 'MEMBER_MAIL_DROP_UNWRITABLE', message }, response: null };
      }
      return { sent: true, response: `written to ${file}` };
    },
    close() {
      transport.close();
    },
  };
}

/**
 * nodemailer says nothing through its API about how far a mail got, but logs when it has written a message whole,
 * the final dot included: from then on the server may have it, and a failure without an answer is uncertain. The
 * tests of a withheld answer and of a connection dropped mid-message keep this honest across nodemailer versions.
 */
function handoverLogger(handover: { written: boolean }): SMTPTransport.Options['logger'] {
  const quiet = () => undefined;
  return {
    level: quiet,
    trace: quiet,
    debug: quiet,
    info: (entry: unknown) => {
      if (typeof entry === 'object' && entry !== null && (entry as { tnx?: unknown }).tnx === 'message') handover.written = true;
    },
    warn: quiet,
    error: quiet,
    fatal: quiet,
  };
}

function uncertain(error: unknown): DeliveryOutcome {
  const message = error instanceof Error ? error.message : String(error);
  return {
    sent: false,
    temporary: false,
    uncertain: true,
    error: {
      code: 'MEMBER_MAIL_ANSWER_LOST',
      message: `the server had the whole mail but did not answer (${message}); it may have been sent, so it is not resent on its own`,
    },
    response: null,
  };
}

interface SmtpFailure {
  code?: string;
  responseCode?: number;
  response?: string;
  message?: string;
}

function refused(message: string, response: string | null): DeliveryOutcome {
  return { sent: false, temporary: false, error: { code: 'MEMBER_MAIL_SMTP_REFUSED', message }, response };
}

/** Failures of the connection, the TLS upgrade or the login: about the server or our settings, never the mail. */
const CONNECTION_FAILURES = new Set(['EAUTH', 'ETLS', 'ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'EPROTOCOL', 'ENOAUTH']);

/**
 * A 5xx answer to the mail (sender, recipient, message) refuses it for good; a 4xx, a timeout, a dropped
 * connection, a failed TLS upgrade or a refused login (the server's or our settings' fault) means wait and try again.
 */
export function classify(error: unknown): DeliveryOutcome {
  const failure = (typeof error === 'object' && error !== null ? error : {}) as SmtpFailure;
  const response = failure.response ?? null;
  const message = failure.message ?? String(error);
  const code = failure.responseCode;
  const connectionLevel = failure.code !== undefined && CONNECTION_FAILURES.has(failure.code);
  if (!connectionLevel && code !== undefined && code >= 500 && code < 600) {
    return refused(`the SMTP server refused the mail (${code}): ${message}`, response);
  }
  // Refused before a word to the server: no recipient, or a message nodemailer cannot send as it is.
  if (code === undefined && (failure.code === 'EENVELOPE' || failure.code === 'EMESSAGE')) {
    return refused(`the mail cannot be sent as it is (${failure.code}): ${message}`, response);
  }
  const what =
    failure.code === 'EAUTH'
      ? 'the SMTP server refused the login'
      : failure.code === 'ETLS'
        ? 'the connection could not be secured with TLS'
        : 'the SMTP server is not available';
  return {
    sent: false,
    temporary: true,
    serverDown: connectionLevel,
    error: { code: 'MEMBER_MAIL_SMTP_UNAVAILABLE', message: `${what} (${failure.code ?? code ?? 'error'}): ${message}` },
    response,
  };
}
