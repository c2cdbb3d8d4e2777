// SubscriptionMgr error and denial codes: why the broker refused a client.
import { DctrlError } from '../core/errors.js';

export const SubscriptionMgrErrorCodes = {
  SUBSCRIPTION_MGR_NO_TOKEN: 'The client connected without a token as its MQTT password.',
  SUBSCRIPTION_MGR_TOKEN_INVALID: 'The token is malformed, forged, expired or revoked (the message says which).',
  SUBSCRIPTION_MGR_CLIENT_ID_MISMATCH: 'The MQTT client id must be the token subject, or "<subject>:<instance>".',
  SUBSCRIPTION_MGR_PUBLISH_DENIED: 'The token does not grant publishing to this topic.',
  SUBSCRIPTION_MGR_SUBSCRIBE_DENIED: 'The token does not grant subscribing to this topic filter.',
  SUBSCRIPTION_MGR_MESSAGE_TOO_LARGE: 'The message is larger than bus.maxMessageBytes.',
  SUBSCRIPTION_MGR_SESSION_EXPIRED: 'The token of a connected client expired without renewal; the client was disconnected.',
  SUBSCRIPTION_MGR_SESSION_REVOKED: 'The token of a connected client was revoked; the client was disconnected.',
  SUBSCRIPTION_MGR_PACKET_TOO_LARGE:
    'A packet declared more bytes than broker.limits allow (preLoginBytes before login, bus.maxMessageBytes plus packetOverheadBytes after); the connection was cut as its header arrived.',
  SUBSCRIPTION_MGR_TOO_MANY_CONNECTIONS:
    'Refused a connection: its address already has broker.limits.connectionsPerAddress open, or broker.limits.unauthenticatedConnections are waiting to log in.',
  SUBSCRIPTION_MGR_QUOTA_EXCEEDED:
    'The client published more messages or bytes than broker.limits.publish (or its publishOverrides entry) allows; it was disconnected.',
  SUBSCRIPTION_MGR_RENEWAL_INVALID:
    'A renewed token on $dctrl/session/renew was not sealed to subscription-mgr by the session’s own client; the old token stays.',
  SUBSCRIPTION_MGR_TLS_FILES_MISSING:
    'broker.tls.enabled needs a certificate and its key: run `dctrl tls init` (dataDir/tls) or set broker.tls.certFile and keyFile.',
  SUBSCRIPTION_MGR_LISTEN_FAILED: 'A listener could not bind its port; is another broker running there?',
} as const;

export type SubscriptionMgrErrorCode = keyof typeof SubscriptionMgrErrorCodes;

export class SubscriptionMgrError extends DctrlError {
  returnCode?: number;

  constructor(code: SubscriptionMgrErrorCode, message: string, options?: { cause?: unknown; returnCode?: number }) {
    super(code, message, options);
    this.name = 'SubscriptionMgrError';
    if (options?.returnCode !== undefined) this.returnCode = options.returnCode;
  }
}
