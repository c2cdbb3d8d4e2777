// Starts the services this process runs, in order, each with its own credentials; stops them in reverse.
import { join, resolve } from 'node:path';
import { closeShared, shareDirectory } from '../auth-proxy/index.js';
import type { Clock } from '../core/clock.js';
import type { Config, ServiceName } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import { createRegistry } from '../core/messages.js';
import type { Credentials, Service, ServiceContext } from '../core/service.js';
import { createBusinessData } from '../business-data/index.js';
import { openDatabase, type DatabaseHandle } from '../core/storage/index.js';
import { createEventLogger } from '../event-logger/index.js';
import { createMemberData } from '../member-data/index.js';
import { createPriceNotifier } from '../price-notifier/index.js';
import { createChainNotifier } from '../chain-notifier/index.js';
import { createReporter } from '../reporter/index.js';
import { createBusinessMgr } from '../business-mgr/index.js';
import { createMemberMail } from '../member-mail/index.js';
import { createPayoutMgr } from '../payout-mgr/index.js';
import { createServer } from '../server/index.js';
import { createMachineMgr } from '../machine-mgr/index.js';
import { createMachineNotifier } from '../machine-notifier/index.js';
import { createSubscriptionMgr } from '../subscription-mgr/index.js';
import { createVaultService, type VaultKeeper } from '../vault/index.js';
import { readCredentialsBundle } from './credentials.js';
import { CliError } from './errors.js';
import { credentialsFor, deviceCredentialsFor, openVault, type SecretEnv } from './vault-access.js';

export interface RunningNode {
  readonly services: Service[];
  readonly config: Config;
  readonly keeper: VaultKeeper | undefined;
  describe(): string[];
  stop(): Promise<void>;
}

export interface NodeOptions {
  clock: Clock;
  logger: Logger;
  secretEnv: SecretEnv;
}

/**
 * Embedded mode when the Vault runs here: it mints every local service's key and token.
 * Otherwise each service's credentials come from `credentialsFile` (`dctrl vault export`).
 */
