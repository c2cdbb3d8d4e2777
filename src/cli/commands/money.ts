// `dctrl payment …` and `dctrl report …`: record money in the ledger and read the Reporter's reports.
import type { Command } from 'commander';
import type { PayloadOf } from '../../core/contract.js';
import { LedgerRecord, ReporterRun, ReportRequest } from '../../core/messages.js';
import { formatCents, parseAmountToCents } from '../../core/money.js';
import type { BusClient } from '../../auth-proxy/index.js';
import { withBus } from '../bus-session.js';
import { CliError } from '../errors.js';
import { configFrom, type GlobalOptions } from '../options.js';
import type { BalancesReport, IncomeReport, LedgerReport, MembersReport, StatementReport } from '../../reporter/reports.js';
import { table } from '../table.js';

function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}

async function onBus<T>(command: Command, work: (bus: BusClient) => Promise<T>): Promise<T> {
  return withBus(configFrom(command.optsWithGlobals<GlobalOptions>()), work);
}

interface RecordReply {
  entry: { id: string; kind: string; cents: number; currency: string; month: string };
  balanceCents: number | null;
  duplicate: boolean;
}

async function record(command: Command, payload: PayloadOf<typeof LedgerRecord>): Promise<void> {
  await onBus(command, async (bus) => {
    const { entry, balanceCents, duplicate } = (await bus.request(LedgerRecord, payload)) as RecordReply;
    const balance = balanceCents === null ? '' : `; balance ${formatCents(balanceCents)} ${entry.currency}`;
    print(
      `${duplicate ? 'already recorded' : 'recorded'}: ${entry.kind} ${formatCents(entry.cents)} ${entry.currency} in ${entry.month} (entry ${entry.id})${balance}`,
    );
  });
}

type ReportPayload = PayloadOf<typeof ReportRequest>;

/** Fetches every page of a report; CSV pages are joined (only the first carries the header). */
async function fetchReport(bus: BusClient, payload: ReportPayload): Promise<{ json: unknown[]; csv: string }> {
  const json: unknown[] = [];
  let csv = '';
  let after: string | undefined;
  do {
    const page = (await bus.request(ReportRequest, after === undefined ? payload : { ...payload, after })) as {
      json?: unknown;
      csv?: string;
      next: string | null;
    };
    if (page.json !== undefined) json.push(page.json);
    csv += page.csv ?? '';
    after = page.next ?? undefined;
  } while (after !== undefined);
  return { json, csv };
}

function showIncome(report: IncomeReport): string {
  const rows = [['section', 'source', 'method', 'entries', 'amount', 'sats']];
  for (const line of report.lines) {
    rows.push([
      line.section,
      line.source,
      line.method,
      String(line.entries),
      `${formatCents(line.cents)} ${line.currency}`,
      String(line.sats),
    ]);
  }
  const { totals } = report;
  return [
    `income for ${report.month}`,
    table(rows),
    `earned ${formatCents(totals.earnedCents)}; received ${formatCents(totals.receivedCents)} (cash ${formatCents(totals.receivedCashCents)}, bitcoin ${formatCents(totals.receivedBitcoinCents)} = ${totals.receivedSats} sats)`,
  ].join('\n');
}

function showMembers(pages: MembersReport[]): string {
  const rows = [['member', 'name', 'tier', 'status', 'why', 'balance', 'groups']];
  for (const line of pages.flatMap((page) => page.members)) {
    rows.push([
      line.memberId,
      line.name,
      line.tier,
      line.status,
      line.reason,
      formatCents(line.balanceCents),
      line.groups.join(' '),
    ]);
  }
  const counts = pages[0]?.counts ?? { active: 0, inactive: 0, left: 0 };
  return `${table(rows)}\n${counts.active} active, ${counts.inactive} inactive, ${counts.left} left`;
}

