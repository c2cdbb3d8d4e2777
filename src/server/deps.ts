// What the web app is built from: settings, time, a way to ask the other services over the bus, its own tables.
import type { Clock } from '../core/clock.js';
import type { Config } from '../core/config.js';
import type { MessageSpec, PayloadOf } from '../core/contract.js';
import type { Logger } from '../core/logger.js';
import type { DeviceBoard } from './devices.js';
import type { LiveFeed } from './live.js';
import type { ServerMetrics } from './metrics.js';
import type { SpaceApi } from './spaceapi.js';
import type { ServerStore } from './store.js';

/** A bus request as the client `server`; rejects with the responder's error or a timeout. */
export type Ask = <S extends MessageSpec>(spec: S, payload: PayloadOf<S>, options?: { timeoutMs?: number }) => Promise<unknown>;

export interface SpaceFacts {
  currency: string;
  timezone: string;
}

export interface AppDeps {
  config: Config;
  clock: Clock;
  logger: Logger;
  ask: Ask;
  store: ServerStore;
  /** The Vault's root public key (base64url), which signs the tokens machines call the API with. */
  rootPublicKey: string;
  /** Whether the Vault revoked a token (from its retained revocation list). */
  isRevoked: (tokenId: string) => boolean;
  /**
   * The space's currency and time zone from BusinessData, read at most once a minute (the login reply and the
   * reports both want them); the last answer when BusinessData is away, and its error when there never was one.
   */
  space: () => Promise<SpaceFacts>;
  /** Recent bus events, redacted, and new ones as they come: the live view. */
  live: LiveFeed;
  metrics: ServerMetrics;
  spaceApi: SpaceApi;
  /** Each configured device as its heartbeats and actuations left it. */
  devices: DeviceBoard;
}
