// Opens the local Vault for the CLI and for `up`, with the secret from the environment (or demo mode).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type SECRET_ENV_VARS } from '../core/config.js';
import { CliError } from './errors.js';
import type { Clock } from '../core/clock.js';
import type { Config } from '../core/config.js';
import { defaultGrants } from '../core/grants.js';
import type { Grants } from '../core/token.js';
import type { Credentials } from '../core/service.js';
import { VaultKeeper, type VaultSecret } from '../vault/index.js';

export type SecretEnv = Partial<Record<(typeof SECRET_ENV_VARS)[number], string>>;

export function vaultSecretFrom(env: SecretEnv): VaultSecret {
  if (env.DCTRL_VAULT_KEY_FILE) return { keyFile: env.DCTRL_VAULT_KEY_FILE };
  if (env.DCTRL_VAULT_PASSPHRASE) return { passphrase: env.DCTRL_VAULT_PASSPHRASE };
  return { demo: true };
}

/** For commands other than `up`: the hub's existing vault, never a new one made by mistake in the wrong folder. */
export function openExistingVault(config: Config, env: SecretEnv, clock: Clock): VaultKeeper {
  if (!existsSync(join(config.dataDir, 'vault.db'))) {
    throw new CliError(
      'CLI_NO_VAULT',
      `no vault in ${resolve(config.dataDir)}; run this where the hub keeps its data, or pass --data-dir`,
    );
  }
  return openVault(config, env, clock);
}

export function openVault(
  config: Config,
  env: SecretEnv,
  clock: Clock,
  onDemoKey?: (path: string, created: boolean) => void,
): VaultKeeper {
  return VaultKeeper.open({
    dataDir: config.dataDir,
    secret: vaultSecretFrom(env),
    clock,
    tokenTtlSeconds: config.vault.tokenTtlSeconds,
    ...(onDemoKey ? { onDemoKey } : {}),
  });
}

/** A signing key (made on first use) and a fresh token with the client's default grants plus any extra. */
export async function credentialsFor(
  keeper: VaultKeeper,
  client: string,
  extra: Partial<Grants> = {},
  ttlSeconds?: number,
): Promise<Credentials> {
  const signingKey = keeper.ensureClient(client);
  const issued = await keeper.issueToken(client, defaultGrants(client, extra), ttlSeconds);
  return { client, signingKey, token: issued.token, rootPublicKey: keeper.root.publicKeyB64 };
}

const BUSINESS_MGR = 'business-mgr';

/** A device's credentials also pin the BusinessMgr key it takes commands and allow-lists from. */
export async function deviceCredentialsFor(
  keeper: VaultKeeper,
  device: string,
  extra: Partial<Grants> = {},
  ttlSeconds?: number,
): Promise<Credentials> {
  const credentials = await credentialsFor(keeper, device, extra, ttlSeconds);
  return { ...credentials, pinnedKeys: { [BUSINESS_MGR]: keeper.ensureClient(BUSINESS_MGR).publicKeyB64 } };
}
