// The in-memory picture the tap path decides from: members with their fobs, status, balance and groups, and the
// space's policies and products. Rebuilt from MemberData, the Reporter and BusinessData; kept live by their events.
import { z } from 'zod';
import { doorWindow } from '../core/messages-machine.js';
import { fobKey, type DoorWindow } from '../core/door-access.js';

export interface CachedMember {
  memberId: string;
  /** Active by the Reporter: dues paid (or in grace, or exempt) and not left. Unknown members start inactive. */
  active: boolean;
  left: boolean;
  balanceCents: number;
  /** As the Reporter reports them: members, tier:<tier>, granted groups, badge:<b>, exempt. */
  groups: string[];
  fobs: { hash: string; lastDigits: string }[];
}

/** What MemberData says about a member (MemberQuery and member-data.changed). */
export interface MemberFacts {
  memberId: string;
  tier: string;
  exempt: boolean;
  status: 'member' | 'left';
  fobs: { fobHash: string; lastDigits: string }[];
  groups: string[];
  badges: string[];
}

/** One line of the Reporter's members report. */
export interface MemberLine {
  memberId: string;
  status: 'active' | 'inactive' | 'left';
  balanceCents: number;
  groups: string[];
}

export interface SpacePolicies {
  doorHours: Record<string, DoorWindow[]>;
  keyholderGroups: string[];
  creditLimitCents: number;
  timezone: string;
  currency: string;
}

const productSchema = z.object({
  name: z.string(),
  priceCents: z.int().nonnegative(),
  machine: z.string(),
  output: z.string(),
  active: z.boolean().default(true),
});
export type Product = z.infer<typeof productSchema>;

const policiesSchema = z.object({
  doorHours: z.record(z.string(), z.array(doorWindow)).default({}),
  keyholderGroups: z.array(z.string()).default([]),
  creditLimitCents: z.int().nonnegative().default(0),
  timezone: z.string().min(1).default('UTC'),
  currency: z.string().length(3).default('CAD'),
});

/** The policies BusinessMgr needs out of BusinessData's answer; anything it cannot read falls back safely. */
export function readPolicies(policies: Record<string, unknown>): SpacePolicies {
  return policiesSchema.parse({
    doorHours: policies['doorHours'],
    keyholderGroups: policies['keyholderGroups'],
    creditLimitCents: policies['creditLimitCents'],
    timezone: policies['timezone'],
    currency: policies['currency'],
  });
}

/** Products keyed as BusinessData keys them; one that does not read as a product is left out. */
export function readProducts(products: Record<string, unknown>): Map<string, Product> {
  const result = new Map<string, Product>();
  for (const [key, value] of Object.entries(products)) {
    const parsed = productSchema.safeParse(value);
    if (parsed.success) result.set(key, parsed.data);
  }
  return result;
}

/** The groups the Reporter computes from member facts, for use until its own line arrives. */
export function groupsFromFacts(facts: MemberFacts): string[] {
  if (facts.status === 'left') return [];
  const groups = ['members', `tier:${facts.tier}`, ...facts.groups, ...facts.badges.map((badge) => `badge:${badge}`)];
  if (facts.exempt) groups.push('exempt');
  return groups;
}

export class MemberCache {
  readonly #members = new Map<string, CachedMember>();
  readonly #balanceStamps = new Map<string, number>();
  readonly #byFob = new Map<string, string>();
  readonly #byFobKey = new Map<string, string>();
  policies: SpacePolicies | undefined;
  products = new Map<string, Product>();

  /** Whether every source has been read at least once. */
  get ready(): boolean {
    return this.policies !== undefined && this.#loaded;
  }
  #loaded = false;
  /** The members before a rebuild, so what only the cache remembers (a leaver's fobs) survives it. */
  #before: Map<string, CachedMember> | undefined;

  /** Replaces the members with a fresh snapshot of MemberData's facts and the Reporter's lines. */
  load(facts: readonly MemberFacts[], lines: readonly MemberLine[]): void {
    const byId = new Map(lines.map((line) => [line.memberId, line]));
    this.#before = new Map(this.#members);
    this.#members.clear();
    this.#byFob.clear();
    this.#byFobKey.clear();
    for (const fact of facts) {
      this.applyFacts(fact);
      const line = byId.get(fact.memberId);
      if (line) this.applyLine(line);
    }
    this.#before = undefined;
    this.#loaded = true;
  }

