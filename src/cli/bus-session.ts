// The command line as a bus client on the hub: a short-lived `cli` token from the local Vault, then requests.
import { randomBytes } from 'node:crypto';
import { closeShared, createBusClient, type BusClient } from '../auth-proxy/index.js';
import { systemClock } from '../core/clock.js';
import type { Config } from '../core/config.js';
import { DctrlError } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { createRegistry } from '../core/messages.js';
import { assertTokenStaysPrivate, hubCaPem } from './broker-trust.js';
import { CliError } from './errors.js';
import { credentialsFor, openExistingVault } from './vault-access.js';

const CLI_CLIENT = 'cli';
const CLI_TOKEN_SECONDS = 300;
const DIRECTORY_WAIT_MS = 10_000;

/** Connects to the running hub as `cli`, runs the work, and leaves; the token lives five minutes. */
export async function withBus<T>(config: Config, work: (bus: BusClient) => Promise<T>): Promise<T> {
  assertTokenStaysPrivate(config.broker.url, config.broker.allowPlaintext);
  const brokerCa = hubCaPem(config);
  const keeper = openExistingVault(config, process.env, systemClock);
  let credentials;
  let directoryVersion: number;
  try {
    credentials = { ...(await credentialsFor(keeper, CLI_CLIENT, {}, CLI_TOKEN_SECONDS)), ...(brokerCa ? { brokerCa } : {}) };
    directoryVersion = keeper.directory().version;
  } finally {
    keeper.close();
  }
  const shared: Record<string, unknown> = {};
  const bus = createBusClient(
    { config, clock: systemClock, logger: createLogger('warn'), registry: createRegistry(), credentials, shared },
    { instance: randomBytes(4).toString('hex'), persistentSession: false, renewToken: false },
  );
  try {
    await bus.start();
  } catch (cause) {
    await closeShared(shared);
    const detail = cause instanceof DctrlError ? cause.message : String(cause);
    if (cause instanceof DctrlError && cause.code === 'AUTH_PROXY_BROKER_UNTRUSTED')
      throw new CliError('CLI_BROKER_UNTRUSTED', detail, { cause });
    throw new CliError(
      'CLI_HUB_UNREACHABLE',
      `cannot reach the hub at ${config.broker.url} (is \`dctrl up\` running there?): ${detail}`,
      { cause },
    );
  }
  try {
    // Services accept the CLI's requests once the running Vault has published a directory with its key.
    const deadline = Date.now() + DIRECTORY_WAIT_MS;
    while (bus.directoryVersion < directoryVersion) {
      if (Date.now() > deadline)
        throw new CliError('CLI_HUB_UNREACHABLE', 'the hub did not publish the key of the command line; is its Vault running?');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return await work(bus);
  } finally {
    await bus.stop();
    await closeShared(shared);
  }
}