function showStatement(pages: StatementReport[]): string {
  const first = pages[0]!;
  const rows = [['date', 'month', 'kind', 'method', 'amount', 'balance', 'note']];
  for (const entry of pages.flatMap((page) => page.entries)) {
    rows.push([
      new Date(entry.at).toISOString().slice(0, 10),
      entry.month,
      entry.kind,
      entry.method ?? '',
      formatCents(entry.cents),
      formatCents(entry.balanceCents),
      typeof entry.detail.note === 'string' ? entry.detail.note : '',
    ]);
  }
  return [
    `statement for ${first.member.name} (${first.member.memberId}), ${first.member.status}${first.month ? `, ${first.month}` : ''}`,
    `opening ${formatCents(first.openingCents)}`,
    table(rows),
    `closing ${formatCents(first.closingCents)}`,
  ].join('\n');
}

function showBalances(pages: BalancesReport[]): string {
  const rows = [['member', 'name', 'status', 'balance']];
  for (const line of pages.flatMap((page) => page.balances))
    rows.push([line.memberId, line.name, line.status, formatCents(line.balanceCents)]);
  const totals = pages[0]!.totals;
  return `${table(rows)}\nowed to the space ${formatCents(totals.owedToSpaceCents)}; credit held ${formatCents(totals.creditHeldCents)}`;
}

function showLedger(pages: LedgerReport[]): string {
  const rows = [['entry', 'date', 'month', 'kind', 'member', 'method', 'amount', 'note']];
  for (const entry of pages.flatMap((page) => page.entries)) {
    rows.push([
      entry.id,
      new Date(entry.at).toISOString().slice(0, 10),
      entry.month,
      entry.kind,
      entry.memberId ?? '',
      entry.method ?? '',
      `${formatCents(entry.cents)} ${entry.currency}`,
      typeof entry.detail.note === 'string' ? entry.detail.note : '',
    ]);
  }
  return rows.length === 1 ? 'no entries' : table(rows);
}

type Format = 'table' | 'json' | 'csv';

function formatOption(text: string): Format {
  if (text !== 'table' && text !== 'json' && text !== 'csv') {
    throw new CliError('CLI_OPTION_INVALID', `--format expects table, json or csv, got "${text.slice(0, 20)}"`);
  }
  return text;
}

async function report(
  command: Command,
  payload: Omit<ReportPayload, 'format'>,
  format: Format,
  show: (pages: never[]) => string,
) {
  await onBus(command, async (bus) => {
    const { json, csv } = await fetchReport(bus, { ...payload, format: format === 'csv' ? 'csv' : 'json' });
    if (format === 'csv') return print(csv);
    if (format === 'json') return print(JSON.stringify(json.length === 1 ? json[0] : json, null, 2));
    print(show(json as never[]));
  });
}

