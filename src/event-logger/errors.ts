// EventLogger error codes: the log on disk and its integrity.
import { errorClass } from '../core/errors.js';

export const EventLoggerErrorCodes = {
  EVENT_LOGGER_RECORD_MODIFIED: 'A record no longer matches its hash: it was edited after it was written.',
  EVENT_LOGGER_RECORD_MISSING: 'Records are missing from the chain (a sequence gap): some were removed.',
  EVENT_LOGGER_RECORD_REORDERED: 'Records are out of order or repeated: the chain links do not follow.',
  EVENT_LOGGER_RECORD_UNREADABLE: 'A line is not a valid record: torn by a crash, truncated or overwritten.',
  EVENT_LOGGER_LOG_TRUNCATED: 'The log ends before the signed head says it does: records were cut off the end.',
  EVENT_LOGGER_HEAD_INVALID: 'The signed head file is unreadable or its signature does not verify.',
  EVENT_LOGGER_NOT_FOUND: 'No record matches the id or time asked for.',
  EVENT_LOGGER_REPLAY_INVALID: 'A replay request needs exactly one of fromId or fromTime.',
} as const;

export type EventLoggerErrorCode = keyof typeof EventLoggerErrorCodes;

export const EventLoggerError = errorClass('EventLoggerError', EventLoggerErrorCodes);
export type EventLoggerError = InstanceType<typeof EventLoggerError>;
