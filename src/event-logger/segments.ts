// Segment files of the log: named after their first sequence number, so name order is log order.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const SEGMENT_PATTERN = /^segment-(\d{12})\.jsonl$/;

export interface SegmentFile {
  path: string;
  name: string;
  firstSeq: number;
}

export function segmentName(firstSeq: number): string {
  return `segment-${String(firstSeq).padStart(12, '0')}.jsonl`;
}

export function listSegments(dir: string): SegmentFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((name) => ({ name, match: SEGMENT_PATTERN.exec(name) }))
    .filter((entry): entry is { name: string; match: RegExpExecArray } => entry.match !== null)
    .map(({ name, match }) => ({ path: join(dir, name), name, firstSeq: Number(match[1]) }))
    .sort((a, b) => a.firstSeq - b.firstSeq);
}

/** Splits a segment's text into lines, keeping whether the last one was complete. */
export function splitLines(text: string): { lines: string[]; tornTail: string | undefined } {
  const parts = text.split('\n');
  const tail = parts.pop();
  return { lines: parts, tornTail: tail === '' || tail === undefined ? undefined : tail };
}
