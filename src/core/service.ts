// What every service is given and what it gives back: built from context, connected by start(), undone by stop().
import type { Clock } from './clock.js';
import type { Config } from './config.js';
import type { MessageRegistry } from './contract.js';
import type { SigningKey } from './keys.js';
import type { Logger } from './logger.js';

/** What a client needs to join the bus: its name, its signing key, its token and the pinned Vault root key. */
export interface Credentials {
  client: string;
  signingKey: SigningKey;
  token: string;
  rootPublicKey: string;
  /** Public keys (base64url) this client trusts for named signers beyond the directory: a device pins BusinessMgr's. */
  pinnedKeys?: Record<string, string>;
  /** The CA certificate (PEM) the broker's certificate must chain to: the hub's own, pinned by its bundle. */
  brokerCa?: string;
  /** Keeps a renewed token where the credentials came from, so a restart uses it (a device's bundle file). */
  saveToken?: (token: string) => void;
}

export interface ServiceContext {
  config: Config;
  clock: Clock;
  logger: Logger;
  registry: MessageRegistry;
  credentials: Credentials;
  /** Shared by the services of one process so each message's signature is checked once here. */
  shared: Record<string, unknown>;
}

export interface Service {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Lines for the start-up banner: where this service can be reached. */
  describe(): string[];
}
