// What the benchmarks that run services in one process share: a demo Vault that keys every client, and the context
// each service starts from (its token carrying the client's default grants).
import { shareDirectory } from '../src/auth-proxy/index.js';
import { systemClock } from '../src/core/clock.js';
import type { Config } from '../src/core/config.js';
import { defaultGrants } from '../src/core/grants.js';
import { silentLogger } from '../src/core/logger.js';
import { createRegistry } from '../src/core/messages.js';
import type { ServiceContext } from '../src/core/service.js';
import type { Grants } from '../src/core/token.js';
import { VaultKeeper } from '../src/vault/index.js';

/** Benchmarks push a load far past normal on purpose: publish quotas so high they never bite (but are still checked). */
export const UNMETERED_BROKER_LIMITS = {
  publish: { messagesPerSecond: 1_000_000, messageBurst: 10_000_000, bytesPerSecond: 10_000_000_000, byteBurst: 100_000_000_000 },
};

export interface BenchVault {
  keeper: VaultKeeper;
  shared: Record<string, unknown>;
  /** The context a service or client starts from; `config()` is read now, so a broker URL set later is seen. */
  context: (client: string, extra?: Partial<Grants>) => Promise<ServiceContext>;
}

export function benchVault(
  dataDir: string,
  config: () => Config,
  clients: readonly string[],
  tokenTtlSeconds?: number,
): BenchVault {
  const keeper = VaultKeeper.open({
    dataDir,
    secret: { demo: true },
    clock: systemClock,
    tokenTtlSeconds: tokenTtlSeconds ?? config().vault.tokenTtlSeconds,
  });
  const registry = createRegistry();
  const shared: Record<string, unknown> = {};
  for (const client of clients) keeper.ensureClient(client);
  shareDirectory({ shared }, keeper.directory(), Date.now() + config().vault.directoryTtlSeconds * 1000);
  return {
    keeper,
    shared,
    context: async (client, extra = {}) => ({
      config: config(),
      clock: systemClock,
      logger: silentLogger,
      registry,
      shared,
      credentials: {
        client,
        signingKey: keeper.ensureClient(client),
        token: (await keeper.issueToken(client, defaultGrants(client, extra))).token,
        rootPublicKey: keeper.root.publicKeyB64,
      },
    }),
  };
}
