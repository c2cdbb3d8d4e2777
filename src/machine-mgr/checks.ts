// Whether a device may act on a command or store an allow-list: each check a named step, the first failure refuses.
import type { KeyObject } from 'node:crypto';
import type { AllowListPayload } from '../core/door-access.js';
import { verifyEnvelopeSignature, type Envelope } from '../core/envelope.js';
import type { PayloadOf } from '../core/contract.js';
import type { MachineCommand } from '../core/messages-machine.js';
import type { MachineMgrErrorCode } from './errors.js';

export type CommandPayload = PayloadOf<typeof MachineCommand>;

export type Verdict = { ok: true } | { ok: false; code: MachineMgrErrorCode; message: string };

export interface CheckContext {
  device: string;
  pinnedKey: KeyObject;
  now: number;
}

const OK: Verdict = { ok: true };
const refuse = (code: MachineMgrErrorCode, message: string): Verdict => ({ ok: false, code, message });

/** The bus checked the signature against the directory; the pin also holds when the directory was changed. */
export function signedByPinnedKey(envelope: Envelope, context: CheckContext): Verdict {
  return verifyEnvelopeSignature(envelope, context.pinnedKey)
    ? OK
    : refuse('MACHINE_MGR_SIGNER_NOT_PINNED', `${envelope.type} ${envelope.id} is not signed by the pinned BusinessMgr key`);
}

export function addressedHere(envelope: Envelope<{ device: string }>, context: CheckContext): Verdict {
  return envelope.payload.device === context.device
    ? OK
    : refuse(
        'MACHINE_MGR_WRONG_DEVICE',
        `${envelope.type} ${envelope.id} is for device "${envelope.payload.device}", this is "${context.device}"`,
      );
}

export function notExpired(envelope: Envelope, context: CheckContext): Verdict {
  if (envelope.expiresAt !== undefined && envelope.expiresAt > context.now) return OK;
  const code = envelope.type === 'machine.command' ? 'MACHINE_MGR_COMMAND_EXPIRED' : 'MACHINE_MGR_ALLOW_LIST_EXPIRED';
  const when = envelope.expiresAt === undefined ? 'carries no expiry' : `expired ${context.now - envelope.expiresAt} ms ago`;
  return refuse(code, `${envelope.type} ${envelope.id} ${when} by the device clock`);
}

/** The checks of a command that need no storage: pinned signer, this device, not expired (the seen-table is next). */
export function checkCommand(envelope: Envelope<CommandPayload>, context: CheckContext): Verdict {
  for (const step of [signedByPinnedKey, addressedHere, notExpired]) {
    const verdict = step(envelope, context);
    if (!verdict.ok) return verdict;
  }
  return OK;
}

/**
 * The checks of an allow-list: pinned signer, this device, not expired, and newer than the stored one.
 * `ignore` when it is the stored envelope again (retained state re-delivered on every reconnect).
 */
export function checkAllowList(
  envelope: Envelope<AllowListPayload>,
  stored: Envelope<AllowListPayload> | undefined,
  context: CheckContext,
): Verdict | { ok: false; ignore: true } {
  if (stored && stored.id === envelope.id) return { ok: false, ignore: true };
  for (const step of [signedByPinnedKey, addressedHere, notExpired]) {
    const verdict = step(envelope, context);
    if (!verdict.ok) return verdict;
  }
  if (stored && envelope.payload.version <= stored.payload.version) {
    return refuse(
      'MACHINE_MGR_ALLOW_LIST_FROM_PAST',
      `allow-list ${envelope.id} has version ${envelope.payload.version}; the stored one has ${stored.payload.version}`,
    );
  }
  return OK;
}
