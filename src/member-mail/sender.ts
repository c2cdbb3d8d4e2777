// Sends what is due from the outbox: one mail at a time, the attempt recorded before the handover, at most
// smtp.maxPerMinute a minute, temporary failures retried with doubling waits, refusals and stale mail failed.
import type { Clock } from '../core/clock.js';
import type { Config } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import type { OutboxMail } from '../core/messages-mail.js';
import type { Delivery, DeliveryOutcome } from './delivery.js';
import type { OutboxStore, StoredMail } from './outbox.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

export interface SenderOptions {
  store: OutboxStore;
  delivery: Delivery;
  clock: Clock;
  settings: Config['memberMail'];
  logger: Logger;
  /** Told of every state a mail reaches (for the bus event). */
  onChange: (mail: OutboxMail) => void;
}

/** The wait before attempt `attempts + 1`: the first delay, doubled per attempt made, at most the ceiling. */
export function retryDelayMs(attempts: number, firstMs: number, maxMs: number): number {
  return Math.min(maxMs, firstMs * 2 ** Math.max(0, Math.min(attempts - 1, 30)));
}

export class Sender {
  readonly #options: SenderOptions;
  /** Handover times within the last minute, for the rate limit. */
  readonly #recent: number[] = [];
  #running: Promise<number> | undefined;
  #again = false;
  #stopped = false;

  constructor(options: SenderOptions) {
    this.#options = options;
  }

  /** Sends every mail that is due and allowed by the rate limit; joins a round already running. Returns how many went. */
  sendDue(): Promise<number> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#round().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Lets the mail being handed over finish, and sends no more. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#running?.catch(() => undefined);
  }

  /** When the next send round should run: the next due mail, or when the rate limit frees a slot. */
  async nextWakeAt(): Promise<number | null> {
    const due = await this.#options.store.nextDueAt();
    if (due === null) return null;
    const { maxPerMinute } = this.#options.settings.smtp;
    this.#forgetOld();
    const freeAt = this.#recent.length >= maxPerMinute ? this.#recent[0]! + MINUTE_MS : 0;
    return Math.max(due, freeAt);
  }

  async #round(): Promise<number> {
    let sent = 0;
    do {
      this.#again = false;
      await this.#giveUpStale();
      sent += await this.#sendBatch();
    } while (this.#again && !this.#stopped);
    return sent;
  }

  async #sendBatch(): Promise<number> {
    const { store, clock, settings } = this.#options;
    let sent = 0;
    for (;;) {
      this.#forgetOld();
      const budget = settings.smtp.maxPerMinute - this.#recent.length;
      if (this.#stopped || budget <= 0) return sent;
      const due = await store.due(clock.now(), Math.min(budget, 50));
      if (due.length === 0) return sent;
      for (const mail of due) {
        if (this.#stopped) return sent;
        const outcome = await this.#send(mail);
        if (outcome === 'sent') sent += 1;
        // The server is away: the rest would only wait out the same timeout, one after another.
        if (outcome === 'server-down') return sent;
      }
    }
  }

  async #send(mail: StoredMail): Promise<'sent' | 'not-sent' | 'server-down'> {
    const { store, delivery, clock, settings, logger, onChange } = this.#options;
    const startedAt = clock.now();
    if (!(await store.markSending(mail.id, startedAt))) return 'not-sent';
    this.#recent.push(startedAt);
    const attempts = mail.attempts + 1;
    const outcome = await delivery.deliver(mail).catch((error: unknown): DeliveryOutcome => ({
      sent: false,
      temporary: true,
      error: { code: 'MEMBER_MAIL_DELIVERY_FAILED', message: `the delivery failed unexpectedly: ${String(error)}` },
      response: null,
    }));
    const at = clock.now();
    const fields = { mailId: mail.id, kind: mail.kind, memberId: mail.memberId, attempts };
    if (outcome.sent) {
      await store.markSent(mail.id, at, outcome.response);
      logger.info({ ...fields, response: outcome.response }, 'mail sent');
      onChange({
        ...mail,
        state: 'sent',
        attempts,
        sentAt: at,
        lastAttemptAt: startedAt,
        error: null,
        response: outcome.response,
      });
      return 'sent';
    }
    if (outcome.uncertain) {
      await store.markUnsure(mail.id, outcome.error);
      logger.error(
        { ...fields, code: outcome.error.code, messageId: mail.messageId },
        `mail may have been sent: ${outcome.error.message}`,
      );
      onChange({ ...mail, state: 'unsure', attempts, nextAttemptAt: null, lastAttemptAt: startedAt, error: outcome.error });
      return 'not-sent';
    }
    if (outcome.temporary) {
      const nextAttemptAt = at + retryDelayMs(attempts, settings.retryFirstDelayMs, settings.retryMaxDelayMs);
      await store.markRetry(mail.id, nextAttemptAt, outcome.error, outcome.response);
      logger.warn({ ...fields, code: outcome.error.code, nextAttemptAt }, `mail not sent yet: ${outcome.error.message}`);
      onChange({ ...mail, state: 'pending', attempts, nextAttemptAt, lastAttemptAt: startedAt, error: outcome.error });
      return outcome.serverDown === true ? 'server-down' : 'not-sent';
    }
    await store.markFailed(mail.id, outcome.error, outcome.response);
    logger.error({ ...fields, code: outcome.error.code }, `mail refused: ${outcome.error.message}`);
    onChange({ ...mail, state: 'failed', attempts, nextAttemptAt: null, lastAttemptAt: startedAt, error: outcome.error });
    return 'not-sent';
  }

  async #giveUpStale(): Promise<void> {
    const { store, clock, settings, logger, onChange } = this.#options;
    const limitMs = settings.giveUpAfterHours * HOUR_MS;
    const given = await store.giveUp(clock.now() - limitMs, {
      code: 'MEMBER_MAIL_GAVE_UP',
      message: `not accepted within ${settings.giveUpAfterHours} hour(s) of being queued (made or retried); retry it once the mail server works`,
    });
    for (const mail of given) {
      logger.error({ mailId: mail.id, kind: mail.kind, memberId: mail.memberId, attempts: mail.attempts }, 'mail given up');
      onChange(mail);
    }
  }

  #forgetOld(): void {
    const since = this.#options.clock.now() - MINUTE_MS;
    while (this.#recent.length > 0 && this.#recent[0]! <= since) this.#recent.shift();
  }
}