export async function startNode(initialConfig: Config, options: NodeOptions): Promise<RunningNode> {
  let config = initialConfig;
  const registry = createRegistry();
  const shared: Record<string, unknown> = {};
  const running: Service[] = [];
  let database: DatabaseHandle | undefined;
  const wanted = new Set<ServiceName>(config.services);
  const keeper = wanted.has('vault')
    ? openVault(config, options.secretEnv, options.clock, (path, created) =>
        options.logger.warn(
          { keyFile: path },
          created
            ? 'demo mode: created a vault key beside the vault; set DCTRL_VAULT_PASSPHRASE or DCTRL_VAULT_KEY_FILE for real use'
            : 'demo mode: the vault key sits beside the vault; set DCTRL_VAULT_PASSPHRASE or DCTRL_VAULT_KEY_FILE for real use',
        ),
      )
    : undefined;
  const bundle = keeper ? undefined : config.credentialsFile ? readCredentialsBundle(config.credentialsFile) : undefined;

  const devices = config.machines.devices;
  const deviceServices = wanted.has('machine-mgr') || wanted.has('machine-notifier');
  // Unless machines.local says, every configured device on the hub, and on a device the ones its bundle carries.
  const localDevices = deviceServices
    ? (config.machines.local ?? Object.keys(devices).filter((id) => keeper !== undefined || bundle?.has(id)))
    : [];
  const credentials = async (client: string): Promise<Credentials> => {
    if (keeper) return client in devices ? deviceCredentialsFor(keeper, client) : credentialsFor(keeper, client);
    const found = bundle?.get(client);
    if (!found) {
      throw new CliError(
        'CLI_CREDENTIALS_MISSING',
        `"${client}" runs here without the Vault, so it needs credentials: run \`dctrl vault export ${client} --out creds.json\` on the hub and pass --credentials creds.json`,
      );
    }
    return found;
  };
  const contextFor = async (client: string): Promise<ServiceContext> => ({
    config,
    clock: options.clock,
    logger: options.logger,
    registry,
    credentials: await credentials(client),
    shared,
  });

  try {
    if (keeper) {
      // Keys first, so the directory handed to co-located services already names every one of them.
      // A device is a client of its own, named by its id; machine-mgr and machine-notifier are no clients.
      for (const service of config.services)
        if (service !== 'machine-mgr' && service !== 'machine-notifier') keeper.ensureClient(service);
      for (const device of localDevices) keeper.ensureClient(device);
      shareDirectory({ shared }, keeper.directory(), options.clock.now() + config.vault.directoryTtlSeconds * 1000);
    }
    if (wanted.has('subscription-mgr')) {
      const broker = createSubscriptionMgr(
        await contextFor('subscription-mgr'),
        keeper ? { initialRevocations: keeper.revocationList() } : {},
      );
      await broker.start();
      running.push(broker);
      // Co-located services reach this broker on the port it really bound.
      config = Object.freeze({ ...config, broker: Object.freeze({ ...config.broker, url: broker.urls[0]! }) });
    }
    if (keeper && wanted.has('vault')) await startOne(createVaultService(await contextFor('vault'), keeper), running);
    if (wanted.has('event-logger')) await startOne(createEventLogger(await contextFor('event-logger')), running);
    const dataServices: ServiceName[] = [
      'business-data',
      'member-data',
      'reporter',
      'chain-notifier',
      'business-mgr',
      'member-mail',
      'payout-mgr',
      'server',
    ];
    if (dataServices.some((name) => wanted.has(name))) {
      // The data services share one database: SQLite in the data folder, or PostgreSQL from db.url.
      database = await openDatabase({ url: config.db.url, sqliteFile: join(config.dataDir, 'dctrl.db') });
    }
    if (database && wanted.has('business-data'))
      await startOne(createBusinessData(await contextFor('business-data'), database), running);
    if (database && wanted.has('member-data'))
      await startOne(createMemberData(await contextFor('member-data'), database), running);
    if (database && wanted.has('reporter')) await startOne(createReporter(await contextFor('reporter'), database), running);
    // Needs no database: the rate lives on the broker as retained state.
    if (wanted.has('price-notifier')) await startOne(createPriceNotifier(await contextFor('price-notifier')), running);
    if (database && wanted.has('chain-notifier'))
      await startOne(createChainNotifier(await contextFor('chain-notifier'), database), running);
    if (database && wanted.has('business-mgr'))
      await startOne(createBusinessMgr(await contextFor('business-mgr'), database), running);
    if (database && wanted.has('member-mail'))
      await startOne(createMemberMail(await contextFor('member-mail'), database), running);
    if (database && wanted.has('payout-mgr')) await startOne(createPayoutMgr(await contextFor('payout-mgr'), database), running);
    if (database && wanted.has('server')) await startOne(createServer(await contextFor('server'), database), running);
    // Each device: its manager first, so it hears the very first tap its notifier passes on.
    for (const device of localDevices) {
      if (wanted.has('machine-mgr')) await startOne(createMachineMgr(await contextFor(device), device), running);
      if (wanted.has('machine-notifier')) await startOne(createMachineNotifier(await contextFor(device), device), running);
    }
  } catch (error) {
    await stopAll(running, options.logger);
    await database?.close();
    await closeShared(shared);
    keeper?.close();
    throw error;
  }

  return {
    services: running,
    get config() {
      return config;
    },
    keeper,
    describe: () => [`data folder: ${resolve(config.dataDir)}`, ...running.flatMap((service) => service.describe())],
    stop: async () => {
      await stopAll(running, options.logger);
      await database?.close();
      await closeShared(shared);
      keeper?.close();
    },
  };
}

async function startOne(service: Service, running: Service[]): Promise<void> {
  await service.start();
  running.push(service);
}

async function stopAll(running: Service[], logger: Logger): Promise<void> {
  for (const service of running.splice(0).reverse()) {
    try {
      await service.stop();
    } catch (error) {
      logger.error({ err: error, service: service.name }, 'service did not stop cleanly');
    }
  }
}
