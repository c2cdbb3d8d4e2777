// Builds a service's bus client from its context, sharing the verify cache and directory within one process.
import type { ServiceContext } from '../core/service.js';
import { BusClient, type BusClientOptions } from './bus-client.js';
import type { DirectoryPayload } from './key-directory.js';
import { VerifyCache } from './verify-cache.js';

const SHARED_VERIFY_CACHE = 'auth-proxy.verifyCache';
const SHARED_DIRECTORY = 'auth-proxy.directory';

/** Builds the bus client of a service from its context; it connects on start(). */
export function createBusClient(
  context: ServiceContext,
  options: Partial<
    Pick<BusClientOptions, 'instance' | 'persistentSession' | 'renewToken' | 'brokerUrl' | 'initialDirectory'>
  > = {},
): BusClient {
  const { config, credentials } = context;
  context.shared[SHARED_VERIFY_CACHE] ??= new VerifyCache();
  const directory = context.shared[SHARED_DIRECTORY] as DirectoryPayload | undefined;
  return new BusClient({
    client: credentials.client,
    signingKey: credentials.signingKey,
    token: credentials.token,
    rootPublicKey: credentials.rootPublicKey,
    brokerUrl: config.broker.url,
    ...(config.broker.caFile !== undefined ? { caFile: config.broker.caFile } : {}),
    registry: context.registry,
    clock: context.clock,
    logger: context.logger,
    policy: config.bus,
    verifyCache: context.shared[SHARED_VERIFY_CACHE] as VerifyCache,
    ...(directory ? { initialDirectory: directory } : {}),
    ...options,
  });
}

/** Lets co-located services start with a directory this process already holds (embedded mode). */
export function shareDirectory(context: Pick<ServiceContext, 'shared'>, directory: DirectoryPayload): void {
  context.shared[SHARED_DIRECTORY] = directory;
}
