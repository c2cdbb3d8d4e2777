// A real bus for tests: a temp data folder, a Vault, the embedded broker on a free port, and clients on demand.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeShared, createBusClient, shareDirectory, type BusClient } from '../../src/auth-proxy/index.js';
import { systemClock, type Clock } from '../../src/core/clock.js';
import { loadConfig, type Config, type ConfigInput } from '../../src/core/config.js';
import { defaultGrants } from '../../src/core/grants.js';
import { silentLogger } from '../../src/core/logger.js';
import { createRegistry } from '../../src/core/messages.js';
import type { Credentials, ServiceContext } from '../../src/core/service.js';
import type { Grants } from '../../src/core/token.js';
import { createSubscriptionMgr, type SubscriptionMgr } from '../../src/subscription-mgr/index.js';
import { createVaultService, VaultKeeper, type IssuedToken, type VaultService } from '../../src/vault/index.js';

export interface Harness {
  config: Config;
  clock: Clock;
  keeper: VaultKeeper;
  broker: SubscriptionMgr;
  vault: VaultService;
  brokerUrl: string;
  dataDir: string;
  shared: Record<string, unknown>;
  credentials(client: string, extra?: Partial<Grants>, ttlSeconds?: number): Promise<Credentials>;
  /** A REST API token (Bearer) for `client`, as `dctrl token issue <client> --api` gives: the broker refuses it. */
  apiToken(client: string): Promise<IssuedToken>;
  context(client: string, extra?: Partial<Grants>): Promise<ServiceContext>;
  /** A started bus client for `client`, stopped with the harness. */
  client(client: string, options?: { extra?: Partial<Grants>; brokerUrl?: string; instance?: string }): Promise<BusClient>;
  stop(): Promise<void>;
}

export function tempDir(prefix = 'dctrl-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function testConfig(dataDir: string, overrides: ConfigInput = {}): Config {
  return loadConfig({
    overrides: {
      dataDir,
      ...overrides,
      broker: { port: 0, ...(overrides.broker ?? {}) },
      log: { level: 'silent' },
    },
  });
}

export async function startHarness(options: { clock?: Clock; config?: ConfigInput; brokerUrl?: string } = {}): Promise<Harness> {
  const clock = options.clock ?? systemClock;
  const dataDir = tempDir();
  let config = testConfig(dataDir, options.config);
  const keeper = VaultKeeper.open({ dataDir, secret: { demo: true }, clock, tokenTtlSeconds: config.vault.tokenTtlSeconds });
  const registry = createRegistry();
  const shared: Record<string, unknown> = {};
  const stoppers: (() => Promise<void>)[] = [];

  const credentials = async (client: string, extra: Partial<Grants> = {}, ttlSeconds?: number): Promise<Credentials> => {
    const signingKey = keeper.ensureClient(client);
    const issued = await keeper.issueToken(client, defaultGrants(client, extra), ttlSeconds);
    return { client, signingKey, token: issued.token, rootPublicKey: keeper.root.publicKeyB64 };
  };
  const context = async (client: string, extra: Partial<Grants> = {}): Promise<ServiceContext> => ({
    config,
    clock,
    logger: silentLogger,
    registry,
    credentials: await credentials(client, extra),
    shared,
  });

  for (const name of ['subscription-mgr', 'event-logger']) keeper.ensureClient(name);
  shareDirectory({ shared }, keeper.directory(), clock.now() + config.vault.directoryTtlSeconds * 1000);
  let broker: SubscriptionMgr | undefined;
  let brokerUrl = options.brokerUrl;
  if (!brokerUrl) {
    broker = createSubscriptionMgr(await context('subscription-mgr'));
    await broker.start();
    stoppers.push(() => broker!.stop());
    brokerUrl = broker.urls[0]!;
  }
  config = Object.freeze({ ...config, broker: Object.freeze({ ...config.broker, url: brokerUrl }) });
  const vault = createVaultService(await context('vault'), keeper);
  await vault.start();
  stoppers.push(() => vault.stop());

  return {
    get config() {
      return config;
    },
    clock,
    keeper,
    broker: broker!,
    vault,
    brokerUrl,
    dataDir,
    shared,
    credentials,
    context,
    apiToken: (client) => keeper.issueToken(client, { pub: [], sub: [] }, config.vault.apiTokenTtlSeconds, { audience: 'api' }),
    async client(client, clientOptions = {}) {
      // A fresh directory, so clients made after new keys were added know them.
      keeper.ensureClient(client);
      shareDirectory({ shared }, keeper.directory(), clock.now() + config.vault.directoryTtlSeconds * 1000);
      await vault.publishChanges();
      const bus = createBusClient(await context(client, clientOptions.extra), {
        ...(clientOptions.brokerUrl ? { brokerUrl: clientOptions.brokerUrl } : {}),
        ...(clientOptions.instance ? { instance: clientOptions.instance } : {}),
      });
      await bus.start();
      stoppers.push(() => bus.stop());
      return bus;
    },
    async stop() {
      for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
      await closeShared(shared);
      keeper.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Resolves when `predicate` holds, polling; rejects with `what` after the timeout. */
export async function eventually(predicate: () => boolean, what: string | (() => string), timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
