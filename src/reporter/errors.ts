// Reporter error codes: what is wrong with a money movement, a report request or the data the Reporter needs.
import { errorClass } from '../core/errors.js';

export const ReporterErrorCodes = {
  REPORTER_MEMBER_UNKNOWN: 'No member has that id (the Reporter knows every member MemberData has recorded).',
  REPORTER_MONTH_INVALID: 'A month is written YYYY-MM, such as 2026-11.',
  REPORTER_VALUE_INVALID: 'A field of a ledger entry or report request is missing or malformed; the message names it.',
  REPORTER_NOT_ALLOWED:
    'A client may record only the kinds of money movement reporter.ledgerWriters gives it; only reporter.operators may run the job or rebuild.',
  REPORTER_CAUSE_CONFLICT:
    'An entry with this cause (receipt, transaction output, request) is already recorded with different details; nothing was recorded. Use the cause of this movement, not another one.',
  REPORTER_UPSTREAM_UNAVAILABLE:
    'MemberData or BusinessData did not answer; dues wait rather than be charged from stale facts, and are charged on a later run.',
} as const;

export const ReporterError = errorClass('ReporterError', ReporterErrorCodes);
export type ReporterError = InstanceType<typeof ReporterError>;
