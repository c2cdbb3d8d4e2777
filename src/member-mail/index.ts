// MemberMail: the mail a member gets, exactly once. Triggers (new members, payments, grace deadlines, the 1st of
// the month) make mails into an outbox keyed by what each is for; a sender hands them to the SMTP server, retries
// what failed for now, and records what failed for good, so the treasurer can see what was sent and why not.
import { join } from 'node:path';
import { createBusClient, type BusClient } from '../auth-proxy/index.js';
import { DctrlError } from '../core/errors.js';
import { createIdFactoryAfter, type IdFactory } from '../core/ids.js';
import { MailChanged, MailOutbox, MailPreview, MailRetry, MailRun, type OutboxMail } from '../core/messages-mail.js';
import { BalanceChanged, MemberChanged, MemberStatusChanged } from '../core/messages.js';
import { PayoutChanged } from '../core/messages-payout.js';
import type { Service, ServiceContext } from '../core/service.js';
import type { DatabaseHandle } from '../core/storage/index.js';
import { dropDelivery, smtpDelivery, type Delivery } from './delivery.js';
import { MemberMailError } from './errors.js';
import { OutboxStore, SERVICE_NAME } from './outbox.js';
import { Sender } from './sender.js';
import { loadTemplates, type MailTemplates } from './templates.js';
import { Triggers } from './triggers.js';
import { Upstream } from './upstream.js';
import { isEmailAddress, MailWriter } from './writer.js';

export { MemberMailError, MemberMailErrorCodes } from './errors.js';
export { loadTemplates } from './templates.js';

export { SERVICE_NAME };
const OUTBOX_PAGE = 50;
/** Failed mails put back in line by one `retry --failed`. */
const RETRY_BATCH = 200;
/** Wakes from bus events are gathered this long, so a burst of payments is one catch-up. */
const WAKE_DELAY_MS = 200;

type Scan = 'members' | 'payments' | 'statuses' | 'statements';
const ALL_SCANS: readonly Scan[] = ['members', 'payments', 'statuses', 'statements'];

export interface MemberMail extends Service {
  /** Runs every trigger once and sends what is due: what the timer does. */
  runOnce(): Promise<void>;
  /** Sends what is due now. */
  sendDue(): Promise<number>;
}

