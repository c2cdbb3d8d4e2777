// MemberMail's tables: the outbox (every mail, made once per idempotency key, with its attempts and last error)
// and a few marks (where each catch-up cursor stands, which schedules ran), on SQLite or PostgreSQL alike.
import { sql, type Kysely } from 'kysely';
import type { MailKind, MailState, OutboxMail } from '../core/messages-mail.js';
import { migrate, type DatabaseHandle, type MigrationList } from '../core/storage/index.js';

export const SERVICE_NAME = 'member-mail';

/** The idempotency key of each kind of mail: what it is for. A second mail for a key is never made. */
export const mailKeys = {
  welcome: (memberId: string, memberEventId: string) => `welcome:${memberId}:${memberEventId}`,
  receipt: (memberId: string, ledgerEntryId: string) => `receipt:${memberId}:${ledgerEntryId}`,
  statement: (memberId: string, month: string) => `statement:${memberId}:${month}`,
  reminder: (memberId: string, graceEndsAt: number) => `reminder:${memberId}:${graceEndsAt}`,
  deactivation: (memberId: string, graceEndsAt: number) => `deactivation:${memberId}:${graceEndsAt}`,
  payout: (memberId: string, payoutId: string) => `payout:${memberId}:${payoutId}`,
};

/** A file sent with a mail; `cid` makes it inline, for an <img src="cid:…"> in the HTML. */
export interface MailAttachment {
  filename: string;
  contentType: string;
  cid?: string;
  contentBase64: string;
}

/** What a trigger makes: the rendered mail and what it is for. */
export interface NewMail {
  key: string;
  kind: MailKind;
  memberId: string | null;
  to: string;
  subject: string;
  text: string;
  html: string;
  attachments: MailAttachment[];
  /** Set when the mail cannot go as made (no address): it is stored failed, so it shows and can be retried. */
  failure?: { code: string; message: string };
}

/** A mail as the sender needs it. */
export interface StoredMail extends OutboxMail {
  text: string;
  html: string;
  attachments: MailAttachment[];
}

interface OutboxRow {
  id: string;
  key: string;
  kind: MailKind;
  member_id: string | null;
  to_address: string;
  subject: string;
  text_body: string;
  html_body: string;
  attachments: string;
  message_id: string;
  state: MailState;
  attempts: number;
  created_at: number;
  /** When it last joined the line (made, or retried by hand): a mail pending too long after this is given up. */
  queued_at: number;
  next_attempt_at: number | null;
  last_attempt_at: number | null;
  sent_at: number | null;
  error_code: string | null;
  error_message: string | null;
  response: string | null;
}

export interface MarkRow {
  key: string;
  value: string;
}

interface MemberMailTables {
  member_mail_outbox: OutboxRow;
  member_mail_marks: MarkRow;
}

export const MIGRATIONS: MigrationList = [
  [
    '0001-outbox',
    {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('member_mail_outbox')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('key', 'text', (c) => c.notNull().unique())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('member_id', 'text')
          .addColumn('to_address', 'text', (c) => c.notNull())
          .addColumn('subject', 'text', (c) => c.notNull())
          .addColumn('text_body', 'text', (c) => c.notNull())
          .addColumn('html_body', 'text', (c) => c.notNull())
          .addColumn('attachments', 'text', (c) => c.notNull())
          .addColumn('message_id', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('queued_at', 'bigint', (c) => c.notNull())
          .addColumn('next_attempt_at', 'bigint')
          .addColumn('last_attempt_at', 'bigint')
          .addColumn('sent_at', 'bigint')
          .addColumn('error_code', 'text')
          .addColumn('error_message', 'text')
          .addColumn('response', 'text')
          .execute();
        await db.schema
          .createIndex('member_mail_outbox_due')
          .on('member_mail_outbox')
          .columns(['state', 'next_attempt_at'])
          .execute();
        await db.schema
          .createIndex('member_mail_outbox_by_member')
          .on('member_mail_outbox')
          .columns(['member_id', 'id'])
          .execute();
        await db.schema
          .createTable('member_mail_marks')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .execute();
      },
    },
  ],
];

export interface OutboxFilter {
  memberId?: string | undefined;
  state?: MailState | undefined;
  kind?: MailKind | undefined;
  before?: string | undefined;
  limit: number;
}

const ERROR_TEXT_LIMIT = 1_000;

export class OutboxStore {
  readonly #db: Kysely<MemberMailTables>;

  private constructor(db: Kysely<MemberMailTables>) {
    this.#db = db;
  }

  /** Migrates the tables and opens the store. @throws StorageError STORAGE_MIGRATION_FAILED. */
  static async open(database: DatabaseHandle): Promise<OutboxStore> {
    await migrate(database, SERVICE_NAME, MIGRATIONS);
    return new OutboxStore(database.db as Kysely<MemberMailTables>);
  }

  /** The newest mail id, so ids made after a restart sort after it even if the clock went back. */
  async lastId(): Promise<string | undefined> {
    const row = await this.#db.selectFrom('member_mail_outbox').select('id').orderBy('id', 'desc').limit(1).executeTakeFirst();
    return row?.id;
  }

