// What MemberMail reads from the other services over the bus: the space's policies, members and their status,
// statements and the ledger (from the Reporter), member facts (from MemberData), deposit addresses and payouts.
import type { BusClient } from '../auth-proxy/index.js';
import type { PayloadOf } from '../core/contract.js';
import { DctrlError } from '../core/errors.js';
import { DepositAddress } from '../core/messages-chain.js';
import { PayoutGet, type PayoutRecord } from '../core/messages-payout.js';
import { MemberEvents, MemberQuery, ReportRequest, SettingsGet } from '../core/messages.js';
import { MemberMailError } from './errors.js';

export const PAGE_SIZE = 200;

export interface SpacePolicies {
  name: string;
  currency: string;
  timezone: string;
  graceDays: number;
  tiers: Record<string, { name: string; monthlyDuesCents: number }>;
}

export interface MemberRecord {
  memberId: string;
  name: string;
  email: string;
  tier: string;
  status: 'member' | 'left';
  joinedAt: number;
}

/** A member as the Reporter sees them: status, balance, and when grace ends for dues still unpaid. */
export interface MemberLine {
  memberId: string;
  name: string;
  email: string;
  tier: string;
  status: 'active' | 'inactive' | 'left';
  reason: string;
  exempt: boolean;
  balanceCents: number;
  graceEndsAt: number | null;
}

export interface LedgerEntry {
  id: string;
  at: number;
  month: string;
  kind: string;
  memberId: string | null;
  cents: number;
  currency: string;
  method: 'cash' | 'bitcoin' | 'balance' | null;
  sats: number | null;
  rate: { centsPerBtc: number; source: string; at: number } | null;
  causedBy: string;
  detail: Record<string, unknown>;
}

export interface Statement {
  member: MemberLine;
  month: string | null;
  openingCents: number;
  closingCents: number;
  entries: (LedgerEntry & { balanceCents: number })[];
  next: string | null;
}

export interface MemberEvent {
  id: string;
  memberId: string;
  event: Record<string, unknown>;
  recordedAt: number;
}

export interface DepositFacts {
  address: string;
  uri: string;
}

export class Upstream {
  readonly #bus: () => BusClient;

  constructor(bus: () => BusClient) {
    this.#bus = bus;
  }

  async policies(): Promise<SpacePolicies> {
    const reply = await this.#ask('BusinessData', () => this.#bus().request(SettingsGet, {}));
    const { policies, tiers } = reply as {
      policies: { spaceName: string; currency: string; timezone: string; graceDays: number };
      tiers: Record<string, { name: string; monthlyDuesCents: number }>;
    };
    return {
      name: policies.spaceName,
      currency: policies.currency,
      timezone: policies.timezone,
      graceDays: policies.graceDays,
      tiers,
    };
  }

  /** @throws MemberMailError MEMBER_MAIL_UNKNOWN_MEMBER when MemberData has no such member. */
  async member(memberId: string): Promise<MemberRecord> {
    const reply = (await this.#ask('MemberData', () => this.#bus().request(MemberQuery, { memberId, includeLeft: true }))) as {
      members: MemberRecord[];
    };
    const member = reply.members.find((candidate) => candidate.memberId === memberId);
    if (!member) throw new MemberMailError('MEMBER_MAIL_UNKNOWN_MEMBER', `MemberData has no member ${memberId}`);
    return member;
  }

  async memberEvents(afterId: string | undefined): Promise<{ events: MemberEvent[]; more: boolean }> {
    return (await this.#ask('MemberData', () =>
      this.#bus().request(MemberEvents, { limit: PAGE_SIZE, ...(afterId !== undefined ? { afterId } : {}) }),
    )) as { events: MemberEvent[]; more: boolean };
  }

  /** The Reporter's line for every member who has not left, a page at a time. */
  async members(after: string | undefined): Promise<{ members: MemberLine[]; next: string | null }> {
    const reply = await this.#report({ report: 'members', limit: PAGE_SIZE, ...(after !== undefined ? { after } : {}) });
    return { members: (reply.json as { members: MemberLine[] }).members, next: reply.next };
  }

  async memberLine(memberId: string): Promise<MemberLine> {
    return (await this.statement(memberId, undefined, undefined, 1)).member;
  }

  async statement(memberId: string, month: string | undefined, after: string | undefined, limit = PAGE_SIZE): Promise<Statement> {
    const reply = await this.#report({
      report: 'statement',
      memberId,
      limit,
      ...(month !== undefined ? { month } : {}),
      ...(after !== undefined ? { after } : {}),
    });
    return reply.json as Statement;
  }

  async ledger(after: string | undefined): Promise<{ entries: LedgerEntry[]; next: string | null }> {
    const reply = await this.#report({ report: 'ledger', limit: PAGE_SIZE, ...(after !== undefined ? { after } : {}) });
    return { entries: (reply.json as { entries: LedgerEntry[] }).entries, next: reply.next };
  }

  async deposit(memberId: string): Promise<DepositFacts> {
    const reply = (await this.#ask('the ChainNotifier', () => this.#bus().request(DepositAddress, { memberId }))) as DepositFacts;
    return { address: reply.address, uri: reply.uri };
  }

  /** A payout as PayoutMgr has it: whom it paid, how much, why and in which transaction. */
  async payout(payoutId: string): Promise<PayoutRecord> {
    const reply = (await this.#ask('PayoutMgr', () => this.#bus().request(PayoutGet, { payoutId }))) as { payout: PayoutRecord };
    return reply.payout;
  }

  async #report(payload: PayloadOf<typeof ReportRequest>): Promise<{ json: unknown; next: string | null }> {
    return (await this.#ask('the Reporter', () => this.#bus().request(ReportRequest, payload))) as {
      json: unknown;
      next: string | null;
    };
  }

  async #ask(who: string, request: () => Promise<unknown>): Promise<unknown> {
    try {
      return await request();
    } catch (error) {
      if (error instanceof DctrlError && /_(UNKNOWN_MEMBER|MEMBER_UNKNOWN|NOT_FOUND)$/.test(error.code)) {
        throw new MemberMailError('MEMBER_MAIL_UNKNOWN_MEMBER', `${who}: ${error.message}`, { cause: error });
      }
      const why = error instanceof DctrlError ? `${error.code}: ${error.message}` : String(error);
      throw new MemberMailError('MEMBER_MAIL_UPSTREAM_UNAVAILABLE', `${who} did not answer: ${why}`, { cause: error });
    }
  }
}
