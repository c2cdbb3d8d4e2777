// What must never be readable off the wire, and where each known value turned up in what the eavesdropper recorded.
import type { Recorder } from './recorder.js';

/** One value an outsider must not learn, with what it is, for the failure message. */
export interface KnownSecret {
  /** The category a test asserts on: `fob hash key`, `token`, `fob hash`, `email`, `name`, `balance`, `address`. */
  kind: string;
  /** What it is, e.g. `fob hash key (base64url)` or `email of Ada Quellmorrow`. */
  label: string;
  value: string;
}

export interface Leak {
  secret: KnownSecret;
  /** Topics of the messages whose topic or payload held it, with how many each (retained ones marked). */
  topics: Map<string, number>;
  /** Found in the raw socket bytes; always true when found in a message. */
  inRawBytes: boolean;
}

/** Searches every recorded message and the raw socket bytes for each value. */
export function findLeaks(recorder: Recorder, secrets: readonly KnownSecret[]): Leak[] {
  const raw = recorder.rawBytes();
  const leaks: Leak[] = [];
  for (const secret of secrets) {
    const needle = Buffer.from(secret.value, 'utf8');
    const topics = new Map<string, number>();
    for (const message of recorder.messages()) {
      if (containsWhole(message.payload, needle) || message.topic.includes(secret.value)) {
        const where = message.retained ? `${message.topic} (retained)` : message.topic;
        topics.set(where, (topics.get(where) ?? 0) + 1);
      }
    }
    const inRawBytes = containsWhole(raw, needle);
    if (inRawBytes || topics.size > 0) leaks.push({ secret, topics, inRawBytes });
  }
  return leaks;
}

/** Whether `needle` occurs in `haystack` not followed by a digit, so `"balanceCents":758` is not found in `…:7585`. */
function containsWhole(haystack: Buffer, needle: Buffer): boolean {
  const endsWithDigit = /\d$/.test(needle.toString('utf8'));
  for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + 1)) {
    const next = haystack[at + needle.length];
    if (!endsWithDigit || next === undefined || next < 0x30 || next > 0x39) return true;
  }
  return false;
}

/** `fob hash key (base64url) seen on dctrl/private/front-door/reply/01K… (1 message)`, one line per leak. */
export function describeLeaks(leaks: readonly Leak[]): string {
  return leaks
    .map(({ secret, topics }) => {
      const where =
        topics.size === 0
          ? 'in the raw bytes (split across messages)'
          : [...topics].map(([topic, count]) => `${topic} (${count} message${count === 1 ? '' : 's'})`).join(', ');
      return `${secret.label} seen on ${where}`;
    })
    .join('\n');
}

/** The leaks of one kind, as a failure message that names each value's label and topics. */
export function leaksOfKind(leaks: readonly Leak[], kind: string): string {
  return describeLeaks(leaks.filter((leak) => leak.secret.kind === kind));
}

/** A secret's bytes in every text form the code base writes them: hex, base64, base64url. */
export function encodings(kind: string, label: string, bytes: Buffer): KnownSecret[] {
  const forms = new Map<string, string[]>();
  for (const encoding of ['hex', 'base64', 'base64url'] as const) {
    // Padding dropped: the unpadded form is found inside the padded one too.
    const value = bytes.toString(encoding).replace(/=+$/, '');
    forms.set(value, [...(forms.get(value) ?? []), encoding]);
  }
  return [...forms].map(([value, names]) => ({ kind, label: `${label} (${names.join(' = ')})`, value }));
}