  /** Whether a mail was ever made for this key (it never is twice). */
  async has(key: string): Promise<boolean> {
    const row = await this.#db.selectFrom('member_mail_outbox').select('id').where('key', '=', key).executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Stores a new mail unless one exists for its key, and moves a cursor or sets a mark in the same transaction,
   * so a catch-up never makes a mail twice nor skips one. Returns whether the mail was stored.
   */
  async add(mail: NewMail, ids: { id: string; messageId: string; at: number }, mark?: MarkRow): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('member_mail_outbox')
        .values({
          id: ids.id,
          key: mail.key,
          kind: mail.kind,
          member_id: mail.memberId,
          to_address: mail.to,
          subject: mail.subject,
          text_body: mail.text,
          html_body: mail.html,
          attachments: JSON.stringify(mail.attachments),
          message_id: ids.messageId,
          state: mail.failure ? 'failed' : 'pending',
          attempts: 0,
          created_at: ids.at,
          queued_at: ids.at,
          next_attempt_at: mail.failure ? null : ids.at,
          last_attempt_at: null,
          sent_at: null,
          error_code: mail.failure?.code ?? null,
          error_message: mail.failure?.message.slice(0, ERROR_TEXT_LIMIT) ?? null,
          response: null,
        })
        .onConflict((conflict) => conflict.column('key').doNothing())
        .executeTakeFirst();
      if (mark) await setMark(trx, mark);
      return Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0;
    });
  }

  /** Pending mails whose time has come, oldest first. */
  async due(at: number, limit: number): Promise<StoredMail[]> {
    const rows = await this.#db
      .selectFrom('member_mail_outbox')
      .selectAll()
      .where('state', '=', 'pending')
      .where('next_attempt_at', '<=', at)
      .orderBy('next_attempt_at')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(toStored);
  }

  /** When the next pending mail is due, if any. */
  async nextDueAt(): Promise<number | null> {
    const row = await this.#db
      .selectFrom('member_mail_outbox')
      .select((eb) => eb.fn.min('next_attempt_at').as('at'))
      .where('state', '=', 'pending')
      .executeTakeFirst();
    return row?.at === null || row?.at === undefined ? null : Number(row.at);
  }

  /** Records the attempt before the mail is handed over: a crash from here on leaves it `sending`, never resent. */
  async markSending(id: string, at: number): Promise<boolean> {
    const result = await this.#db
      .updateTable('member_mail_outbox')
      .set((eb) => ({ state: 'sending', attempts: eb('attempts', '+', 1), last_attempt_at: at, next_attempt_at: null }))
      .where('id', '=', id)
      .where('state', '=', 'pending')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async markSent(id: string, at: number, response: string): Promise<void> {
    await this.#db
      .updateTable('member_mail_outbox')
      .set({ state: 'sent', sent_at: at, response: response.slice(0, ERROR_TEXT_LIMIT), error_code: null, error_message: null })
      .where('id', '=', id)
      .execute();
  }

  /** A temporary failure: the mail waits until `nextAttemptAt`. */
  async markRetry(id: string, nextAttemptAt: number, error: MailError, response: string | null): Promise<void> {
    await this.#db
      .updateTable('member_mail_outbox')
      .set({ state: 'pending', next_attempt_at: nextAttemptAt, ...errorColumns(error), response: cut(response) })
      .where('id', '=', id)
      .execute();
  }

  async markFailed(id: string, error: MailError, response: string | null): Promise<void> {
    await this.#db
      .updateTable('member_mail_outbox')
      .set({ state: 'failed', next_attempt_at: null, ...errorColumns(error), response: cut(response) })
      .where('id', '=', id)
      .execute();
  }

  /** The mail may have gone (the server had it whole and never answered): kept `unsure`, never resent on its own. */
  async markUnsure(id: string, error: MailError): Promise<void> {
    await this.#db
      .updateTable('member_mail_outbox')
      .set({ state: 'unsure', next_attempt_at: null, ...errorColumns(error) })
      .where('id', '=', id)
      .execute();
  }

  /** Mails left `sending` by a process that stopped mid-handover become `unsure`; returns them. */
  async markInterrupted(error: MailError): Promise<OutboxMail[]> {
    return this.#db.transaction().execute(async (trx) => {
      const rows = await trx.selectFrom('member_mail_outbox').selectAll().where('state', '=', 'sending').execute();
      if (rows.length === 0) return [];
      await trx
        .updateTable('member_mail_outbox')
        .set({ state: 'unsure', ...errorColumns(error) })
        .where('state', '=', 'sending')
        .execute();
      return rows.map((row) => ({ ...toOutboxMail(row), state: 'unsure' as const }));
    });
  }

  /** Puts a failed or unsure mail back in line, to `to`; false when it is in another state. */
  async requeue(id: string, to: string, at: number): Promise<boolean> {
    const result = await this.#db
      .updateTable('member_mail_outbox')
      .set({ state: 'pending', to_address: to, next_attempt_at: at, queued_at: at })
      .where('id', '=', id)
      .where('state', 'in', ['failed', 'unsure'])
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Pending mails queued before `queuedBefore` (they waited too long) are given up. */
  async giveUp(queuedBefore: number, error: MailError): Promise<OutboxMail[]> {
    return this.#db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom('member_mail_outbox')
        .selectAll()
        .where('state', '=', 'pending')
        .where('queued_at', '<', queuedBefore)
        .execute();
      if (rows.length === 0) return [];
      const given: OutboxMail[] = [];
      for (const row of rows) {
        const last = row.error_message === null ? '' : `; the last try: ${row.error_message}`;
        const failure = { code: error.code, message: `${error.message}${last}` };
        await trx
          .updateTable('member_mail_outbox')
          .set({ state: 'failed', next_attempt_at: null, ...errorColumns(failure) })
          .where('id', '=', row.id)
          .execute();
        given.push({ ...toOutboxMail(row), state: 'failed', nextAttemptAt: null, error: errorColumnsAsError(failure) });
      }
      return given;
    });
  }

  async get(id: string): Promise<StoredMail | undefined> {
    const row = await this.#db.selectFrom('member_mail_outbox').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toStored(row);
  }

  /** Newest first, a page at a time. */
  async list(filter: OutboxFilter): Promise<{ mails: OutboxMail[]; next: string | null }> {
    let query = this.#db
      .selectFrom('member_mail_outbox')
      .selectAll()
      .orderBy('id', 'desc')
      .limit(filter.limit + 1);
    if (filter.memberId !== undefined) query = query.where('member_id', '=', filter.memberId);
    if (filter.state !== undefined) query = query.where('state', '=', filter.state);
    if (filter.kind !== undefined) query = query.where('kind', '=', filter.kind);
    if (filter.before !== undefined) query = query.where('id', '<', filter.before);
    const rows = await query.execute();
    const page = rows.slice(0, filter.limit);
    return { mails: page.map(toOutboxMail), next: rows.length > filter.limit ? page.at(-1)!.id : null };
  }

  async counts(filter: { memberId?: string | undefined; kind?: MailKind | undefined } = {}): Promise<Record<MailState, number>> {
    let query = this.#db.selectFrom('member_mail_outbox').select(['state', (eb) => eb.fn.countAll<number>().as('count')]);
    if (filter.memberId !== undefined) query = query.where('member_id', '=', filter.memberId);
    if (filter.kind !== undefined) query = query.where('kind', '=', filter.kind);
    const rows = await query.groupBy('state').execute();
    const counts: Record<MailState, number> = { pending: 0, sending: 0, sent: 0, failed: 0, unsure: 0 };
    for (const row of rows) counts[row.state] = Number(row.count);
    return counts;
  }

  async failedIds(limit: number): Promise<string[]> {
    const rows = await this.#db
      .selectFrom('member_mail_outbox')
      .select('id')
      .where('state', '=', 'failed')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((row) => row.id);
  }

  async mark(key: string): Promise<string | undefined> {
    const row = await this.#db.selectFrom('member_mail_marks').select('value').where('key', '=', key).executeTakeFirst();
    return row?.value;
  }

  async setMark(key: string, value: string): Promise<void> {
    await setMark(this.#db, { key, value });
  }

  async deleteMark(key: string): Promise<void> {
    await this.#db.deleteFrom('member_mail_marks').where('key', '=', key).execute();
  }
}

