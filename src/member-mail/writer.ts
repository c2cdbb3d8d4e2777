// Writes each kind of mail: gathers the member's data as it is now, renders the templates, attaches the deposit
// QR code, and names the mail by its idempotency key so it is made once.
import QRCode from 'qrcode';
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import type { Config } from '../core/config.js';
import type { MailKind } from '../core/messages-mail.js';
import type { PayoutRecord } from '../core/messages-payout.js';
import type { Deposit, MailContext, MemberFacts, SpaceFacts } from './mail-kinds.js';
import { mailKeys, type MailAttachment, type NewMail } from './outbox.js';
import { daysLeft, latestStatementPeriod } from './schedule.js';
import type { MailTemplates } from './templates.js';
import { MemberMailError } from './errors.js';
import type { LedgerEntry, MemberLine, MemberRecord, SpacePolicies, Upstream } from './upstream.js';

/** Statements list at most this many entries of the month; the rest are counted. */
export const STATEMENT_ENTRIES_SHOWN = 50;
const QR_CID = 'deposit-qr@dctrl';
const POLICIES_TTL_MS = 60_000;
/** As the outbox shows it; a longer subject from a template is cut. */
const MAX_SUBJECT_LENGTH = 400;
const emailAddress = z.email();

/** One plain address: no list, no display name, nothing a header could be bent with. */
export function isEmailAddress(text: string): boolean {
  return emailAddress.safeParse(text).success;
}

export interface WriterOptions {
  settings: Config['memberMail'];
  clock: Clock;
  upstream: Upstream;
  templates: () => MailTemplates;
}

export class MailWriter {
  readonly #options: WriterOptions;
  #cachedPolicies: { at: number; policies: SpacePolicies } | undefined;

  constructor(options: WriterOptions) {
    this.#options = options;
  }

