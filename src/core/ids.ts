// Unique, time-sortable message ids (ULID), monotonic within one process.
import { decodeTime, isValid, monotonicFactory } from 'ulid';
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
