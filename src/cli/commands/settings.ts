// `dctrl tier|product|policy set|list`: change and read BusinessData through the running hub.
import type { Command } from 'commander';
import { SettingSet, SettingsGet } from '../../core/messages.js';
import { withBus } from '../bus-session.js';
import { CliError } from '../errors.js';
import { configFrom, type GlobalOptions } from '../options.js';

type Kind = 'tier' | 'product' | 'policy';

function print(line: string): void {
  process.stdout.write(line + '\n');
}

function whole(option: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value))
    throw new CliError('CLI_OPTION_INVALID', `${option} expects a whole number of cents, got "${text}"`);
  return value;
}

async function set(
  command: Command,
  kind: Kind,
  key: string,
  value: unknown,
  from: string | undefined,
  note: string | undefined,
): Promise<void> {
  const config = configFrom(command.optsWithGlobals<GlobalOptions>());
  await withBus(config, async (bus) => {
    const { change } = (await bus.request(SettingSet, {
      kind,
      key,
      value,
      ...(from !== undefined ? { effectiveFrom: from } : {}),
      ...(note !== undefined ? { note } : {}),
    })) as { change: { effectiveFrom: string; id: string } };
    print(`${kind} ${key} set from ${change.effectiveFrom} (change ${change.id})`);
  });
}

async function list(command: Command, kind: Kind, options: { at?: string; json?: boolean }): Promise<void> {
  const config = configFrom(command.optsWithGlobals<GlobalOptions>());
  await withBus(config, async (bus) => {
    const inForce = (await bus.request(SettingsGet, options.at !== undefined ? { at: options.at } : {})) as {
      at: string;
      tiers: Record<string, unknown>;
      products: Record<string, unknown>;
      policies: Record<string, unknown>;
    };
    const values = kind === 'tier' ? inForce.tiers : kind === 'product' ? inForce.products : inForce.policies;
    if (options.json)
      return print(JSON.stringify({ at: inForce.at, [kind === 'policy' ? 'policies' : `${kind}s`]: values }, null, 2));
    print(`in force on ${inForce.at}:`);
    for (const [key, value] of Object.entries(values)) print(`  ${key.padEnd(24)} ${JSON.stringify(value)}`);
  });
}

const FROM = ['--from <YYYY-MM-DD>', 'the day it takes effect (default: today in the space time zone)'] as const;

export function registerSettingsCommands(program: Command): void {
  const tier = program.command('tier').description('dues tiers');
  tier
    .command('set <key>')
    .description('set a dues tier from a day on')
    .requiredOption('--name <name>', 'what members see')
    .requiredOption('--dues-cents <cents>', 'monthly dues in the smallest currency unit')
    .option(...FROM)
    .option('--inactive', 'no longer offered')
    .option('--note <text>', 'why, for the record')
    .action(
      (key: string, o: { name: string; duesCents: string; from?: string; inactive?: boolean; note?: string }, command: Command) =>
        set(
          command,
          'tier',
          key,
          { name: o.name, monthlyDuesCents: whole('--dues-cents', o.duesCents), active: !o.inactive },
          o.from,
          o.note,
        ),
    );
  tier
    .command('list')
    .description('tiers in force')
    .option('--at <YYYY-MM-DD>', 'on this day')
    .option('--json', 'print JSON')
    .action((o: { at?: string; json?: boolean }, c: Command) => list(c, 'tier', o));

  const product = program.command('product').description('products in the vending machines');
  product
    .command('set <key>')
    .description('set a product from a day on')
    .requiredOption('--name <name>', 'what buyers see')
    .requiredOption('--price-cents <cents>', 'price in the smallest currency unit')
    .requiredOption('--machine <client>', 'the vending machine (its client name)')
    .requiredOption('--output <output>', 'the output on it that drops this product')
    .option(...FROM)
    .option('--inactive', 'no longer sold')
    .option('--note <text>', 'why, for the record')
    .action(
      (
        key: string,
        o: {
          name: string;
          priceCents: string;
          machine: string;
          output: string;
          from?: string;
          inactive?: boolean;
          note?: string;
        },
        command: Command,
      ) =>
        set(
          command,
          'product',
          key,
          {
            name: o.name,
            priceCents: whole('--price-cents', o.priceCents),
            machine: o.machine,
            output: o.output,
            active: !o.inactive,
          },
          o.from,
          o.note,
        ),
    );
  product
    .command('list')
    .description('products in force')
    .option('--at <YYYY-MM-DD>', 'on this day')
    .option('--json', 'print JSON')
    .action((o: { at?: string; json?: boolean }, c: Command) => list(c, 'product', o));

  const policy = program.command('policy').description('policies: grace days, door hours, credit limit, confirmations, …');
  policy
    .command('set <name> <value>')
    .description('set a policy from a day on; the value is JSON (14, "CAD", [..]) or plain text')
    .option(...FROM)
    .option('--note <text>', 'why, for the record')
    .action((name: string, text: string, o: { from?: string; note?: string }, command: Command) =>
      set(command, 'policy', name, jsonOrText(text), o.from, o.note),
    );
  policy
    .command('list')
    .description('policies in force')
    .option('--at <YYYY-MM-DD>', 'on this day')
    .option('--json', 'print JSON')
    .action((o: { at?: string; json?: boolean }, c: Command) => list(c, 'policy', o));
}

function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
