// SubscriptionMgr: the broker side of the bus. Admits clients by token, enforces their grants, cuts expired and revoked sessions.
import type { Aedes, Client } from 'aedes';
import { createBusClient, type BusClient } from '../auth-proxy/index.js';
import { importPublicKey } from '../core/keys.js';
import { AuditDenied, Revocations } from '../core/messages.js';
import type { Service, ServiceContext } from '../core/service.js';
import { AuditLimiter } from '../core/audit-limiter.js';
import { brokerTlsPaths } from '../core/broker-tls.js';
import { deriveSealingKey } from '../core/seal.js';
import { openRenewal } from './renewal.js';
import { closeBroker, createBroker } from './broker.js';
import { SubscriptionMgrError } from './errors.js';
import { ConnectionGuard } from './guard.js';
import { openListeners, type OpenListener } from './listeners.js';
import { PublishQuotas } from './quota.js';
import { SessionTable, type Denial } from './sessions.js';

export const SERVICE_NAME = 'subscription-mgr';

export interface SubscriptionMgr extends Service {
  /** Where the listeners are bound, e.g. mqtt://127.0.0.1:1883 (the real port when 0 was asked). */
  readonly urls: string[];
  /** Told of every denial, for tests and metrics. */
  onDenial(listener: (denial: Denial) => void): void;
}

export interface SubscriptionMgrOptions {
  /** The revocation list as the Vault in this process holds it, so no revoked token gets in before the bus delivers it. */
  initialRevocations?: { version: number; revoked: { tokenId: string }[] };
}

export function createSubscriptionMgr(context: ServiceContext, options: SubscriptionMgrOptions = {}): SubscriptionMgr {
  const { config, clock } = context;
  const log = context.logger.child({ service: SERVICE_NAME });
  const sessions = new SessionTable(importPublicKey(context.credentials.rootPublicKey), clock, config.bus.maxMessageBytes);
  const sealingKey = deriveSealingKey(context.credentials.signingKey);
  const listeners: OpenListener[] = [];
  const denialListeners: ((denial: Denial) => void)[] = [];
  const auditLimit = new AuditLimiter(config.bus.auditPerSecond, clock);
  const tlsFiles = brokerTlsPaths(config.dataDir);
  const tls = {
    ...config.broker.tls,
    certFile: config.broker.tls.certFile ?? tlsFiles.serverCert,
    keyFile: config.broker.tls.keyFile ?? tlsFiles.serverKey,
  };
  const { limits } = config.broker;
  const quotas = new PublishQuotas(limits.publish, limits.publishOverrides, clock);
  let broker: Aedes | undefined;
  let revocationVersion = -1;
  const applyRevocations = (list: { version: number; revoked: { tokenId: string }[] }) => {
    // An older list (replayed, or delayed) must not un-revoke anything.
    if (list.version < revocationVersion) return;
    revocationVersion = list.version;
    cut(sessions.applyRevocations(list.revoked.map((entry) => entry.tokenId)), 'SUBSCRIPTION_MGR_SESSION_REVOKED');
  };
  let bus: BusClient | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;

  const report = (denial: Denial): void => {
    log.warn(
      { client: denial.client, action: denial.action, topic: denial.topic, code: denial.error.code },
      denial.error.message,
    );
    for (const listener of denialListeners) listener(denial);
    const suppressed = auditLimit.take();
    if (suppressed === undefined || !bus?.connected) return;
    bus
      .publish(AuditDenied, {
        client: denial.client.slice(0, 256),
        action: denial.action,
        ...(denial.topic !== undefined ? { topic: denial.topic.slice(0, 1024) } : {}),
        reason: denial.error.code,
        message: denial.error.message.slice(0, 2000),
        suppressed,
      })
      .catch((error: unknown) => log.warn({ err: (error as Error).message }, 'could not publish audit event'));
  };

  const cut = (connections: object[], code: 'SUBSCRIPTION_MGR_SESSION_EXPIRED' | 'SUBSCRIPTION_MGR_SESSION_REVOKED'): void => {
    for (const connection of connections) {
      const client = connection as Client;
      const claims = sessions.claimsOf(client);
      sessions.forget(client);
      const reason = code === 'SUBSCRIPTION_MGR_SESSION_EXPIRED' ? 'expired' : 'was revoked';
      report({
        client: client.id,
        action: 'session',
        error: new SubscriptionMgrError(code, `token ${claims?.tokenId ?? '?'} ${reason}; disconnected`),
      });
      client.close();
    }
  };

  return {
    name: SERVICE_NAME,
    get urls() {
      return listeners.map((listener) => listener.url);
    },
    onDenial(listener) {
      denialListeners.push(listener);
    },
    async start() {
      try {
        if (options.initialRevocations) applyRevocations(options.initialRevocations);
        const maxPacketBytes = config.bus.maxMessageBytes + limits.packetOverheadBytes;
        const guard = new ConnectionGuard(
          {
            preLoginBytes: limits.preLoginBytes,
            maxPacketBytes,
            connectionsPerAddress: limits.connectionsPerAddress,
            unauthenticatedConnections: limits.unauthenticatedConnections,
          },
          ({ address, error }) => report({ client: `(${address})`, action: 'connect', error }),
        );
        broker = await createBroker({
          sessions,
          quotas,
          drainTimeoutMs: config.broker.drainTimeoutMs,
          connectTimeoutMs: limits.connectTimeoutMs,
          onDenial: report,
          onLogin: (client) => guard.loggedIn(client.conn),
          openRenewal: (bytes, sessionClient) => openRenewal(bytes, sessionClient, sealingKey),
        });
        const handle = broker.handle.bind(broker);
        listeners.push(
          ...(await openListeners({ ...config.broker, tls, maxFrameBytes: maxPacketBytes }, (stream, remoteAddress) => {
            const guarded = guard.admit(stream, remoteAddress);
            if (guarded) handle(guarded);
          })),
        );
        sweepTimer = setInterval(() => {
          sessions.forgetWhere((connection) => (connection as Client).closed);
          quotas.sweep();
          cut(sessions.expired(), 'SUBSCRIPTION_MGR_SESSION_EXPIRED');
        }, config.subscriptionMgr.sessionSweepMs);
        sweepTimer.unref();
        // Its own bus client reaches this broker directly, whatever URL other clients are told.
        bus = createBusClient(context, { brokerUrl: listeners[0]!.url });
        bus.on(Revocations, applyRevocations);
        await bus.start();
        await bus.subscribe(Revocations.topic);
        log.info({ listeners: listeners.map((listener) => listener.url) }, 'broker listening');
      } catch (error) {
        await this.stop();
        throw error;
      }
    },
    async stop() {
      clearInterval(sweepTimer);
      await bus?.stop();
      bus = undefined;
      if (broker) await closeBroker(broker);
      broker = undefined;
      await Promise.all(listeners.splice(0).map((listener) => listener.close()));
    },
    describe() {
      return listeners.map(
        (listener) =>
          `broker (${listener.kind}): ${listener.url}${listener.kind === 'mqtts' ? ` (certificate ${tls.certFile})` : ''}`,
      );
    },
  };
}
