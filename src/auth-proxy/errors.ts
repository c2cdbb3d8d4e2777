// AuthProxy error codes: what a service sees when its own bus use is refused or fails.
import { errorClass } from '../core/errors.js';

export const AuthProxyErrorCodes = {
  AUTH_PROXY_NOT_GRANTED: 'The client token does not grant this topic; ask the operator for a token that does.',
  AUTH_PROXY_REQUEST_TIMEOUT: 'No reply came before the request expired; is the responding service running?',
  AUTH_PROXY_REPLY_INVALID: 'A reply did not match the schema of the request or came from the wrong service.',
  AUTH_PROXY_REPLY_TO_FORBIDDEN: 'A request asked for its reply on a topic that is not its issuer reply topic.',
  AUTH_PROXY_REPLAY_CACHE_FULL:
    'Too many messages inside the freshness window to remember them all; shorten bus.freshnessWindowMs.',
  AUTH_PROXY_NO_DIRECTORY: 'No signed key directory arrived from the Vault in time; is the Vault running?',
  AUTH_PROXY_PAYLOAD_INVALID: 'A payload this client tried to publish does not match its message type.',
  AUTH_PROXY_STOPPED: 'The bus client was stopped.',
  AUTH_PROXY_BROKER_UNTRUSTED:
    'The broker’s TLS certificate is not from the CA this client pins, or not for the host it dialled; it was refused before the token was sent.',
  AUTH_PROXY_ASKER_NOT_ALLOWED:
    'A client asked a request the bus contract does not let it ask (askers in src/core/messages*.ts); the request was refused and audited. Ask from a client the contract names.',
  AUTH_PROXY_RENEW_FAILED: 'The token could not be renewed; the client keeps trying until it expires.',
} as const;

export type AuthProxyErrorCode = keyof typeof AuthProxyErrorCodes;

export const AuthProxyError = errorClass('AuthProxyError', AuthProxyErrorCodes);
export type AuthProxyError = InstanceType<typeof AuthProxyError>;
