// The embedded MQTT 3.1.1 broker (Aedes) with our token checks on connect, publish and subscribe.
import { Aedes, type Client } from 'aedes';
import { Topics } from '../core/messages.js';
import { SubscriptionMgrError } from './errors.js';
import type { PublishQuotas } from './quota.js';
import type { Denial, SessionTable } from './sessions.js';

export interface BrokerOptions {
  sessions: SessionTable;
  drainTimeoutMs: number;
  connectTimeoutMs: number;
  quotas: PublishQuotas;
  onDenial: (denial: Denial) => void;
  /** Told when a connection's CONNECT was accepted, before the CONNACK goes out. */
  onLogin: (client: Client) => void;
  /** The token inside a renewal sealed to this broker (see renewal.ts); throws when it is not one. */
  openRenewal: (bytes: Buffer, sessionClient: string | undefined) => Buffer;
}

const CONTROL_PREFIX = '$dctrl/';
const SYS_PREFIX = '$SYS/';

export async function createBroker(options: BrokerOptions): Promise<Aedes> {
  const { sessions, quotas, onDenial } = options;
  const deny = (client: Client | null, action: Denial['action'], error: unknown, topic?: string): Error => {
    const denial =
      error instanceof SubscriptionMgrError ? error : new SubscriptionMgrError('SUBSCRIPTION_MGR_TOKEN_INVALID', String(error));
    onDenial({ client: client?.id ?? '(none)', action, error: denial, ...(topic !== undefined ? { topic } : {}) });
    return denial;
  };

  const broker = await Aedes.createBroker({
    drainTimeout: options.drainTimeoutMs,
    connectTimeout: options.connectTimeoutMs,
    maxClientsIdLength: 128,
    authenticate: (client, _username, password, done) => {
      sessions.admit(client, client.id, password).then(
        () => {
          options.onLogin(client);
          done(null, true);
        },
        (error: unknown) => {
          const denial = deny(client, 'connect', error) as SubscriptionMgrError;
          done(Object.assign(new Error(denial.message), { returnCode: denial.returnCode ?? 5 }), false);
        },
      );
    },
    authorizePublish: (client, packet, done) => {
      if (!client) return done(new Error('no client'));
      if (packet.topic.startsWith(SYS_PREFIX)) {
        return done(
          deny(
            client,
            'publish',
            new SubscriptionMgrError('SUBSCRIPTION_MGR_PUBLISH_DENIED', `${SYS_PREFIX} is reserved`),
            packet.topic,
          ),
        );
      }
      try {
        sessions.checkPublish(client, packet.topic, packet.payload.length);
        quotas.take(sessions.claimsOf(client)!.client, packet.payload.length);
      } catch (error) {
        return done(deny(client, 'publish', error, packet.topic));
      }
      if (packet.topic !== Topics.sessionRenew) return done(null);
      Promise.resolve()
        .then(() => sessions.renew(client, options.openRenewal(Buffer.from(packet.payload), sessions.claimsOf(client)?.client)))
        .then(
          () => done(null),
          (error: unknown) => done(deny(client, 'session', error, packet.topic)),
        );
    },
    authorizeSubscribe: (client, subscription, done) => {
      try {
        sessions.checkSubscribe(client, subscription.topic);
        done(null, subscription);
      } catch (error) {
        deny(client, 'subscribe', error, subscription.topic);
        done(null, null); // [MQTT-3.9.3] answer 0x80 for this filter, keep the connection
      }
    },
    // Control messages (renewed tokens) end at the broker; no subscriber ever receives them.
    authorizeForward: (_client, packet) => (packet.topic.startsWith(CONTROL_PREFIX) ? null : packet),
  });
  broker.on('clientDisconnect', (client) => sessions.forget(client));
  return broker;
}

export function closeBroker(broker: Aedes): Promise<void> {
  return new Promise((resolve) => broker.close(() => resolve()));
}
