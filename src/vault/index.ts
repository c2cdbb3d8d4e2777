// Vault service: publishes the signed key directory and revocation list, and renews tokens over the bus.
import { createBusClient, type BusClient } from '../auth-proxy/index.js';
import { DirectoryGet, KeyDirectory, Revocations, SecretGet, TokenRenew } from '../core/messages.js';
import type { Service, ServiceContext } from '../core/service.js';
import { VaultError } from './errors.js';
import type { VaultKeeper } from './keeper.js';

export const SERVICE_NAME = 'vault';

export { VaultKeeper, type VaultSecret, type IssuedToken, type TokenRecord, ROOT_CLIENT, DEMO_KEY_FILE } from './keeper.js';
export { VaultError, VaultErrorCodes } from './errors.js';

export interface VaultService extends Service {
  /** Publishes the directory and revocations now if they changed (the poll does this every revocationPollMs). */
  publishChanges(): Promise<void>;
}

export function createVaultService(context: ServiceContext, keeper: VaultKeeper): VaultService {
  const { config, clock } = context;
  const log = context.logger.child({ service: SERVICE_NAME });
  const directoryTtlMs = config.vault.directoryTtlSeconds * 1000;
  let bus: BusClient | undefined;
  let pollTimer: NodeJS.Timeout | undefined;
  let published = { directory: -1, revocations: -1, at: 0 };
  let publishing: Promise<void> = Promise.resolve();

  const publishIfChanged = async (): Promise<void> => {
    if (!bus) return;
    const versions = keeper.versions();
    // Re-sign well before expiry so subscribers never hold an expired directory.
    const due = clock.now() - published.at > directoryTtlMs / 4;
    if (due || versions.directory !== published.directory) {
      await bus.publish(KeyDirectory, keeper.directory(), { expiresInMs: directoryTtlMs });
    }
    if (due || versions.revocations !== published.revocations) {
      await bus.publish(Revocations, keeper.revocationList(), { expiresInMs: directoryTtlMs });
    }
    if (due) published.at = clock.now();
    published = { ...published, ...versions };
  };
  const publishChanges = (): Promise<void> => {
    publishing = publishing.then(publishIfChanged, publishIfChanged);
    return publishing;
  };

  return {
    name: SERVICE_NAME,
    publishChanges,
    async start() {
      // The Vault is the source of the directory, so it never waits for one on the bus.
      bus = createBusClient(context, {
        initialDirectory: { directory: keeper.directory(), expiresAt: clock.now() + directoryTtlMs },
      });
      await bus.start();
      await bus.respond(SecretGet, ({ name }, envelope) => {
        const readers = config.vault.secretReaders[name];
        if (!readers) throw new VaultError('VAULT_UNKNOWN_SECRET', `no secret "${name.slice(0, 64)}" is handed out`);
        const isDevice = envelope.issuer in config.machines.devices;
        if (!readers.includes(envelope.issuer) && !(isDevice && readers.includes('@devices'))) {
          throw new VaultError('VAULT_SECRET_NOT_ALLOWED', `"${envelope.issuer}" may not read secret "${name}"`);
        }
        log.info({ client: envelope.issuer, secret: name }, 'secret handed out');
        return { name, value: keeper.secret(name).toString('base64url') };
      });
      await bus.respond(TokenRenew, async ({ tokenId }, envelope) => {
        const renewed = await keeper.renewToken(tokenId, envelope.issuer);
        log.info({ client: renewed.client, tokenId: renewed.tokenId }, 'token renewed');
        return { token: renewed.token, tokenId: renewed.tokenId, expiresAt: renewed.expiresAt };
      });
      // The answer is the Vault's current state, newer than any retained copy a broker may be replaying.
      await bus.respond(DirectoryGet, () => ({
        directory: keeper.directory(),
        revocations: keeper.revocationList(),
        expiresAt: clock.now() + directoryTtlMs,
      }));
      await publishChanges();
      pollTimer = setInterval(() => {
        publishChanges().catch((error: unknown) => log.warn({ err: (error as Error).message }, 'could not publish vault state'));
      }, config.vault.revocationPollMs);
      pollTimer.unref();
    },
    async stop() {
      clearInterval(pollTimer);
      // A publish queued while the broker is away settles when the client stops; do not wait on it first.
      await bus?.stop();
      await publishing.catch(() => undefined);
    },
    describe() {
      return [`vault: ${keeper.listKeys().length} signing keys, directory v${keeper.versions().directory}`];
    },
  };
}
