// `dctrl token …`, `dctrl keys list` and `dctrl vault export`: work on the local Vault file directly.
import type { Command } from 'commander';
import { systemClock } from '../../core/clock.js';
import { defaultGrants } from '../../core/grants.js';
import { hubCaPem } from '../broker-trust.js';
import { writeCredentialsBundle } from '../credentials.js';
import { CliError } from '../errors.js';
import { collect, configFrom, type GlobalOptions } from '../options.js';
import { credentialsFor, deviceCredentialsFor, openExistingVault, openVault } from '../vault-access.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT_CLIENT, type VaultKeeper } from '../../vault/index.js';

/** The longest token lifetime the config allows (vault.tokenTtlSeconds): 30 days. */
const MAX_TTL_SECONDS = 30 * 86_400;

async function withVault<T>(command: Command, work: (keeper: VaultKeeper) => Promise<T> | T): Promise<T> {
  const config = configFrom(command.optsWithGlobals<GlobalOptions>());
  const keeper = openExistingVault(config, process.env, systemClock);
  try {
    return await work(keeper);
  } finally {
    keeper.close();
  }
}

function print(line: string): void {
  process.stdout.write(line + '\n');
}

interface GrantOptions {
  pub?: string[];
  sub?: string[];
  ttl?: string;
  api?: boolean;
}

function ttlSeconds(options: GrantOptions): number | undefined {
  if (options.ttl === undefined) return undefined;
  const seconds = Number(options.ttl);
  if (!Number.isInteger(seconds) || seconds < 60 || seconds > MAX_TTL_SECONDS)
    throw new CliError('CLI_OPTION_INVALID', `--ttl expects whole seconds from 60 to ${MAX_TTL_SECONDS}, got "${options.ttl}"`);
  return seconds;
}

