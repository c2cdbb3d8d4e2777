// What makes a mail: new members and rejoins (welcome), payments (receipt), grace running out (reminder),
// deactivation (notice), the 1st of the month (statement). Each is read from what the services recorded, from a
// stored cursor or as state, so mail missed while MemberMail was down is made when it is back, and never twice.
import { encodeTime } from 'ulid';
import type { Clock } from '../core/clock.js';
import type { Config } from '../core/config.js';
import type { IdFactory } from '../core/ids.js';
import type { Logger } from '../core/logger.js';
import type { OutboxMail } from '../core/messages-mail.js';
import { MemberMailError } from './errors.js';
import { mailKeys, type MarkRow, type NewMail, type OutboxStore } from './outbox.js';
import { latestStatementPeriod, monthEnd, reminderDueAt } from './schedule.js';
import type { MemberLine, Upstream } from './upstream.js';
import type { MailWriter } from './writer.js';

const MARK_INSTALLED = 'installed-at';
const CURSOR_MEMBER_EVENTS = 'cursor:member-events';
const CURSOR_LEDGER = 'cursor:ledger';
/** PayoutMgr books each payout with this cause (its fee with another, which brings no mail). */
const PAYOUT_CAUSE = /^payout:([0-9A-HJKMNP-TV-Z]{26})$/;
const statementsMark = (month: string) => `statements:${month}`;
/** How far back statements missed while MemberMail was down are still made. */
const MAX_MISSED_MONTHS = 12;
/** Set while a member is inactive and was told so, so one lapse brings one notice. */
const noticeMark = (memberId: string) => `deactivation-notice:${memberId}`;

export interface TriggerOptions {
  store: OutboxStore;
  writer: MailWriter;
  upstream: Upstream;
  clock: Clock;
  settings: Config['memberMail'];
  newId: IdFactory;
  messageIdDomain: string;
  logger: Logger;
  onMade: (mail: OutboxMail) => void;
}

export interface JobResult {
  made: number;
  alreadyMade: number;
  /** Lapses from before MemberMail was installed: no notice is made for them. */
  skipped: number;
}

export class Triggers {
  readonly #options: TriggerOptions;
  #installedAt: number | undefined;

  constructor(options: TriggerOptions) {
    this.#options = options;
  }

