// Typed, coded errors shared by every service, and their wire form for bus replies.

/** The wire form of an error inside a bus reply: a stable code and a human message, never a stack. */
export interface WireError {
  code: string;
  message: string;
}

/**
 * Base class of every dctrl error. `code` is stable forever once published
 * (prefixed by the service, e.g. `VAULT_TOKEN_EXPIRED`); `message` says what was
 * expected, what arrived and what to do.
 */
export class DctrlError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DctrlError';
    this.code = code;
  }

  toWire(): WireError {
    return { code: this.code, message: this.message };
  }
}

/**
 * The error class of one service, whose codes are the keys of its code table: `new VaultError('VAULT_WRONG_KEY', …)`
 * accepts only the Vault's codes, and `instanceof VaultError` works as for a hand-written class.
 */
export function errorClass<Codes extends Record<string, string>>(name: string, _codes: Codes) {
  const ServiceError = class extends DctrlError {
    constructor(code: keyof Codes & string, message: string, options?: { cause?: unknown }) {
      super(code, message, options);
      this.name = name;
    }
  };
  Object.defineProperty(ServiceError, 'name', { value: name });
  return ServiceError;
}

/** An error that another service reported over the bus, turned back into a typed error. */
export class RemoteError extends DctrlError {
  readonly remoteIssuer: string;

  constructor(wire: WireError, remoteIssuer: string) {
    super(wire.code, wire.message);
    this.name = 'RemoteError';
    this.remoteIssuer = remoteIssuer;
  }
}

export function errorToWire(error: unknown): WireError {
  if (error instanceof DctrlError) return error.toWire();
  return { code: 'CORE_INTERNAL', message: 'internal error; see the responding service log' };
}

export function errorFromWire(wire: WireError, remoteIssuer: string): RemoteError {
  return new RemoteError(wire, remoteIssuer);
}

/** Core error codes: message contract, config and bus plumbing shared by all services. */
export const CoreErrorCodes = {
  CORE_CONFIG_INVALID: 'The configuration has one or more invalid values; the message lists each key.',
  CORE_CONFIG_FILE_UNREADABLE: 'The config file could not be read or is not valid JSON.',
  CORE_ENVELOPE_MALFORMED: 'A bus message is not a well-formed envelope (bad JSON or missing fields).',
  CORE_ENVELOPE_TOO_LARGE: 'A bus message is larger than bus.maxMessageBytes.',
  CORE_ENVELOPE_UNKNOWN_TYPE: 'A bus message names a type that is not in the message contract.',
  CORE_ENVELOPE_PAYLOAD_INVALID: 'A payload does not match the schema of its message type.',
  CORE_ENVELOPE_WRONG_TOPIC: 'A message arrived on a topic its type may not use.',
  CORE_ENVELOPE_ISSUER_NOT_ALLOWED: 'The issuer is not allowed to issue this message type.',
  CORE_ENVELOPE_UNKNOWN_ISSUER: 'The issuer is not in the signed key directory.',
  CORE_ENVELOPE_BAD_SIGNATURE: 'The Ed25519 signature does not verify with the issuer key.',
  CORE_ENVELOPE_STALE: 'The message is older than the freshness window or past its expiry.',
  CORE_ENVELOPE_FROM_FUTURE: 'The message claims to be issued in the future beyond the allowed clock skew.',
  CORE_ENVELOPE_REPLAYED: 'A message with this id was already accepted.',
  CORE_SEAL_REQUIRED: 'A message type that travels sealed arrived with a clear payload; the sender must seal it.',
  CORE_SEAL_MALFORMED: 'A sealed payload is not a valid seal, or what it holds is not JSON.',
  CORE_SEAL_OPEN_FAILED:
    'A sealed payload addressed to this client does not open: tampered, or moved from another envelope or issuer.',
  CORE_SEAL_NOT_RECIPIENT:
    'A message this client handles came sealed to other clients only: misrouted, or the contract names other recipients.',
  CORE_SEAL_NO_RECIPIENT: 'A message to seal has no recipient, or more than a seal can carry.',
  CORE_SEAL_NO_KEY:
    'A recipient has no encryption key in the key directory; restart the Vault so it lists one, or check the name.',
  CORE_FOB_NUMBER_INVALID: 'A fob number is the 10 digits an EM4100 reader types.',
  CORE_AMOUNT_INVALID: 'An amount is written like 75 or 75.00: no sign, at most two decimals (cents).',
  CORE_TOPIC_INVALID: 'A topic or topic filter breaks MQTT topic rules.',
  CORE_INTERNAL: 'An unexpected internal error; the responding service log has details.',
} as const;

export type CoreErrorCode = keyof typeof CoreErrorCodes;

export const CoreError = errorClass('CoreError', CoreErrorCodes);
export type CoreError = InstanceType<typeof CoreError>;
