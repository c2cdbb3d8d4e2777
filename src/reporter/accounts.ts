// A member's account as the Reporter derives it: member facts and ledger entries in, balance and status out.
// Pure functions of what was recorded and of one instant, so a rebuild comes out identical.

/** A debit not yet covered by credits; credits pay the oldest first. */
export interface UnpaidDebit {
  entryId: string;
  remainingCents: number;
  /** When leaving it unpaid makes the member inactive (the end of grace for dues); null never does. */
  dueAt: number | null;
}

export interface Account {
  memberId: string;
  name: string;
  email: string;
  tier: string;
  current: boolean;
  exempt: boolean;
  groups: string[];
  badges: string[];
  joinedAt: number;
  balanceCents: number;
  /** Credit not yet spent on a debit (a prepayment). */
  surplusCents: number;
  unpaid: UnpaidDebit[];
}

export type StatusReason = 'member' | 'exempt' | 'dues-overdue' | 'left';

export interface Status {
  active: boolean;
  reason: StatusReason;
  /** The earliest end of grace among unpaid debits, for finding members whose grace ends next. */
  nextDueAt: number | null;
}

/** A member fact as MemberData records it: its type and that type's fields. */
export type MemberFact = { type: string } & Record<string, unknown>;

function text(fact: MemberFact, field: string): string {
  const value = fact[field];
  return typeof value === 'string' ? value : '';
}

/** Applies one member fact; returns undefined only for a fact about a member who never joined. */
export function applyMemberFact(
  account: Account | undefined,
  memberId: string,
  fact: MemberFact,
  at: number,
): Account | undefined {
  if (fact.type === 'joined') {
    return {
      memberId,
      name: text(fact, 'name'),
      email: text(fact, 'email'),
      tier: text(fact, 'tier'),
      current: true,
      exempt: false,
      groups: [],
      badges: [],
      joinedAt: at,
      balanceCents: account?.balanceCents ?? 0,
      surplusCents: account?.surplusCents ?? 0,
      unpaid: account?.unpaid ?? [],
    };
  }
  if (!account) return undefined;
  switch (fact.type) {
    case 'email-changed':
      account.email = text(fact, 'email');
      break;
    case 'tier-changed':
      account.tier = text(fact, 'tier');
      break;
    case 'exempt-set':
      account.exempt = true;
      break;
    case 'exempt-cleared':
      account.exempt = false;
      break;
    case 'left':
      account.current = false;
      account.groups = [];
      break;
    case 'rejoined':
      account.current = true;
      break;
    case 'group-added':
      account.groups = addSorted(account.groups, text(fact, 'group'));
      break;
    case 'group-removed':
      account.groups = account.groups.filter((group) => group !== text(fact, 'group'));
      break;
    case 'badge-awarded':
      account.badges = addSorted(account.badges, text(fact, 'badge'));
      break;
    case 'badge-revoked':
      account.badges = account.badges.filter((badge) => badge !== text(fact, 'badge'));
      break;
    default:
      // Fobs and anything newer are MemberData's business, not the accounts'.
      break;
  }
  return account;
}

function addSorted(list: string[], value: string): string[] {
  return list.includes(value) ? list : [...list, value].sort();
}

/** Applies a ledger entry's effect on the member's balance (mutates: rebuilds apply a million of these). */
export function applyEntry(account: Account, entryId: string, cents: number, dueAt: number | null): void {
  account.balanceCents += cents;
  if (cents > 0) {
    let credit = cents;
    while (credit > 0 && account.unpaid.length > 0) {
      const oldest = account.unpaid[0]!;
      const paid = Math.min(credit, oldest.remainingCents);
      oldest.remainingCents -= paid;
      credit -= paid;
      if (oldest.remainingCents === 0) account.unpaid.shift();
    }
    account.surplusCents += credit;
  } else if (cents < 0) {
    const covered = Math.min(account.surplusCents, -cents);
    account.surplusCents -= covered;
    const remaining = -cents - covered;
    if (remaining > 0) account.unpaid.push({ entryId, remainingCents: remaining, dueAt });
  }
}

/** The member's status at the instant `at`: the only place time enters, and it is passed in. */
export function statusAt(account: Account, at: number): Status {
  let nextDueAt: number | null = null;
  for (const debit of account.unpaid) {
    if (debit.dueAt !== null && (nextDueAt === null || debit.dueAt < nextDueAt)) nextDueAt = debit.dueAt;
  }
  if (!account.current) return { active: false, reason: 'left', nextDueAt };
  if (account.exempt) return { active: true, reason: 'exempt', nextDueAt };
  if (nextDueAt !== null && nextDueAt <= at) return { active: false, reason: 'dues-overdue', nextDueAt };
  return { active: true, reason: 'member', nextDueAt };
}

/** The sub-groups a current member belongs to: everyone, their tier, exemption, granted groups and badges. */
export function groupsOf(account: Account): string[] {
  if (!account.current) return [];
  const groups = ['members', `tier:${account.tier}`, ...account.groups, ...account.badges.map((badge) => `badge:${badge}`)];
  if (account.exempt) groups.push('exempt');
  return groups;
}