export function createMemberMail(context: ServiceContext, database: DatabaseHandle): MemberMail {
  const { config, clock } = context;
  const settings = config.memberMail;
  const log = context.logger.child({ service: SERVICE_NAME });
  let bus: BusClient | undefined;
  let store: OutboxStore | undefined;
  let delivery: Delivery | undefined;
  let sender: Sender | undefined;
  let triggers: Triggers | undefined;
  let templates: MailTemplates | undefined;
  let checkTimer: NodeJS.Timeout | undefined;
  let sendTimer: NodeJS.Timeout | undefined;
  let wakeTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  let work: Promise<void> = Promise.resolve();
  const wanted = new Set<Scan>();
  const failing = new Map<Scan, string>();

  const client = (): BusClient => {
    if (!bus || stopped) throw new MemberMailError('MEMBER_MAIL_UPSTREAM_UNAVAILABLE', 'MemberMail is not running');
    return bus;
  };
  const upstream = new Upstream(client);
  const writer = new MailWriter({
    settings,
    clock,
    upstream,
    templates: () => {
      if (!templates) throw new MemberMailError('MEMBER_MAIL_TEMPLATE_MISSING', 'MemberMail is not running');
      return templates;
    },
  });
  const dropDir = settings.dropDir ?? join(config.dataDir, 'mail');

  const announce = (mail: OutboxMail): void => {
    if (!bus || stopped) return;
    const { id, kind, memberId, state, attempts } = mail;
    bus
      .publish(MailChanged, { id, kind, memberId, state, attempts, errorCode: mail.error?.code ?? null })
      .catch((error: unknown) => log.debug({ err: (error as Error).message }, 'could not announce a mail change'));
  };
  const onMade = (mail: OutboxMail): void => {
    announce(mail);
    scheduleSend(0);
  };

  const runScan = async (scan: Scan): Promise<void> => {
    const run = triggers!;
    try {
      if (scan === 'members') await run.memberEvents();
      else if (scan === 'payments') await run.payments();
      else if (scan === 'statuses') await run.statuses();
      else await run.statements();
      if (failing.delete(scan)) log.info({ scan }, 'mail trigger works again');
    } catch (error) {
      const why = error instanceof DctrlError ? `${error.code}: ${error.message}` : String(error);
      // Said once per cause, not every round: the cursor stays, so nothing is skipped meanwhile.
      if (failing.get(scan) !== why) log.warn({ scan }, `mail trigger could not finish, tried again next round: ${why}`);
      failing.set(scan, why);
    }
  };

  /** Runs `job` after the work already queued: rounds and jobs never overlap. */
  const inTurn = <T>(job: () => Promise<T>): Promise<T> => {
    const result = work.then(job);
    work = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  };

  /** Runs the wanted scans, then sends. */
  const round = (): Promise<void> =>
    inTurn(async () => {
      if (stopped) return;
      const scans = ALL_SCANS.filter((scan) => wanted.has(scan));
      wanted.clear();
      for (const scan of scans) if (!stopped) await runScan(scan);
    }).then(async () => {
      // Outside the chain: a slow server must not hold up the triggers or a job asked for on the command line.
      await sendNow();
    });

  const wake = (scan: Scan): void => {
    wanted.add(scan);
    if (wakeTimer || stopped) return;
    wakeTimer = setTimeout(() => {
      wakeTimer = undefined;
      void round();
    }, WAKE_DELAY_MS);
    wakeTimer.unref();
  };

  const sendNow = async (): Promise<number> => {
    if (!sender || stopped) return 0;
    let sent = 0;
    try {
      sent = await sender.sendDue();
    } catch (error) {
      log.error({ err: (error as Error).message }, 'the mail sender failed; it tries again');
    }
    const next = await sender.nextWakeAt().catch(() => null);
    if (next !== null) scheduleSend(next - clock.now());
    return sent;
  };

  const scheduleSend = (inMs: number): void => {
    if (stopped) return;
    clearTimeout(sendTimer);
    sendTimer = setTimeout(() => void sendNow(), Math.min(Math.max(inMs, 0), settings.checkIntervalMs));
    sendTimer.unref();
  };

  const operatorOnly = (issuer: string): void => {
    if (!settings.operators.includes(issuer)) {
      throw new MemberMailError('MEMBER_MAIL_NOT_ALLOWED', `"${issuer}" is not in memberMail.operators`);
    }
  };

  const respond = async (active: BusClient): Promise<void> => {
    await active.respond(MailOutbox, async (request, envelope) => {
      operatorOnly(envelope.issuer);
      const page = await store!.list({ ...request, limit: request.limit ?? OUTBOX_PAGE });
      return { ...page, counts: await store!.counts({ memberId: request.memberId, kind: request.kind }) };
    });
    await active.respond(MailRetry, async (request, envelope) => {
      operatorOnly(envelope.issuer);
      const ids = 'ids' in request ? request.ids : await store!.failedIds(RETRY_BATCH + 1);
      const more = ids.length > RETRY_BATCH;
      if (more) ids.pop();
      const retried: string[] = [];
      const skipped: { id: string; reason: string }[] = [];
      for (const id of ids) {
        const reason = await retry(id);
        if (reason === null) retried.push(id);
        else skipped.push({ id, reason });
      }
      if (retried.length > 0) scheduleSend(0);
      return { retried, skipped, more };
    });
    await active.respond(MailPreview, async ({ kind, memberId }, envelope) => {
      operatorOnly(envelope.issuer);
      // Read from disk each time, so an edited template is previewed (and its mistakes shown) before a restart.
      const fresh = loadTemplates(settings.templatesDir === undefined ? {} : { overrideDir: settings.templatesDir });
      const previewWriter = new MailWriter({ settings, clock, upstream, templates: () => fresh });
      const mail = await previewWriter.preview(kind, memberId);
      return {
        kind,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        attachments: mail.attachments.map((attachment) => ({
          filename: attachment.filename,
          contentType: attachment.contentType,
          bytes: Buffer.from(attachment.contentBase64, 'base64').length,
          cid: attachment.cid ?? null,
          contentBase64: attachment.contentBase64,
        })),
      };
    });
    await active.respond(MailRun, async ({ job }, envelope) => {
      operatorOnly(envelope.issuer);
      const result = await inTurn(async () =>
        job === 'statements' ? triggers!.statements(true) : { ...(await triggers!.statuses()), month: null },
      );
      scheduleSend(0);
      return { job, month: result.month, made: result.made, alreadyMade: result.alreadyMade, skipped: result.skipped };
    });
  };

  /** Puts a failed or unsure mail back in line to the member's address as MemberData has it now; null when done. */
  const retry = async (id: string): Promise<string | null> => {
    const mail = await store!.get(id);
    if (!mail) return `MEMBER_MAIL_UNKNOWN_MAIL: no mail ${id}`;
    if (mail.state !== 'failed' && mail.state !== 'unsure') {
      return `MEMBER_MAIL_NOT_RETRYABLE: it is ${mail.state}`;
    }
    let to = mail.to;
    if (mail.memberId !== null) {
      try {
        to = (await upstream.member(mail.memberId)).email.trim();
      } catch (error) {
        return error instanceof DctrlError ? `${error.code}: ${error.message}` : String(error);
      }
    }
    if (!isEmailAddress(to)) return `MEMBER_MAIL_NO_ADDRESS: "${to.slice(0, 80)}" is not an email address; fix it first`;
    if (!(await store!.requeue(id, to, clock.now()))) return `MEMBER_MAIL_NOT_RETRYABLE: it changed meanwhile`;
    log.info({ mailId: id, kind: mail.kind, memberId: mail.memberId }, 'mail retried');
    announce({ ...mail, state: 'pending' });
    return null;
  };

  return {
    name: SERVICE_NAME,
    async start() {
      stopped = false;
      templates = loadTemplates(settings.templatesDir === undefined ? {} : { overrideDir: settings.templatesDir });
      store = await OutboxStore.open(database);
      const interrupted = await store.markInterrupted({
        code: 'MEMBER_MAIL_INTERRUPTED',
        message:
          'MemberMail stopped while handing this mail to the SMTP server, so it may have gone: it is not resent on its own. Find its Message-ID in the mail server log; retry it if it is not there.',
      });
      for (const mail of interrupted) {
        log.error(
          { mailId: mail.id, kind: mail.kind, memberId: mail.memberId, messageId: mail.messageId },
          'mail may have been sent before a stop; not resent',
        );
      }
      delivery = settings.smtp.host !== undefined ? smtpDelivery(settings) : dropDelivery(settings, dropDir);
      sender = new Sender({ store, delivery, clock, settings, logger: log, onChange: announce });
      const domain = /@([^>\s]+)>?\s*$/.exec(settings.from)?.[1] ?? 'dctrl.invalid';
      const newId: IdFactory = createIdFactoryAfter(clock, await store.lastId());
      triggers = new Triggers({ store, writer, upstream, clock, settings, newId, messageIdDomain: domain, logger: log, onMade });
      await triggers.installedAt();
      const active = createBusClient(context);
      bus = active;
      await active.start();
      await respond(active);
      await active.listen(MemberChanged, () => wake('members'));
      await active.listen(BalanceChanged, (balance) => {
        if (balance.entry.kind === 'payment') wake('payments');
      });
      await active.listen(MemberStatusChanged, () => wake('statuses'));
      // A payout is booked when it is confirmed; the notice is made from the ledger entry.
      await active.listen(PayoutChanged, (change) => {
        if (change.state === 'confirmed' && change.memberId !== null) wake('payments');
      });
      for (const mail of interrupted) announce(mail);
      for (const scan of ALL_SCANS) wanted.add(scan);
      void round();
      checkTimer = setInterval(() => {
        for (const scan of ALL_SCANS) wanted.add(scan);
        void round();
      }, settings.checkIntervalMs);
      checkTimer.unref();
    },
    async stop() {
      stopped = true;
      clearInterval(checkTimer);
      clearTimeout(sendTimer);
      clearTimeout(wakeTimer);
      wakeTimer = undefined;
      await sender?.stop();
      await work;
      delivery?.close();
      await bus?.stop();
      bus = undefined;
    },
    describe() {
      return [`member-mail: mail goes as ${delivery?.description ?? '(not started)'}`];
    },
    async runOnce() {
      for (const scan of ALL_SCANS) wanted.add(scan);
      await round();
    },
    sendDue: () => sendNow(),
  };
}