  async welcome(memberId: string, eventId: string, rejoined: boolean): Promise<NewMail> {
    const { space, policies, member, record } = await this.#memberData(memberId);
    const tier = policies.tiers[record.tier];
    return this.#write('welcome', mailKeys.welcome(memberId, eventId), {
      space,
      member,
      madeAt: this.#now(),
      deposit: await this.#deposit(memberId),
      dues: tier ? { tierName: tier.name, monthlyCents: tier.monthlyDuesCents } : null,
      rejoined,
    });
  }

  /** A receipt for a payment entry, with the member's balance right after it. */
  async receipt(entry: LedgerEntry & { memberId: string }, balanceAfterCents?: number): Promise<NewMail> {
    const { space, member } = await this.#memberData(entry.memberId);
    const txid = entry.method === 'bitcoin' ? (/^[0-9a-f]{64}/.exec(entry.causedBy)?.[0] ?? null) : null;
    return this.#write('receipt', mailKeys.receipt(entry.memberId, entry.id), {
      space,
      member,
      madeAt: this.#now(),
      payment: {
        id: entry.id,
        at: entry.at,
        cents: entry.cents,
        method: entry.method === 'bitcoin' ? 'bitcoin' : 'cash',
        sats: entry.sats,
        centsPerBtc: entry.rate?.centsPerBtc ?? null,
        txid,
        note: typeof entry.detail.note === 'string' ? entry.detail.note : null,
      },
      balanceAfterCents: balanceAfterCents ?? (await this.#balanceAfter(entry)),
    });
  }

  /** The notice to a member that a payout to them was sent and confirmed, once per payout. */
  async payout(payout: PayoutRecord & { memberId: string; txid: string }, cents: number): Promise<NewMail> {
    const { space, member } = await this.#memberData(payout.memberId);
    return this.#write('payout', mailKeys.payout(payout.memberId, payout.id), {
      space,
      member,
      madeAt: this.#now(),
      payout: { id: payout.id, cents, sats: payout.sats, txid: payout.txid, address: payout.address, reason: payout.reason },
    });
  }

  /** Null when the member joined at or after `onlyJoinedBefore` (a statement of a month before they were one). */
  async statement(memberId: string, month: string, onlyJoinedBefore?: number): Promise<NewMail | null> {
    const { space, member, record } = await this.#memberData(memberId);
    if (onlyJoinedBefore !== undefined && record.joinedAt >= onlyJoinedBefore) return null;
    const { upstream } = this.#options;
    const entries: MailContext['statement']['entries'] = [];
    let count = 0;
    let page = await upstream.statement(memberId, month, undefined);
    const { openingCents, closingCents } = page;
    for (;;) {
      for (const entry of page.entries) {
        count += 1;
        if (entries.length < STATEMENT_ENTRIES_SHOWN) {
          entries.push({
            at: entry.at,
            kind: entry.kind,
            description: describe(entry),
            cents: entry.cents,
            balanceCents: entry.balanceCents,
          });
        }
      }
      if (page.next === null) break;
      page = await upstream.statement(memberId, month, page.next);
    }
    return this.#write('statement', mailKeys.statement(memberId, month), {
      space,
      member,
      madeAt: this.#now(),
      period: { month },
      openingCents,
      closingCents,
      entries,
      moreEntries: count - entries.length,
      deposit: await this.#deposit(memberId),
    });
  }

  async reminder(line: MemberLine & { graceEndsAt: number }): Promise<NewMail> {
    const { space, member } = await this.#memberData(line.memberId);
    return this.#write('reminder', mailKeys.reminder(line.memberId, line.graceEndsAt), {
      space,
      member,
      madeAt: this.#now(),
      ...graceFacts(line),
      daysLeft: daysLeft(this.#now(), line.graceEndsAt, space.timezone),
      deposit: await this.#deposit(line.memberId),
    });
  }

  async deactivation(line: MemberLine & { graceEndsAt: number }): Promise<NewMail> {
    const { space, member } = await this.#memberData(line.memberId);
    return this.#write('deactivation', mailKeys.deactivation(line.memberId, line.graceEndsAt), {
      space,
      member,
      madeAt: this.#now(),
      ...graceFacts(line),
      deposit: await this.#deposit(line.memberId),
    });
  }

  /** The zone of the schedules and of dates in mails: memberMail.timezone, else the space's policy. */
  async timezone(): Promise<string> {
    return this.#options.settings.timezone ?? (await this.#policies()).timezone;
  }

  /** The mail a member would get now, for `dctrl mail preview`; a payout notice shows a sample payout. */
  async preview(kind: MailKind, memberId: string): Promise<NewMail> {
    const { upstream } = this.#options;
    switch (kind) {
      case 'welcome':
        return this.welcome(memberId, 'preview', false);
      case 'receipt': {
        const statement = await upstream.statement(memberId, undefined, undefined);
        const payment = statement.entries.filter((entry) => entry.kind === 'payment').at(-1);
        if (payment) return this.receipt({ ...payment, memberId }, payment.balanceCents);
        const example = examplePayment(memberId, this.#now(), (await this.#policies()).currency);
        return this.receipt(example, statement.closingCents + example.cents);
      }
      case 'statement': {
        const { month } = latestStatementPeriod(this.#now(), await this.timezone(), 0);
        return (await this.statement(memberId, month))!;
      }
      case 'reminder':
      case 'deactivation': {
        const line = await upstream.memberLine(memberId);
        const graceEndsAt = line.graceEndsAt ?? this.#now();
        return kind === 'reminder' ? this.reminder({ ...line, graceEndsAt }) : this.deactivation({ ...line, graceEndsAt });
      }
      case 'payout': {
        const { space, member } = await this.#memberData(memberId);
        return this.#write('payout', mailKeys.payout(memberId, 'preview'), {
          space,
          member,
          madeAt: this.#now(),
          payout: {
            id: 'preview',
            cents: 4_200,
            sats: 7_000,
            txid: '0'.repeat(64),
            address: 'bc1q…',
            reason: 'an example payout',
          },
        });
      }
    }
  }

  async #write<K extends MailKind>(kind: K, key: string, context: MailContext[K]): Promise<NewMail> {
    const rendered = this.#options.templates().render(kind, context);
    const attachments: MailAttachment[] = [];
    const deposit = (context as { deposit?: Deposit | null }).deposit;
    if (deposit) attachments.push(await qrAttachment(deposit));
    const to = context.member.email.trim();
    const subject = rendered.subject.slice(0, MAX_SUBJECT_LENGTH);
    const mail: NewMail = { key, kind, memberId: context.member.id, to, ...rendered, subject, attachments };
    if (!isEmailAddress(to)) {
      mail.failure = {
        code: 'MEMBER_MAIL_NO_ADDRESS',
        message:
          to === ''
            ? `member ${context.member.id} has no email address; record one (dctrl member email) and retry this mail`
            : `"${to.slice(0, 80)}" (member ${context.member.id}) is not an email address; fix it and retry this mail`,
      };
    }
    return mail;
  }

  async #memberData(
    memberId: string,
  ): Promise<{ space: SpaceFacts; policies: SpacePolicies; member: MemberFacts; record: MemberRecord }> {
    const { upstream } = this.#options;
    const policies = await this.#policies();
    const record = await upstream.member(memberId);
    // A member who joined a moment ago may not be in the Reporter's books yet; anything else is a reason to wait.
    const line = await upstream.memberLine(memberId).catch((error: unknown) => {
      if (error instanceof MemberMailError && error.code === 'MEMBER_MAIL_UNKNOWN_MEMBER') return undefined;
      throw error;
    });
    const member: MemberFacts = {
      id: record.memberId,
      name: record.name,
      email: record.email,
      tier: policies.tiers[record.tier]?.name ?? record.tier,
      status: line?.status ?? (record.status === 'left' ? 'left' : 'active'),
      balanceCents: line?.balanceCents ?? 0,
    };
    return { space: this.#spaceOf(policies), policies, member, record };
  }

  /** The policies, asked again after a minute: a statement run writes a mail per member. */
  async #policies(): Promise<SpacePolicies> {
    const now = this.#now();
    if (!this.#cachedPolicies || now - this.#cachedPolicies.at >= POLICIES_TTL_MS || now < this.#cachedPolicies.at) {
      this.#cachedPolicies = { at: now, policies: await this.#options.upstream.policies() };
    }
    return this.#cachedPolicies.policies;
  }

  /** Dates in mails are in the space's zone, where grace ends at midnight. */
  #spaceOf(policies: SpacePolicies): SpaceFacts {
    return { name: policies.name, currency: policies.currency, timezone: policies.timezone };
  }

  async #deposit(memberId: string): Promise<Deposit | null> {
    if (!this.#options.settings.depositAddresses) return null;
    const deposit = await this.#options.upstream.deposit(memberId);
    return { address: deposit.address, uri: deposit.uri, qrCid: QR_CID };
  }

  /** The balance right after the entry, from the member's statement of that month. */
  async #balanceAfter(entry: LedgerEntry & { memberId: string }): Promise<number> {
    let after: string | undefined;
    do {
      const page = await this.#options.upstream.statement(entry.memberId, entry.month, after);
      const found = page.entries.find((candidate) => candidate.id === entry.id);
      if (found) return found.balanceCents;
      after = page.next ?? undefined;
    } while (after !== undefined);
    return (await this.#options.upstream.memberLine(entry.memberId)).balanceCents;
  }

  #now(): number {
    return this.#options.clock.now();
  }
}

