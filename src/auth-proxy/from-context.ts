// Builds a service's bus client from its context, sharing the verify cache and directory within one process.
import type { ServiceContext } from '../core/service.js';
import { VERSION } from '../core/version.js';
import { BusClient, type BusClientOptions } from './bus-client.js';
import type { DirectoryPayload } from './key-directory.js';
import { VerifyCache } from './verify-cache.js';
import { inlineVerifier, VerifierPool, type Verifier } from './verifier-pool.js';
import { availableParallelism } from 'node:os';

const SHARED_VERIFY_CACHE = 'auth-proxy.verifyCache';
const SHARED_VERIFIER = 'auth-proxy.verifier';
const SHARED_DIRECTORY = 'auth-proxy.directory';

function verifierFor(context: ServiceContext): Verifier {
  const configured = context.config.bus.verifyThreads;
  const threads = configured === 'auto' ? Math.min(4, availableParallelism() - 1) : configured;
  return (context.shared[SHARED_VERIFIER] ??= threads > 0 ? new VerifierPool(threads) : inlineVerifier) as Verifier;
}

/** Ends what the services of one process shared: the verifier threads. */
export async function closeShared(shared: Record<string, unknown>): Promise<void> {
  const verifier = shared[SHARED_VERIFIER] as Verifier | undefined;
  delete shared[SHARED_VERIFIER];
  await verifier?.close();
}

/** Builds the bus client of a service from its context; it connects on start(). */
export function createBusClient(
  context: ServiceContext,
  options: Partial<
    Pick<BusClientOptions, 'instance' | 'persistentSession' | 'renewToken' | 'brokerUrl' | 'initialDirectory'>
  > = {},
): BusClient {
  const { config, credentials } = context;
  context.shared[SHARED_VERIFY_CACHE] ??= new VerifyCache();
  const directory = context.shared[SHARED_DIRECTORY] as { directory: DirectoryPayload; expiresAt: number } | undefined;
  return new BusClient({
    client: credentials.client,
    signingKey: credentials.signingKey,
    token: credentials.token,
    rootPublicKey: credentials.rootPublicKey,
    brokerUrl: config.broker.url,
    ...(config.broker.caFile !== undefined
      ? { caFile: config.broker.caFile }
      : credentials.brokerCa !== undefined
        ? { ca: credentials.brokerCa }
        : {}),
    registry: context.registry,
    clock: context.clock,
    logger: context.logger,
    policy: config.bus,
    verifyCache: context.shared[SHARED_VERIFY_CACHE] as VerifyCache,
    verifier: verifierFor(context),
    ...(credentials.saveToken ? { onTokenRenewed: credentials.saveToken } : {}),
    version: VERSION,
    ...(directory ? { initialDirectory: directory } : {}),
    ...options,
  });
}

/** Lets co-located services start with a directory this process already holds (embedded mode). */
export function shareDirectory(context: Pick<ServiceContext, 'shared'>, directory: DirectoryPayload, expiresAt: number): void {
  context.shared[SHARED_DIRECTORY] = { directory, expiresAt };
}