export interface MailError {
  code: string;
  message: string;
}

async function setMark(db: Kysely<MemberMailTables>, mark: MarkRow): Promise<void> {
  await db
    .insertInto('member_mail_marks')
    .values(mark)
    .onConflict((conflict) => conflict.column('key').doUpdateSet({ value: sql`excluded.value` }))
    .execute();
}

function errorColumns(error: MailError): Pick<OutboxRow, 'error_code' | 'error_message'> {
  return { error_code: error.code, error_message: error.message.slice(0, ERROR_TEXT_LIMIT) };
}

function errorColumnsAsError(error: MailError): MailError {
  return { code: error.code, message: error.message.slice(0, ERROR_TEXT_LIMIT) };
}

function cut(text: string | null): string | null {
  return text === null ? null : text.slice(0, ERROR_TEXT_LIMIT);
}

function toOutboxMail(row: OutboxRow): OutboxMail {
  return {
    id: row.id,
    key: row.key,
    kind: row.kind,
    memberId: row.member_id,
    to: row.to_address,
    subject: row.subject,
    state: row.state,
    attempts: Number(row.attempts),
    createdAt: Number(row.created_at),
    nextAttemptAt: row.next_attempt_at === null ? null : Number(row.next_attempt_at),
    lastAttemptAt: row.last_attempt_at === null ? null : Number(row.last_attempt_at),
    sentAt: row.sent_at === null ? null : Number(row.sent_at),
    messageId: row.message_id,
    error: row.error_code === null ? null : { code: row.error_code, message: row.error_message ?? '' },
    response: row.response,
  };
}

function toStored(row: OutboxRow): StoredMail {
  return {
    ...toOutboxMail(row),
    text: row.text_body,
    html: row.html_body,
    attachments: JSON.parse(row.attachments) as MailAttachment[],
  };
}
