// `dctrl user …`: the people who log in to the dashboard. Written straight into the hub's database (the CLI runs
// where the hub keeps its data), so no password ever crosses the bus or lands in the event log.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../../core/config.js';
import { openDatabase } from '../../core/storage/index.js';
import { MIN_PASSWORD_LENGTH, ROLES, ServerStore, type Role } from '../../server/index.js';
import { CliError } from '../errors.js';
import { configFrom, type GlobalOptions } from '../options.js';

function print(text: string): void {
  process.stdout.write(text + '\n');
}

async function withStore<T>(config: Config, work: (store: ServerStore) => Promise<T>): Promise<T> {
  const database = await openDatabase({ url: config.db.url, sqliteFile: join(config.dataDir, 'dctrl.db') });
  try {
    return await work(await ServerStore.open(database));
  } finally {
    await database.close();
  }
}

function roleOf(text: string): Role {
  if (!(ROLES as readonly string[]).includes(text)) {
    throw new CliError('CLI_OPTION_INVALID', `--role expects one of ${ROLES.join(', ')}; got "${text.slice(0, 40)}"`);
  }
  return text as Role;
}

/** The password from standard input (one line), or a new random one that is printed once. */
function passwordFrom(fromStdin: boolean): { password: string; generated: boolean } {
  if (!fromStdin) return { password: randomBytes(15).toString('base64url'), generated: true };
  const password = readFileSync(0, 'utf8').split(/\r?\n/)[0] ?? '';
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new CliError(
      'CLI_OPTION_INVALID',
      `the password on standard input has ${password.length} characters; at least ${MIN_PASSWORD_LENGTH} are needed`,
    );
  }
  return { password, generated: false };
}

export function registerUserCommands(program: Command): void {
  const user = program.command('user').description('dashboard logins: operators (admin, treasurer) and members');
  user
    .command('add <name>')
    .description('add a login, or change its role, member and password (its sessions end)')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .option('--member <memberId>', 'the member a member login is (required with --role member)')
    .option('--password-stdin', 'read the password from standard input instead of making one')
    .action(async (name: string, options: { role: string; member?: string; passwordStdin?: boolean }, c: Command) => {
      const config = configFrom(c.optsWithGlobals<GlobalOptions>());
      const role = roleOf(options.role);
      const { password, generated } = passwordFrom(options.passwordStdin === true);
      const saved = await withStore(config, (store) =>
        store.setUser({ name, role, memberId: options.member ?? null, password }, Date.now()),
      );
      print(`${saved.name}: ${saved.role}${saved.memberId ? ` (member ${saved.memberId})` : ''}`);
      if (generated)
        print(`password: ${password}   (shown once; change it with dctrl user add ${name} --role ${role} --password-stdin)`);
    });
  user
    .command('list')
    .description('every login with its role and member')
    .action(async (_options: unknown, c: Command) => {
      const config = configFrom(c.optsWithGlobals<GlobalOptions>());
      const users = await withStore(config, (store) => store.users());
      if (users.length === 0) return print('no logins yet: dctrl user add <name> --role admin');
      for (const entry of users) print(`${entry.name.padEnd(24)} ${entry.role.padEnd(10)} ${entry.memberId ?? ''}`.trimEnd());
    });
  user
    .command('remove <name>')
    .description('remove a login and end its sessions')
    .action(async (name: string, _options: unknown, c: Command) => {
      const config = configFrom(c.optsWithGlobals<GlobalOptions>());
      const removed = await withStore(config, (store) => store.removeUser(name));
      if (!removed) throw new CliError('CLI_OPTION_INVALID', `there is no login "${name.slice(0, 64)}"`);
      print(`removed ${name}`);
    });
}
