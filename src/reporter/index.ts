// Reporter: keeps the ledger, derives balances, status and groups from member facts and money, charges dues on
// schedule, answers reports, and tells the bus when a member's status or balance changes.
import { createBusClient, type BusClient } from '../auth-proxy/index.js';
import type { PayloadOf } from '../core/contract.js';
import {
  BalanceChanged,
  LedgerRecord,
  MemberChanged,
  MemberEvents,
  MemberStatusChanged,
  ReporterRun,
  ReportRequest,
  SettingsGet,
} from '../core/messages.js';
import type { Service, ServiceContext } from '../core/service.js';
import type { DatabaseHandle } from '../core/storage/index.js';
import { ReporterError } from './errors.js';
import { Reporter, type Change, type IncomingFact, type MonthSettings, type SpaceSettings } from './reporter.js';
import {
  balancesCsv,
  balancesReport,
  incomeCsv,
  incomeReport,
  ledgerCsv,
  ledgerReport,
  membersCsv,
  membersReport,
  statementCsv,
  statementReport,
} from './reports.js';
import { SERVICE_NAME } from './store.js';

export { SERVICE_NAME };
export { ReporterError, ReporterErrorCodes } from './errors.js';

const FACTS_PAGE = 200;
const REPORT_PAGE = 200;

interface SettingsReply {
  tiers: Record<string, { name: string; monthlyDuesCents: number; active?: boolean }>;
  policies: { timezone: string; currency: string; graceDays: number };
}

