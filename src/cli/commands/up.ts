// `dctrl up`: run every service in one process (embedded), or only some against a remote broker.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { systemClock } from '../../core/clock.js';
import { SERVICE_NAMES } from '../../core/config.js';
import { configFrom, loggerFor, VERSION, type GlobalOptions } from '../options.js';
import { enrollDemoApprovers } from '../demo-approvers.js';
import { demoLoginsFile, seedDemoSpace } from '../demo.js';
import { startNode } from '../runtime.js';

export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description('start services; with no options, the whole hackerspace in this process')
    .option('--only <services>', `comma-separated subset of: ${SERVICE_NAMES.join(', ')}`)
    .option('--broker <url>', 'broker to connect to, e.g. mqtts://hub:8883')
    .option('--credentials <file>', 'credentials bundle from `dctrl vault export` (when the Vault runs elsewhere)')
    .option('--db <url>', 'PostgreSQL for the data services (postgres://…); SQLite in the data folder when absent)')
    .option('--demo', 'on first run, fill the space with demo members and six months of history (what `npm start` does)')
    .action(
      async (
        options: { only?: string; broker?: string; credentials?: string; db?: string; demo?: boolean },
        command: Command,
      ) => {
        const globals = command.optsWithGlobals<GlobalOptions>();
        const extra: Record<string, unknown> = {};
        if (options.only !== undefined)
          extra.services = options.only
            .split(',')
            .map((name) => name.trim())
            .filter(Boolean);
        if (options.broker !== undefined) extra['broker.url'] = options.broker;
        if (options.credentials !== undefined) extra.credentialsFile = options.credentials;
        if (options.db !== undefined) extra['db.url'] = options.db;
        const config = configFrom(globals, extra);
        const logger = loggerFor(config);
        // Listen for Ctrl-C before starting anything: a signal that came before the handlers would kill the
        // process without the clean stop (seen when a supervisor stops it the moment it says it is ready).
        let stopRequested: (signal: string) => void = () => undefined;
        const stopSignal = new Promise<string>((resolve) => (stopRequested = resolve));
        process.once('SIGINT', () => stopRequested('SIGINT'));
        process.once('SIGTERM', () => stopRequested('SIGTERM'));
        const demoServices = ['vault', 'business-data', 'member-data', 'reporter'] as const;
        const demo =
          options.demo && demoServices.every((name) => config.services.includes(name))
            ? await seedDemoSpace(config, process.env, logger, systemClock)
            : undefined;
        const node = await startNode(config, { clock: systemClock, logger, secretEnv: process.env });
        const approverKeys = await enrollDemoApprovers(node.config).catch((error: unknown) => {
          logger.warn({ err: (error as Error).message }, 'the demo approvers’ keys were not enrolled');
          return undefined;
        });
        const mode = config.services.length === SERVICE_NAMES.length ? 'embedded' : `only ${config.services.join(', ')}`;
        process.stdout.write(
          [
            `dctrl-os ${VERSION} is running (${mode})`,
            ...node.describe().map((line) => `  ${line}`),
            ...(demo ? [`  ${demo}`] : []),
            ...(approverKeys ? [`  ${approverKeys}`] : []),
            ...(existsSync(demoLoginsFile(config)) ? [`  dashboard logins (demo): ${demoLoginsFile(config)}`] : []),
            'Press Ctrl-C to stop.',
            '',
          ].join('\n'),
        );
        process.stdout.write(`\n${await stopSignal}: stopping…\n`);
        await node.stop();
        process.stdout.write('stopped cleanly\n');
        // A keyboard-style fob reader is read with a blocking read Node cannot cancel; it would hold the process
        // until the next key press.
        process.exit();
      },
    );
}