/** When grace ends, the last day to pay (the day before that midnight) and what is owed. */
function graceFacts(line: MemberLine & { graceEndsAt: number }): {
  graceEndsAt: number;
  lastDayToPay: number;
  owedCents: number;
} {
  return { graceEndsAt: line.graceEndsAt, lastDayToPay: line.graceEndsAt - 1, owedCents: Math.max(0, -line.balanceCents) };
}

async function qrAttachment(deposit: Deposit): Promise<MailAttachment> {
  const png = await QRCode.toBuffer(deposit.uri, { type: 'png', errorCorrectionLevel: 'M', margin: 2, width: 240 });
  return { filename: 'deposit-address.png', contentType: 'image/png', cid: deposit.qrCid, contentBase64: png.toString('base64') };
}

function describe(entry: LedgerEntry): string {
  const product = typeof entry.detail.product === 'string' ? ` (${entry.detail.product})` : '';
  const note = typeof entry.detail.note === 'string' ? `: ${entry.detail.note}` : '';
  switch (entry.kind) {
    case 'dues':
      return `Dues for ${entry.month}`;
    case 'payment':
      return `Payment${entry.method ? ` (${entry.method})` : ''}${note}`;
    case 'purchase':
      return `Purchase${product}`;
    case 'adjustment':
      return `Adjustment${note}`;
    default:
      return `${entry.kind[0]!.toUpperCase()}${entry.kind.slice(1)}${note}`;
  }
}

function examplePayment(memberId: string, at: number, currency: string): LedgerEntry & { memberId: string } {
  return {
    id: 'preview',
    at,
    month: '',
    kind: 'payment',
    memberId,
    cents: 7_500,
    currency,
    method: 'cash',
    sats: null,
    rate: null,
    causedBy: 'preview',
    detail: { note: 'an example payment (this member has none yet)' },
  };
}
