// Opens a renewed token that a client sealed to the broker on Topics.sessionRenew: no token crosses in clear.
import { z } from 'zod';
import { DctrlError } from '../core/errors.js';
import { openPayload, sealedPayloadSchema, SESSION_RENEWAL, type SealingKey } from '../core/seal.js';
import { SubscriptionMgrError } from './errors.js';

const { type: SESSION_RENEW_TYPE, reader: SESSION_RENEW_READER } = SESSION_RENEWAL;

const renewalSchema = sealedPayloadSchema.extend({ id: z.string().min(1).max(64), issuer: z.string().min(1).max(63) });

/**
 * The token inside a sealed renewal from the client `sessionClient`.
 * @throws SubscriptionMgrError SUBSCRIPTION_MGR_RENEWAL_INVALID when it is not a seal from that client to this broker.
 */
export function openRenewal(bytes: Buffer, sessionClient: string | undefined, key: SealingKey): Buffer {
  let parsed: z.infer<typeof renewalSchema>;
  try {
    parsed = renewalSchema.parse(JSON.parse(bytes.toString('utf8')));
  } catch (cause) {
    throw new SubscriptionMgrError(
      'SUBSCRIPTION_MGR_RENEWAL_INVALID',
      `a renewed token must come sealed to "${SESSION_RENEW_READER}"; this one is not a seal (${bytes.length} bytes)`,
      { cause },
    );
  }
  if (parsed.issuer !== sessionClient) {
    throw new SubscriptionMgrError(
      'SUBSCRIPTION_MGR_RENEWAL_INVALID',
      `renewal sealed by "${parsed.issuer}" on the session of "${sessionClient ?? 'nobody'}"`,
    );
  }
  const { id, issuer, sealed } = parsed;
  let opened: unknown;
  try {
    opened = openPayload({ sealed }, SESSION_RENEW_READER, key, { id, type: SESSION_RENEW_TYPE, issuer });
  } catch (cause) {
    const message = cause instanceof DctrlError ? cause.message : String(cause);
    throw new SubscriptionMgrError('SUBSCRIPTION_MGR_RENEWAL_INVALID', message, { cause });
  }
  const token = z.strictObject({ token: z.string().min(1).max(8192) }).safeParse(opened);
  if (!token.success) {
    throw new SubscriptionMgrError(
      'SUBSCRIPTION_MGR_RENEWAL_INVALID',
      `renewal from "${issuer}" is not sealed to "${SESSION_RENEW_READER}" or holds no token`,
    );
  }
  return Buffer.from(token.data.token);
}
