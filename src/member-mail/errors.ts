// MemberMail error codes: why a mail could not be written, sent, previewed or retried.
import { errorClass } from '../core/errors.js';

export const MemberMailErrorCodes = {
  MEMBER_MAIL_TEMPLATE_MISSING:
    'A template file is missing (<kind>/subject.hbs, text.hbs or html.hbs, in memberMail.templatesDir or built in); MemberMail does not start without every one.',
  MEMBER_MAIL_TEMPLATE_INVALID:
    'A template does not compile or uses a variable its mail does not have (the message names the file and the variable); caught at start and at preview, never at send time.',
  MEMBER_MAIL_NO_ADDRESS:
    'The member has no email address, or one that is not an address; the mail is kept as failed and goes once the address is fixed and the mail retried.',
  MEMBER_MAIL_SMTP_REFUSED:
    'The SMTP server refused the mail for good (a 5xx answer: unknown recipient, rejected sender, message refused); it is kept as failed, not retried on its own.',
  MEMBER_MAIL_SMTP_UNAVAILABLE:
    'The SMTP server could not be reached, did not answer in time, dropped the connection or answered 4xx (try later); the mail waits and is tried again with growing waits.',
  MEMBER_MAIL_GAVE_UP:
    'A mail was not accepted within memberMail.giveUpAfterHours of being queued (made, or retried by hand); it is kept as failed, with its last error, and goes when retried.',
  MEMBER_MAIL_DROP_UNWRITABLE:
    'With no SMTP server configured, mails are written to memberMail.dropDir, and that folder cannot be written (the message says why); the mail waits and is tried again.',
  MEMBER_MAIL_DELIVERY_FAILED:
    'Handing a mail over failed in a way no other code covers (the message says how); the mail waits and is tried again.',
  MEMBER_MAIL_INTERRUPTED:
    'MemberMail stopped while handing this mail to the SMTP server, so it may have been sent: it is not resent on its own. Look for its Message-ID in the mail server log, then retry it or leave it.',
  MEMBER_MAIL_ANSWER_LOST:
    'The SMTP server had the whole mail but its answer never came (timeout, dropped connection), so it may have been sent: kept unsure, not resent on its own. Look for its Message-ID in the mail server log, then retry it or leave it.',
  MEMBER_MAIL_UPSTREAM_UNAVAILABLE:
    'MemberData, the Reporter, BusinessData or the ChainNotifier did not answer, so a mail could not be written yet; MemberMail tries again on its next round and nothing is skipped.',
  MEMBER_MAIL_NOT_ALLOWED:
    'This client is not in memberMail.operators, so it may not read the outbox, retry, preview or run jobs.',
  MEMBER_MAIL_UNKNOWN_MAIL: 'No mail in the outbox has that id.',
  MEMBER_MAIL_NOT_RETRYABLE: 'Only failed or unsure mails can be retried; pending ones go on their own and sent ones are done.',
  MEMBER_MAIL_UNKNOWN_MEMBER: 'MemberData has no member by that id.',
} as const;

export const MemberMailError = errorClass('MemberMailError', MemberMailErrorCodes);
export type MemberMailError = InstanceType<typeof MemberMailError>;