export function registerTokenCommands(program: Command): void {
  const token = program.command('token').description('issue, revoke and list bus and REST API access tokens');
  token
    .command('issue <client>')
    .description("issue a bus token with the client's default grants plus any given, or with --api a REST API token")
    .option('--pub <filter>', 'extra topic filter it may publish to (repeatable)', collect)
    .option('--sub <filter>', 'extra topic filter it may subscribe to (repeatable)', collect)
    .option('--ttl <seconds>', 'lifetime in seconds (default vault.tokenTtlSeconds, with --api vault.apiTokenTtlSeconds)')
    .option('--api', 'a token for the REST API (Bearer) only: the broker refuses it, and the REST API refuses bus tokens')
    .action(async (client: string, options: GrantOptions, command: Command) => {
      if (options.api && (options.pub !== undefined || options.sub !== undefined))
        throw new CliError(
          'CLI_OPTION_INVALID',
          '--api issues a REST API token, which has no topic grants: drop --pub and --sub',
        );
      const config = configFrom(command.optsWithGlobals<GlobalOptions>());
      return withVault(command, async (keeper) => {
        const grants = options.api
          ? { pub: [], sub: [] }
          : defaultGrants(client, { pub: options.pub ?? [], sub: options.sub ?? [] });
        const issued = options.api
          ? await keeper.issueToken(client, grants, ttlSeconds(options) ?? config.vault.apiTokenTtlSeconds, {
              audience: 'api',
            })
          : await keeper.issueToken(client, grants, ttlSeconds(options));
        print(`token id:   ${issued.tokenId}`);
        print(`client:     ${issued.client}`);
        print(`for:        ${options.api ? 'the REST API (Authorization: Bearer)' : 'the bus (MQTT password)'}`);
        print(`expires at: ${new Date(issued.expiresAt).toISOString()}`);
        if (!options.api) {
          print(`publish:    ${grants.pub.join(' ')}`);
          print(`subscribe:  ${grants.sub.join(' ')}`);
        }
        print(issued.token);
      });
    });
  token
    .command('revoke <tokenId>')
    .description('revoke a token; a running broker disconnects its holder within seconds')
    .option('--reason <text>', 'why, for the record', 'revoked by operator')
    .action(async (tokenId: string, options: { reason: string }, command: Command) =>
      withVault(command, (keeper) => {
        const changed = keeper.revokeToken(tokenId, options.reason);
        print(changed ? `revoked ${tokenId}` : `${tokenId} was already revoked`);
      }),
    );
  token
    .command('list')
    .description('list tokens that have not expired')
    .option('--all', 'include expired tokens')
    .option('--json', 'print JSON')
    .action(async (options: { all?: boolean; json?: boolean }, command: Command) =>
      withVault(command, (keeper) => {
        const tokens = keeper.listTokens({ includeExpired: options.all ?? false });
        if (options.json) return print(JSON.stringify(tokens, null, 2));
        print(['TOKEN ID'.padEnd(26), 'CLIENT'.padEnd(20), 'FOR'.padEnd(4), 'EXPIRES'.padEnd(24), 'STATUS'].join('  '));
        for (const t of tokens) {
          const status =
            t.revokedAt !== null ? `revoked (${t.revokeReason ?? ''})` : t.expiresAt <= systemClock.now() ? 'expired' : 'valid';
          print(
            [
              t.tokenId.padEnd(26),
              t.client.padEnd(20),
              t.audience.padEnd(4),
              new Date(t.expiresAt).toISOString().padEnd(24),
              status,
            ].join('  '),
          );
        }
      }),
    );

  const keys = program.command('keys').description('signing keys held by the Vault');
  keys
    .command('list')
    .description('list every client with a signing key, its public key and status')
    .action(async (_options: unknown, command: Command) =>
      withVault(command, (keeper) => {
        print(['CLIENT'.padEnd(20), 'PUBLIC KEY (Ed25519, base64url)'.padEnd(45), 'CREATED'.padEnd(24), 'STATUS'].join('  '));
        for (const key of keeper.listKeys()) {
          const status = key.retiredAt !== null ? `retired ${new Date(key.retiredAt).toISOString()}` : 'active';
          print(
            [key.client.padEnd(20), key.publicKey.padEnd(45), new Date(key.createdAt).toISOString().padEnd(24), status].join(
              '  ',
            ),
          );
        }
      }),
    );
  keys
    .command('rotate <client>')
    .description('give a client a new signing key; its old key and every token it holds stop working')
    .action(async (client: string, _options: unknown, command: Command) =>
      withVault(command, (keeper) => {
        const key = keeper.rotateKey(client);
        print(
          `new key for ${client}: ${key.publicKeyB64}; its tokens are revoked: export new credentials with \`dctrl vault export ${client}\``,
        );
      }),
    );
  keys
    .command('retire <client>')
    .description('remove a lost or stolen device: its key leaves the directory and its tokens are revoked')
    .action(async (client: string, _options: unknown, command: Command) =>
      withVault(command, (keeper) => {
        keeper.retireClient(client);
        print(`retired ${client}: every service drops its messages once the Vault publishes the new directory`);
      }),
    );

  const vault = program.command('vault').description('the Vault');
  vault
    .command('init')
    .description('create the vault in the data folder (`dctrl up` does this too), with the secret from the environment')
    .action((_options: unknown, command: Command) => {
      const config = configFrom(command.optsWithGlobals<GlobalOptions>());
      if (existsSync(join(config.dataDir, 'vault.db'))) {
        throw new CliError('CLI_OPTION_INVALID', `a vault already exists in ${config.dataDir}`);
      }
      const keeper = openVault(config, process.env, systemClock, (path) => print(`demo mode: vault key written to ${path}`));
      print(`vault created in ${config.dataDir}; root public key ${keeper.root.publicKeyB64}`);
      keeper.close();
    });
  vault
    .command('export <clients>')
    .description('write a credentials bundle (signing keys, tokens, root key) for services that run on another machine')
    .requiredOption('--out <file>', 'where to write it (created mode 0600: it holds private keys)')
    .option('--pub <filter>', 'extra topic filter they may publish to (repeatable)', collect)
    .option('--sub <filter>', 'extra topic filter they may subscribe to (repeatable)', collect)
    .option('--ttl <seconds>', 'token lifetime in seconds (they renew it over the bus)')
    .action(async (clients: string, options: GrantOptions & { out: string }, command: Command) =>
      withVault(command, async (keeper) => {
        const names = clients
          .split(',')
          .map((name) => name.trim())
          .filter(Boolean);
        if (names.includes(ROOT_CLIENT)) {
          throw new CliError(
            'CLI_OPTION_INVALID',
            'the Vault root key never leaves the Vault; export the services that run elsewhere',
          );
        }
        const config = configFrom(command.optsWithGlobals<GlobalOptions>());
        const devices = config.machines.devices;
        const brokerCa = hubCaPem(config);
        const bundle = [];
        for (const client of names) {
          const issue = client in devices ? deviceCredentialsFor : credentialsFor;
          bundle.push(await issue(keeper, client, { pub: options.pub ?? [], sub: options.sub ?? [] }, ttlSeconds(options)));
        }
        writeCredentialsBundle(options.out, keeper.root.publicKeyB64, bundle, brokerCa);
        print(
          `wrote credentials for ${names.join(', ')} to ${options.out}` +
            (brokerCa
              ? ', with the hub’s CA: they accept only a broker with a certificate from it'
              : '; no CA in it (run `dctrl tls init` first for mqtts://)'),
        );
      }),
    );
}
