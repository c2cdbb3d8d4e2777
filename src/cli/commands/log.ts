// `dctrl log verify|tail|replay`: read the hash-chained event log on disk.
import type { Command } from 'commander';
import { systemClock } from '../../core/clock.js';
import {
  EventLoggerError,
  eventLogDir,
  follow,
  lastRecords,
  replayFrom,
  verifyLog,
  type LogRecord,
} from '../../event-logger/index.js';
import { CliError } from '../errors.js';
import { configFrom, type GlobalOptions } from '../options.js';
import { openExistingVault } from '../vault-access.js';
import { isMessageId } from '../../core/ids.js';
import type { KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

function print(line: string): void {
  process.stdout.write(line + '\n');
}

function formatRecord(record: LogRecord, json: boolean): string {
  if (json) return JSON.stringify(record);
  const env = record.env as { id?: string; type?: string; issuer?: string };
  return `${String(record.seq).padStart(8)}  ${new Date(record.at).toISOString()}  ${(env.issuer ?? '?').padEnd(18)} ${(env.type ?? '?').padEnd(26)} ${record.topic}  ${env.id ?? ''}`;
}

/** The EventLogger's public key from the local Vault, to check the signed head; absent when no Vault is here. */
function headKey(command: Command): KeyObject | undefined {
  const config = configFrom(command.optsWithGlobals<GlobalOptions>());
  if (!existsSync(join(config.dataDir, 'vault.db'))) return undefined;
  // A vault that is here but will not open (wrong passphrase) is an error to report, not a head to skip.
  const keeper = openExistingVault(config, process.env, systemClock);
  try {
    return keeper.listKeys().some((key) => key.client === 'event-logger')
      ? keeper.signingKey('event-logger').publicKey
      : undefined;
  } finally {
    keeper.close();
  }
}

export function registerLogCommands(program: Command): void {
  const log = program.command('log').description('the hash-chained event log');
  log
    .command('verify')
    .description('check the whole chain; name the first record modified, removed, reordered or truncated')
    .option('--json', 'print the report as JSON')
    .action((options: { json?: boolean }, command: Command) => {
      const config = configFrom(command.optsWithGlobals<GlobalOptions>());
      const key = headKey(command);
      const report = verifyLog(eventLogDir(config.dataDir), key ? { headKey: key } : {});
      if (options.json) print(JSON.stringify(report, null, 2));
      else if (report.ok) {
        print(`ok: ${report.records} records in ${report.segments} segments, chain intact up to seq ${report.lastSeq}`);
        print(
          report.headChecked
            ? 'signed head checked'
            : 'signed head not checked (no head yet, or no Vault here to give the EventLogger key)',
        );
      }
      if (report.problem) throw new EventLoggerError(report.problem.code, report.problem.message);
    });
  log
    .command('tail')
    .description('print the last records')
    .option('-n, --lines <count>', 'how many', '20')
    .option('-f, --follow', 'keep printing new records')
    .option('--json', 'print whole records as JSON lines')
    .action(async (options: { lines: string; follow?: boolean; json?: boolean }, command: Command) => {
      const config = configFrom(command.optsWithGlobals<GlobalOptions>());
      const dir = eventLogDir(config.dataDir);
      const records = lastRecords(dir, count('--lines', options.lines));
      for (const record of records) print(formatRecord(record, options.json ?? false));
      if (!options.follow) return;
      const stop = follow(dir, records.at(-1)?.seq ?? 0, (record) => print(formatRecord(record, options.json ?? false)));
      await new Promise<void>((resolve) => process.once('SIGINT', resolve));
      stop();
    });
  log
    .command('replay')
    .description('print history from a message id, an ISO time or a sequence number, as JSON lines')
    .requiredOption('--from <id|time|seq>', 'message id (ULID), ISO-8601 time, or sequence number')
    .option('--limit <count>', 'stop after this many records')
    .action((options: { from: string; limit?: string }, command: Command) => {
      const config = configFrom(command.optsWithGlobals<GlobalOptions>());
      const limit = options.limit === undefined ? Infinity : count('--limit', options.limit);
      let printed = 0;
      for (const record of replayFrom(eventLogDir(config.dataDir), parseFrom(options.from))) {
        if (printed++ >= limit) break;
        print(JSON.stringify(record));
      }
    });
}

function parseFrom(text: string): { fromId: string } | { fromTime: number } | { fromSeq: number } {
  if (/^\d+$/.test(text)) return { fromSeq: Number(text) };
  if (isMessageId(text.toUpperCase())) return { fromId: text.toUpperCase() };
  const time = Date.parse(text);
  if (Number.isNaN(time)) {
    throw new CliError('CLI_OPTION_INVALID', `--from expects a message id, an ISO time or a sequence number, got "${text}"`);
  }
  return { fromTime: time };
}

function count(option: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0)
    throw new CliError('CLI_OPTION_INVALID', `${option} expects a whole number, got "${text}"`);
  return value;
}