export function createReporter(context: ServiceContext, database: DatabaseHandle): Service {
  const { config, clock } = context;
  const log = context.logger.child({ service: SERVICE_NAME });
  let bus: BusClient | undefined;
  let reporter: Reporter | undefined;
  let timer: NodeJS.Timeout | undefined;
  // One thing at a time: the job, a recorded payment and a rebuild never interleave.
  let queue: Promise<unknown> = Promise.resolve();
  const serially = <T>(work: () => Promise<T>): Promise<T> => {
    const result = queue.then(work);
    queue = result.catch(() => undefined);
    return result;
  };

  const open = () => {
    if (!bus || !reporter) throw new ReporterError('REPORTER_UPSTREAM_UNAVAILABLE', 'the Reporter is not running');
    return { bus, reporter };
  };

  const settingsAt = async (day?: string): Promise<SettingsReply> => {
    try {
      return (await open().bus.request(SettingsGet, day === undefined ? {} : { at: day })) as SettingsReply;
    } catch (error) {
      throw new ReporterError('REPORTER_UPSTREAM_UNAVAILABLE', `BusinessData: ${(error as Error).message}`, { cause: error });
    }
  };
  // The last time zone and currency BusinessData gave, so a payment is not refused while it restarts.
  let lastSpace: SpaceSettings | undefined;
  const space = async (): Promise<SpaceSettings> => {
    try {
      const { policies } = await settingsAt();
      lastSpace = { timezone: policies.timezone, currency: policies.currency };
    } catch (error) {
      if (!lastSpace) throw error;
      log.warn({ err: (error as Error).message }, 'BusinessData did not answer; using the time zone and currency it last gave');
    }
    return lastSpace;
  };
  const monthSettings = async (month: string): Promise<MonthSettings> => {
    const { tiers, policies } = await settingsAt(`${month}-01`);
    return { tiers, graceDays: policies.graceDays };
  };

  /**
   * Tells the bus what changed. The change is already recorded, so a failed announcement is logged and the rest
   * still go out; a listener that missed one reads the members report when it reconnects.
   */
  const publish = async (changes: readonly Change[]): Promise<void> => {
    for (const change of changes) {
      try {
        await announce(change);
      } catch (error) {
        log.error({ err: (error as Error).message, memberId: change.memberId, kind: change.kind }, 'could not announce a change');
      }
    }
  };
  const announce = async (change: Change): Promise<void> => {
    if (change.kind === 'balance') {
      await open().bus.publish(BalanceChanged, {
        memberId: change.memberId,
        balanceCents: change.balanceCents,
        entry: change.entry,
      });
      return;
    }
    log.info({ memberId: change.memberId, active: change.active, reason: change.reason }, 'member status changed');
    await open().bus.publish(MemberStatusChanged, {
      memberId: change.memberId,
      active: change.active,
      reason: change.reason,
      balanceCents: change.balanceCents,
      groups: change.groups,
    });
  };

  /** Asks MemberData for every fact after the last one seen, a page at a time. */
  const catchUp = async (): Promise<number> => {
    const { bus: client, reporter: state } = open();
    let caught = 0;
    for (;;) {
      const afterId = await state.lastFactId();
      let reply: { events: IncomingFact[]; more: boolean };
      try {
        reply = (await client.request(
          MemberEvents,
          afterId === undefined ? { limit: FACTS_PAGE } : { afterId, limit: FACTS_PAGE },
        )) as typeof reply;
      } catch (error) {
        throw new ReporterError('REPORTER_UPSTREAM_UNAVAILABLE', `MemberData: ${(error as Error).message}`, { cause: error });
      }
      await publish(await state.ingestFacts(reply.events));
      caught += reply.events.length;
      if (!reply.more || reply.events.length === 0) return caught;
    }
  };

  const job = async (): Promise<Record<string, unknown>> => {
    const { reporter: state } = open();
    const facts = await catchUp();
    const dues = await state.chargeDues(await space(), monthSettings);
    await publish(dues.changes);
    if (dues.problems.length > 0) log.error({ problems: dues.problems }, 'some dues could not be charged; will try again');
    const advanced = await state.advance();
    if (advanced.clockBehindMs > 0) {
      log.warn({ behindMs: advanced.clockBehindMs }, 'the clock reads earlier than the last run; keeping the later time');
    }
    await publish(advanced.changes);
    if (dues.charged > 0) log.info({ months: dues.months, charged: dues.charged }, 'dues charged');
    return { facts, months: dues.months, charged: dues.charged, problems: dues.problems, clockBehindMs: advanced.clockBehindMs };
  };

  /** A member recorded a moment ago may not have reached us yet: on an unknown member, catch up once and retry. */
  const knowingEveryMember = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof ReporterError) || error.code !== 'REPORTER_MEMBER_UNKNOWN') throw error;
      await catchUp();
      return work();
    }
  };

  const scheduled = () => {
    serially(job).catch((error: unknown) =>
      log.warn({ err: (error as Error).message }, 'reporter job did not finish; will try again'),
    );
  };

  return {
    name: SERVICE_NAME,
    async start() {
      reporter = await Reporter.open(database, clock);
      bus = createBusClient(context);
      await bus.start();
      const client = bus;
      await client.listen(MemberChanged, () => {
        serially(catchUp).catch((error: unknown) =>
          log.warn({ err: (error as Error).message }, 'could not catch up on member facts'),
        );
      });
      await client.respond(LedgerRecord, async (input, envelope) => {
        const allowed = config.reporter.ledgerWriters[envelope.issuer] ?? [];
        if (!allowed.includes(input.kind)) {
          throw new ReporterError(
            'REPORTER_NOT_ALLOWED',
            `"${envelope.issuer}" may not record a ${input.kind}; reporter.ledgerWriters gives it ${allowed.length ? allowed.join(', ') : 'nothing'}`,
          );
        }
        const settings = await space();
        const result = await serially(() =>
          knowingEveryMember(() => open().reporter.record(input, envelope.issuer, `request:${envelope.id}`, settings)),
        );
        if (!result.duplicate) {
          log.info(
            { kind: result.entry.kind, memberId: result.entry.memberId, cents: result.entry.cents, by: envelope.issuer },
            'ledger entry recorded',
          );
        }
        await publish(result.changes);
        return { entry: result.entry, balanceCents: result.balanceCents, duplicate: result.duplicate };
      });
      await client.respond(ReportRequest, (request) =>
        serially(async () => {
          // Fresh when MemberData answers; from what is known when it does not. The ledger holds only what was
          // recorded, which no member fact changes, so a reader polling it does not wait on MemberData.
          if (request.report !== 'ledger') {
            await catchUp().catch((error: unknown) =>
              log.warn({ err: (error as Error).message }, 'reporting without the latest member facts'),
            );
          }
          return fittingReport(open().reporter, request, config.bus.maxMessageBytes);
        }),
      );
      await client.respond(ReporterRun, async (request, envelope) => {
        if (!config.reporter.operators.includes(envelope.issuer)) {
          throw new ReporterError('REPORTER_NOT_ALLOWED', `"${envelope.issuer}" is not in reporter.operators`);
        }
        if (request.action === 'dues') return serially(job);
        return serially(async () => {
          const state = open().reporter;
          const before = await state.digest();
          const started = performance.now();
          const { changes, ...rebuilt } = await state.rebuild();
          log.info({ ...rebuilt, before, statusesCorrected: changes.length }, 'reporter state rebuilt from the events');
          await publish(changes);
          return {
            ...rebuilt,
            statusesCorrected: changes.length,
            digestBefore: before,
            identical: before === rebuilt.digest,
            ms: Math.round(performance.now() - started),
          };
        });
      });
      scheduled();
      timer = setInterval(scheduled, config.reporter.checkIntervalMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      await queue;
      await bus?.stop();
      bus = undefined;
      reporter = undefined;
    },
    describe() {
      return [`reporter: ${database.description}, job every ${Math.round(config.reporter.checkIntervalMs / 1000)} s`];
    },
  };
}

