// Unique, time-sortable message ids (ULID), monotonic within one process.
import { decodeTime, incrementBase32, isValid, monotonicFactory, ulid } from 'ulid';
import type { Clock } from './clock.js';

export type IdFactory = () => string;

export function createIdFactory(clock: Clock): IdFactory {
  const next = monotonicFactory();
  return () => next(clock.now());
}

export function isMessageId(value: string): boolean {
  return value.length === 26 && isValid(value);
}

/** The millisecond timestamp encoded in a message id. */
export function idTime(id: string): number {
  return decodeTime(id);
}

const ULID_TIME_LENGTH = 10;

/**
 * Ids for stored records that must never sort before one already stored, even when the clock goes back (a
 * restart after an NTP step, a replaced RTC battery): every id sorts after `lastId` and after every id made
 * before. While the clock reads at or before the time in the last id, ids keep that time and count up in
 * their random part, as ulid's monotonic factory does within one millisecond.
 */
export function createIdFactoryAfter(clock: Clock, lastId: string | undefined): IdFactory {
  let last = lastId;
  return () => {
    const now = clock.now();
    if (last === undefined || now > decodeTime(last)) last = ulid(now);
    else last = last.slice(0, ULID_TIME_LENGTH) + incrementBase32(last.slice(ULID_TIME_LENGTH));
    return last;
  };
}