  /**
   * When MemberMail first ran here: nothing recorded before it brings a mail (a new installation does not
   * welcome every existing member or send receipts for old payments).
   */
  async installedAt(): Promise<number> {
    if (this.#installedAt !== undefined) return this.#installedAt;
    const { store, clock } = this.#options;
    const stored = await store.mark(MARK_INSTALLED);
    if (stored !== undefined) this.#installedAt = Number(stored);
    else {
      this.#installedAt = clock.now();
      await store.setMark(MARK_INSTALLED, String(this.#installedAt));
    }
    return this.#installedAt;
  }

  /** Welcome mails for members who joined or rejoined since the cursor. */
  async memberEvents(): Promise<number> {
    const { store, upstream, writer } = this.#options;
    const installedAt = await this.installedAt();
    let cursor = (await store.mark(CURSOR_MEMBER_EVENTS)) ?? idFloor(installedAt);
    let made = 0;
    for (;;) {
      const page = await upstream.memberEvents(cursor);
      for (const event of page.events) {
        const advance = { key: CURSOR_MEMBER_EVENTS, value: event.id };
        const type = event.event.type;
        if ((type === 'joined' || type === 'rejoined') && event.recordedAt >= installedAt) {
          const mail = await writer.welcome(event.memberId, event.id, type === 'rejoined');
          if (await this.#add(mail, advance)) made += 1;
        } else {
          await store.setMark(advance.key, advance.value);
        }
        cursor = event.id;
      }
      if (!page.more || page.events.length === 0) return made;
    }
  }

  /** Receipts for members' payments, and notices of payouts to members, recorded in the ledger since the cursor. */
  async payments(): Promise<number> {
    const { store, upstream, writer } = this.#options;
    let cursor = (await store.mark(CURSOR_LEDGER)) ?? idFloor(await this.installedAt());
    let made = 0;
    for (;;) {
      const page = await upstream.ledger(cursor);
      for (const entry of page.entries) {
        const advance = { key: CURSOR_LEDGER, value: entry.id };
        const payoutId = entry.kind === 'payout' ? PAYOUT_CAUSE.exec(entry.causedBy)?.[1] : undefined;
        if (entry.kind === 'payment' && entry.memberId !== null) {
          if (await this.#add(await writer.receipt({ ...entry, memberId: entry.memberId }), advance)) made += 1;
        } else if (payoutId !== undefined) {
          const mail = await this.#payoutNotice(payoutId, entry.cents);
          if (mail && (await this.#add(mail, advance))) made += 1;
          else if (!mail) await store.setMark(advance.key, advance.value);
        } else {
          await store.setMark(advance.key, advance.value);
        }
        cursor = entry.id;
      }
      if (page.next === null || page.entries.length === 0) return made;
    }
  }

  /** Reminders for members whose grace ends soon with dues unpaid, notices for those it ended for. */
  async statuses(): Promise<JobResult> {
    const result: JobResult = { made: 0, alreadyMade: 0, skipped: 0 };
    const { store, settings, writer, clock } = this.#options;
    const installedAt = await this.installedAt();
    const timezone = await writer.timezone();
    for await (const line of this.#members()) {
      const graceEndsAt = line.graceEndsAt;
      if (line.status === 'active') {
        if (await store.mark(noticeMark(line.memberId))) await store.deleteMark(noticeMark(line.memberId));
        if (graceEndsAt === null || line.exempt || line.balanceCents >= 0 || settings.reminderDaysBeforeGraceEnd === 0) continue;
        const now = clock.now();
        if (now < reminderDueAt(graceEndsAt, settings.reminderDaysBeforeGraceEnd, timezone) || now >= graceEndsAt) continue;
        const key = mailKeys.reminder(line.memberId, graceEndsAt);
        if (await store.has(key)) result.alreadyMade += 1;
        else if (await this.#add(await writer.reminder({ ...line, graceEndsAt }))) result.made += 1;
      } else if (line.status === 'inactive' && line.reason === 'dues-overdue' && graceEndsAt !== null) {
        if (graceEndsAt < installedAt) {
          result.skipped += 1;
          continue;
        }
        if ((await store.mark(noticeMark(line.memberId))) !== undefined) {
          result.alreadyMade += 1;
          continue;
        }
        const mark = { key: noticeMark(line.memberId), value: String(graceEndsAt) };
        if (await this.#add(await writer.deactivation({ ...line, graceEndsAt }), mark)) result.made += 1;
        else result.alreadyMade += 1;
      }
    }
    return result;
  }

  /**
   * The statements of the month just ended, once it is the 1st at memberMail.statementHour, and of any earlier
   * month whose 1st passed while MemberMail was down (up to a year back, not before it was installed), oldest first.
   * `force` runs the latest month's job again even when it ran; a mail already made is never made again.
   */
  async statements(force = false): Promise<JobResult & { month: string | null }> {
    const { store, settings, writer, clock } = this.#options;
    const timezone = await writer.timezone();
    const latest = latestStatementPeriod(clock.now(), timezone, settings.statementHour);
    if (force) return { ...(await this.#statementsOf(latest.month, timezone)), month: latest.month };
    const installedAt = await this.installedAt();
    const missed: string[] = [];
    for (let period = latest; missed.length < MAX_MISSED_MONTHS && period.dueAt >= installedAt;) {
      if ((await store.mark(statementsMark(period.month))) !== undefined) break;
      missed.unshift(period.month);
      period = latestStatementPeriod(period.dueAt - 1, timezone, settings.statementHour);
    }
    const total = { made: 0, alreadyMade: 0, skipped: 0 };
    for (const month of missed) {
      const result = await this.#statementsOf(month, timezone);
      total.made += result.made;
      total.alreadyMade += result.alreadyMade;
    }
    return { ...total, month: missed.at(-1) ?? null };
  }

  async #statementsOf(month: string, timezone: string): Promise<JobResult> {
    const { store, writer, clock, logger } = this.#options;
    const result = { made: 0, alreadyMade: 0, skipped: 0 };
    const periodEnd = monthEnd(month, timezone);
    for await (const line of this.#members()) {
      if (await store.has(mailKeys.statement(line.memberId, month))) {
        result.alreadyMade += 1;
        continue;
      }
      const mail = await writer.statement(line.memberId, month, periodEnd);
      if (mail && (await this.#add(mail))) result.made += 1;
    }
    await store.setMark(statementsMark(month), String(clock.now()));
    logger.info({ month, made: result.made, alreadyMade: result.alreadyMade }, 'statements made');
    return result;
  }

  async *#members(): AsyncGenerator<MemberLine> {
    let after: string | undefined;
    do {
      const page = await this.#options.upstream.members(after);
      yield* page.members;
      after = page.next ?? undefined;
    } while (after !== undefined);
  }

  /**
   * The notice for a booked payout to a member; undefined when it names no member, or one (or a payout) the other
   * services do not know: that entry brings no mail, and the receipts after it are not held up by it.
   */
  async #payoutNotice(payoutId: string, cents: number): Promise<NewMail | undefined> {
    const { upstream, writer, logger } = this.#options;
    try {
      const payout = await upstream.payout(payoutId);
      if (payout.memberId === null || payout.txid === null) return undefined;
      return await writer.payout({ ...payout, memberId: payout.memberId, txid: payout.txid }, cents);
    } catch (error) {
      if (error instanceof MemberMailError && error.code === 'MEMBER_MAIL_UNKNOWN_MEMBER') {
        logger.warn({ payoutId, err: error.message }, 'no payout notice: the payout or its member is unknown');
        return undefined;
      }
      throw error;
    }
  }

  async #add(mail: NewMail, mark?: MarkRow): Promise<boolean> {
    const { store, clock, newId, messageIdDomain, logger, onMade } = this.#options;
    const id = newId();
    const at = clock.now();
    const messageId = `<${id}.${mail.kind}@${messageIdDomain}>`;
    const stored = await store.add(mail, { id, messageId, at }, mark);
    if (!stored) return false;
    const fields = { mailId: id, kind: mail.kind, memberId: mail.memberId };
    if (mail.failure) logger.error({ ...fields, code: mail.failure.code }, `mail cannot be sent: ${mail.failure.message}`);
    else logger.info(fields, 'mail queued');
    onMade({
      id,
      key: mail.key,
      kind: mail.kind,
      memberId: mail.memberId,
      to: mail.to,
      subject: mail.subject,
      state: mail.failure ? 'failed' : 'pending',
      attempts: 0,
      createdAt: at,
      nextAttemptAt: mail.failure ? null : at,
      lastAttemptAt: null,
      sentAt: null,
      messageId,
      error: mail.failure ?? null,
      response: null,
    });
    return true;
  }
}

/** The smallest id of an instant: every ULID made at or after `at` sorts after it. */
function idFloor(at: number): string {
  return `${encodeTime(at, 10)}${'0'.repeat(16)}`;
}