type ReportReply = { json: unknown; next: string | null } | { csv: string; next: string | null };

/** Room left in a bus message for the reply beside its envelope, signature and request echo. */
const ENVELOPE_ALLOWANCE_BYTES = 2_048;

/**
 * A report page that fits in one bus message: when the rows asked for do not, the page is made shorter (in
 * proportion, then by halves) and `next` says where to go on, so a long statement is never dropped as too big.
 */
async function fittingReport(state: Reporter, request: PayloadOf<typeof ReportRequest>, maxBytes: number): Promise<ReportReply> {
  const budget = maxBytes - ENVELOPE_ALLOWANCE_BYTES;
  let limit = request.limit ?? REPORT_PAGE;
  for (;;) {
    const reply = await report(state, { ...request, limit });
    const size = Buffer.byteLength(JSON.stringify(reply));
    if (size <= budget || limit === 1) return reply;
    limit = Math.max(1, Math.min(Math.floor(limit / 2), Math.floor((limit * budget) / size)));
  }
}

async function report(state: Reporter, request: PayloadOf<typeof ReportRequest>): Promise<ReportReply> {
  const csv = request.format === 'csv';
  const header = request.after === undefined;
  const page = { after: request.after, limit: request.limit ?? REPORT_PAGE };
  switch (request.report) {
    case 'income': {
      if (request.month === undefined)
        throw new ReporterError('REPORTER_MONTH_INVALID', 'the income report needs a month (YYYY-MM)');
      const income = await incomeReport(state.db, request.month);
      return csv ? { csv: incomeCsv(income), next: null } : { json: income, next: null };
    }
    case 'members': {
      const members = await membersReport(state.db, request.includeLeft ?? false, page);
      return csv ? { csv: membersCsv(members, header), next: members.next } : { json: members, next: members.next };
    }
    case 'balances': {
      const balances = await balancesReport(state.db, page);
      return csv ? { csv: balancesCsv(balances, header), next: balances.next } : { json: balances, next: balances.next };
    }
    case 'statement': {
      if (request.memberId === undefined) throw new ReporterError('REPORTER_VALUE_INVALID', 'a statement needs a memberId');
      const statement = await statementReport(state.db, request.memberId, request.month, page);
      return csv ? { csv: statementCsv(statement, header), next: statement.next } : { json: statement, next: statement.next };
    }
    case 'ledger': {
      const ledger = await ledgerReport(state.db, request.memberId, page);
      return csv ? { csv: ledgerCsv(ledger, header), next: ledger.next } : { json: ledger, next: ledger.next };
    }
  }
}