export function registerMoneyCommands(program: Command): void {
  const payment = program.command('payment').description('money in the ledger (amounts like 75 or 75.00, in the space currency)');
  payment
    .command('record-cash <memberId> <amount>')
    .description('cash a member paid (toward dues or their balance)')
    .option('--receipt <id>', 'the receipt number: recording the same receipt twice records it once')
    .option('--note <text>', 'a note for the statement')
    .action((memberId: string, amount: string, o: { receipt?: string; note?: string }, c: Command) =>
      record(c, {
        kind: 'payment',
        memberId,
        cents: parseAmountToCents(amount),
        method: 'cash',
        ...(o.receipt !== undefined ? { causedBy: `receipt:${o.receipt}` } : {}),
        ...(o.note !== undefined ? { note: o.note } : {}),
      }),
    );
  payment
    .command('donation <amount>')
    .description('a cash donation to the space (touches no member balance)')
    .option('--receipt <id>', 'the receipt number, so it is recorded once')
    .option('--note <text>', 'who or what it was for')
    .action((amount: string, o: { receipt?: string; note?: string }, c: Command) =>
      record(c, {
        kind: 'donation',
        cents: parseAmountToCents(amount),
        method: 'cash',
        ...(o.receipt !== undefined ? { causedBy: `receipt:${o.receipt}` } : {}),
        ...(o.note !== undefined ? { note: o.note } : {}),
      }),
    );
  payment
    .command('adjust <memberId> <amount>')
    .description('correct a balance: a credit, or with --debit a charge; the reason goes on the statement')
    .requiredOption('--reason <text>', 'why')
    .option('--debit', 'take the amount from the balance instead of adding it')
    .option('--receipt <id>', 'a reference for this correction, so running the command again records it once')
    .action((memberId: string, amount: string, o: { reason: string; debit?: boolean; receipt?: string }, c: Command) => {
      const cents = parseAmountToCents(amount);
      return record(c, {
        kind: 'adjustment',
        memberId,
        cents: o.debit ? -cents : cents,
        note: o.reason,
        ...(o.receipt !== undefined ? { causedBy: `receipt:${o.receipt}` } : {}),
      });
    });

  const reports = program.command('report').description('reports from the Reporter (table, json or csv)');
  reports
    .command('income')
    .description('what the space earned and received in a month, by source and method')
    .requiredOption('--month <YYYY-MM>', 'the month, in the space time zone')
    .option('--format <format>', 'table, json or csv', formatOption, 'table' as Format)
    .action((o: { month: string; format: Format }, c: Command) =>
      report(c, { report: 'income', month: o.month }, o.format, (pages) => showIncome(pages[0]!)),
    );
  reports
    .command('members')
    .description('members with status, balance and groups')
    .option('--all', 'include those who left')
    .option('--format <format>', 'table, json or csv', formatOption, 'table' as Format)
    .action((o: { all?: boolean; format: Format }, c: Command) =>
      report(c, { report: 'members', includeLeft: o.all ?? false }, o.format, showMembers),
    );
  reports
    .command('balances')
    .description('every balance that is not zero, and the totals')
    .option('--format <format>', 'table, json or csv', formatOption, 'table' as Format)
    .action((o: { format: Format }, c: Command) => report(c, { report: 'balances' }, o.format, showBalances));
  reports
    .command('statement <memberId>')
    .description('one member’s entries with the running balance')
    .option('--month <YYYY-MM>', 'only this month')
    .option('--format <format>', 'table, json or csv', formatOption, 'table' as Format)
    .action((memberId: string, o: { month?: string; format: Format }, c: Command) =>
      report(c, { report: 'statement', memberId, ...(o.month !== undefined ? { month: o.month } : {}) }, o.format, showStatement),
    );
  reports
    .command('ledger')
    .description('every ledger entry in the order recorded, or one member’s; --after continues from an entry id')
    .option('--member <memberId>', 'only this member’s entries')
    .option('--after <entryId>', 'only entries recorded after this one (CSV then comes without a header, to append)')
    .option('--format <format>', 'table, json or csv', formatOption, 'table' as Format)
    .action((o: { member?: string; after?: string; format: Format }, c: Command) =>
      report(
        c,
        {
          report: 'ledger',
          ...(o.member !== undefined ? { memberId: o.member } : {}),
          ...(o.after !== undefined ? { after: o.after } : {}),
        },
        o.format,
        showLedger,
      ),
    );
  reports
    .command('run')
    .description('run the dues job now (it also runs on its own schedule)')
    .action((_o: unknown, c: Command) =>
      onBus(c, async (bus) => {
        const result = (await bus.request(ReporterRun, { action: 'dues' })) as {
          charged: number;
          months: string[];
          problems: string[];
        };
        print(`charged ${result.charged} dues${result.months.length ? ` for ${result.months.join(', ')}` : ''}`);
        for (const problem of result.problems) print(`not charged: ${problem}`);
      }),
    );
  reports
    .command('rebuild')
    .description('derive balances, status and groups again from the events alone, and say whether anything differed')
    .action((_o: unknown, c: Command) =>
      onBus(c, async (bus) => {
        const result = (await bus.request(ReporterRun, { action: 'rebuild' }, { timeoutMs: 60_000 })) as {
          facts: number;
          entries: number;
          accounts: number;
          identical: boolean;
          ms: number;
        };
        print(
          `rebuilt ${result.accounts} accounts from ${result.facts} member facts and ${result.entries} ledger entries in ${result.ms} ms: ${result.identical ? 'identical to before' : 'DIFFERENT from before (the stored state had drifted; it is now corrected)'}`,
        );
      }),
    );
}