  member(memberId: string): CachedMember | undefined {
    return this.#members.get(memberId);
  }

  members(): IterableIterator<CachedMember> {
    return this.#members.values();
  }

  /** The member holding a fob (by its full keyed hash), if any current member does. */
  byFob(hash: string): CachedMember | undefined {
    const memberId = this.#byFob.get(hash);
    return memberId === undefined ? undefined : this.#members.get(memberId);
  }

  /** The member whose fob starts with this allow-list key (offline logs carry only the key). */
  byFobKey(key: string): CachedMember | undefined {
    const memberId = this.#byFobKey.get(key);
    return memberId === undefined ? undefined : this.#members.get(memberId);
  }

  /** MemberData's facts: fobs, left or not, and the groups they imply (until the Reporter's line says better). */
  applyFacts(facts: MemberFacts): void {
    const previous = this.#members.get(facts.memberId) ?? this.#before?.get(facts.memberId);
    for (const fob of previous?.fobs ?? []) {
      if (this.#byFob.get(fob.hash) === facts.memberId) this.#byFob.delete(fob.hash);
      if (this.#byFobKey.get(fobKey(fob.hash)) === facts.memberId) this.#byFobKey.delete(fobKey(fob.hash));
    }
    const left = facts.status === 'left';
    const member: CachedMember = {
      memberId: facts.memberId,
      active: left ? false : (previous?.active ?? false),
      left,
      balanceCents: previous?.balanceCents ?? 0,
      groups: groupsFromFacts(facts),
      // MemberData takes a leaver's fobs away; the cache keeps the ones it knew so a tap says "left" rather than
      // "unknown-fob" (until the next rebuild). No allow-list carries them.
      fobs:
        left && facts.fobs.length === 0
          ? (previous?.fobs ?? [])
          : facts.fobs.map((fob) => ({ hash: fob.fobHash, lastDigits: fob.lastDigits })),
    };
    this.#members.set(facts.memberId, member);
    for (const fob of member.fobs) {
      this.#index(this.#byFob, fob.hash, member);
      this.#index(this.#byFobKey, fobKey(fob.hash), member);
    }
  }

  /** A fob handed on after its holder left belongs to the current member, whatever order they were read in. */
  #index(index: Map<string, string>, key: string, member: CachedMember): void {
    const holder = index.get(key);
    const current = holder === undefined ? undefined : this.#members.get(holder);
    if (member.left && current && !current.left && current.memberId !== member.memberId) return;
    index.set(key, member.memberId);
  }

  /** The Reporter's view: active or not, balance and groups. A member MemberData has not told of is not added. */
  applyLine(line: MemberLine, readAt?: number): void {
    const member = this.#members.get(line.memberId);
    if (!member) return;
    member.active = line.status === 'active';
    if (line.status === 'left') member.active = false;
    // A line read before a balance event arrived is older than that event: its balance must not undo it.
    if (readAt === undefined || this.balanceStamp(line.memberId) === readAt) member.balanceCents = line.balanceCents;
    member.groups = [...line.groups];
  }

  applyStatus(memberId: string, active: boolean, balanceCents: number, groups: readonly string[]): void {
    const member = this.#members.get(memberId);
    if (!member) return;
    member.active = active && !member.left;
    this.#setBalance(member, balanceCents);
    member.groups = [...groups];
  }

  applyBalance(memberId: string, balanceCents: number): void {
    const member = this.#members.get(memberId);
    if (member) this.#setBalance(member, balanceCents);
  }

  /** How many balance events this member has had: taken before reading a line, so a stale line is known. */
  balanceStamp(memberId: string): number {
    return this.#balanceStamps.get(memberId) ?? 0;
  }

  #setBalance(member: CachedMember, balanceCents: number): void {
    member.balanceCents = balanceCents;
    this.#balanceStamps.set(member.memberId, this.balanceStamp(member.memberId) + 1);
  }
}
