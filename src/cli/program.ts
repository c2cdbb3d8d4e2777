// The `dctrl` command tree; main.ts runs it, tests drive it directly.
import { Command, Option } from 'commander';
import { DctrlError } from '../core/errors.js';
import { registerApproverCommands } from './commands/approver.js';
import { registerLogCommands } from './commands/log.js';
import { registerMachineCommands } from './commands/machine.js';
import { registerMailCommands } from './commands/mail.js';
import { registerMemberCommands } from './commands/member.js';
import { registerMoneyCommands } from './commands/money.js';
import { registerPayoutCommands } from './commands/payout.js';
import { registerBitcoinCommands } from './commands/bitcoin.js';
import { registerSettingsCommands } from './commands/settings.js';
import { registerTlsCommands } from './commands/tls.js';
import { registerTokenCommands } from './commands/token.js';
import { registerUpCommand } from './commands/up.js';
import { registerUserCommands } from './commands/user.js';
import { collect, VERSION } from './options.js';

export function buildProgram(): Command {
  const program = new Command('dctrl')
    .description('dctrl-os: run a hackerspace on a signed publish/subscribe bus')
    .version(VERSION)
    .option('-c, --config <file>', 'config file (default ./dctrl.config.json when present)')
    .option('-d, --data-dir <dir>', 'data folder (keys, vault, logs)')
    .option('--set <key=value>', 'set any config key, e.g. --set bus.freshnessWindowMs=60000 (repeatable)', collect)
    .option(
      '--allow-plaintext',
      'send the command line’s token over mqtt:// to a broker on another machine (broker.allowPlaintext)',
    )
    .addOption(
      new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    )
    .showHelpAfterError();
  registerUpCommand(program);
  registerTokenCommands(program);
  registerLogCommands(program);
  registerSettingsCommands(program);
  registerMemberCommands(program);
  registerMoneyCommands(program);
  registerBitcoinCommands(program);
  registerMachineCommands(program);
  registerUserCommands(program);
  registerMailCommands(program);
  registerPayoutCommands(program);
  registerTlsCommands(program);
  registerApproverCommands(program);
  return program;
}

/** Runs the CLI; a DctrlError becomes one line on stderr and exit code 2 (bad config) or 1. */
export async function runCli(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof DctrlError) {
      process.stderr.write(`dctrl: ${error.code}: ${error.message}\n`);
      process.exitCode = error.code.startsWith('CORE_CONFIG') ? 2 : 1;
      return;
    }
    // Anything else (a file that cannot be written, say) still gets one readable line, not a stack trace.
    process.stderr.write(`dctrl: CLI_FAILED: ${(error as Error).message ?? String(error)}\n`);
    process.exitCode = 1;
  }
}
