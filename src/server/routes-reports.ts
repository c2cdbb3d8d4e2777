// Reports for the treasurer: income for a month, balances, income by month for the chart, and the ledger in the
// order recorded; JSON or CSV. Asked of the Reporter over the bus, the space's currency and zone of BusinessData.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { ReportRequest } from '../core/messages.js';
import {
  balancesReply,
  formatValue,
  incomeByMonthReply,
  incomeReply,
  ledgerReply,
  limitValue,
  memberIdValue,
  monthValue,
  okReply,
  ulidValue,
} from './api-shapes.js';
import type { AppDeps, Ask } from './deps.js';
import { jsonSchema } from './schema.js';

const MAX_CHART_MONTHS = 36;
const DEFAULT_CHART_MONTHS = 12;

export const incomeQuery = z.strictObject({ month: monthValue.optional(), format: formatValue });
export const balancesQuery = z.strictObject({
  after: z.string().max(40).optional(),
  limit: limitValue(200),
  format: formatValue,
});
export const incomeByMonthQuery = z.strictObject({ months: z.int().min(1).max(MAX_CHART_MONTHS).optional() });
export const ledgerQuery = z.strictObject({
  after: ulidValue.optional(),
  memberId: memberIdValue.optional(),
  limit: limitValue(200),
  format: formatValue,
});

interface ReportAnswer {
  json?: unknown;
  csv?: string;
  next: string | null;
}

const STAFF = ['admin', 'treasurer'] as const;

export function registerReportRoutes(app: FastifyInstance, { ask, clock, space }: AppDeps): void {
  app.get(
    '/api/v1/reports/income',
    {
      schema: {
        tags: ['reports'],
        summary: 'Income of one month (the current one in the space’s time zone when none is given) by source and method',
        querystring: jsonSchema(incomeQuery),
        response: okReply('The month’s income lines and totals', incomeReply, { csv: true }),
      },
      config: { access: STAFF },
    },
    async (request, reply) => {
      const query = request.query as z.infer<typeof incomeQuery>;
      const month = query.month ?? monthIn(clock.now(), (await space()).timezone);
      const answer = (await ask(ReportRequest, { report: 'income', month, format: query.format ?? 'json' })) as ReportAnswer;
      return send(reply, query.format, answer);
    },
  );

  app.get(
    '/api/v1/reports/balances',
    {
      schema: {
        tags: ['reports'],
        summary: 'Members whose balance is not zero, with what the space is owed and the credit it holds, a page at a time',
        querystring: jsonSchema(balancesQuery),
        response: okReply('A page of balances; `next` is the `after` of the following page', balancesReply, {
          csv: true,
          nextHeader: true,
        }),
      },
      config: { access: STAFF },
    },
    async (request, reply) => {
      const query = request.query as z.infer<typeof balancesQuery>;
      const answer = (await ask(ReportRequest, { report: 'balances', ...query })) as ReportAnswer;
      return send(reply, query.format, answer);
    },
  );

  app.get(
    '/api/v1/reports/income-by-month',
    {
      schema: {
        tags: ['reports'],
        summary: 'Money received and earned in each of the last `months` months, oldest first, ending with the current month',
        querystring: jsonSchema(incomeByMonthQuery),
        response: okReply('One line a month in the space’s currency', incomeByMonthReply),
      },
      config: { access: STAFF },
    },
    async (request) => {
      const query = request.query as z.infer<typeof incomeByMonthQuery>;
      const { currency, timezone } = await space();
      const months = monthsEndingWith(monthIn(clock.now(), timezone), query.months ?? DEFAULT_CHART_MONTHS);
      return { currency, months: await Promise.all(months.map((month) => monthTotals(ask, month))) };
    },
  );

  app.get(
    '/api/v1/ledger',
    {
      schema: {
        tags: ['reports'],
        summary: 'Ledger entries after an entry id in the order recorded (all, or one member’s), a page at a time',
        description: 'A reader that keeps the last id it handled and passes it as `after` misses no entry and reads none twice.',
        querystring: jsonSchema(ledgerQuery),
        response: okReply('A page of entries; `next` is the `after` of the following page', ledgerReply, {
          csv: true,
          nextHeader: true,
        }),
      },
      config: { access: STAFF },
    },
    async (request, reply) => {
      const query = request.query as z.infer<typeof ledgerQuery>;
      const answer = (await ask(ReportRequest, { report: 'ledger', ...query })) as ReportAnswer;
      return send(reply, query.format, answer);
    },
  );
}

/** CSV pages say where the next one starts in a header, since the CSV itself has no room for it. */
function send(reply: FastifyReply, format: 'json' | 'csv' | undefined, answer: ReportAnswer): unknown {
  if (format !== 'csv') return answer.json;
  if (answer.next !== null) void reply.header('x-next', answer.next);
  return reply.type('text/csv; charset=utf-8').send(answer.csv ?? '');
}

async function monthTotals(ask: Ask, month: string): Promise<{ month: string; receivedCents: number; earnedCents: number }> {
  const answer = (await ask(ReportRequest, { report: 'income', month })) as {
    json: z.infer<typeof incomeReply>;
  };
  return { month, receivedCents: answer.json.totals.receivedCents, earnedCents: answer.json.totals.earnedCents };
}

/** The month (YYYY-MM) the instant falls in, in the zone. */
export function monthIn(ms: number, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit' }).formatToParts(ms);
  const part = (type: string) => parts.find((candidate) => candidate.type === type)?.value ?? '';
  return `${part('year')}-${part('month')}`;
}

/** `count` months, oldest first, the last being `last`. */
export function monthsEndingWith(last: string, count: number): string[] {
  const [year, month] = last.split('-').map(Number) as [number, number];
  const months: string[] = [];
  for (let back = count - 1; back >= 0; back--) {
    const index = year * 12 + (month - 1) - back;
    months.push(`${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, '0')}`);
  }
  return months;
}
