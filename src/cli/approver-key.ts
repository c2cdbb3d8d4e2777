// An approver's personal key file (Ed25519, kept on their own machine) and the signed payloads made with it: the
// key's own enrollment, a payout decision bound to the payout's terms, an endorsement of another key.
import { readFileSync, writeFileSync } from 'node:fs';
import {
  decisionStatement,
  ed25519KeyId,
  endorseStatement,
  enrollStatement,
  revokeStatement,
  type PayoutTerms,
} from '../core/approval.js';
import type { PayloadOf } from '../core/contract.js';
import { exportPrivateKeyPem, generateSigningKey, importPrivateKeyPem, signBytes, type SigningKey } from '../core/keys.js';
import type { ApproverKey, ApproverKeyEnroll, ApproverProof } from '../core/messages-payout.js';
import { CliError } from './errors.js';

export interface ApproverKeyFile {
  approver: string;
  keyId: string;
  key: SigningKey;
}

/** Writes a new key file (owner-only) for `approver`; refuses to overwrite one. */
export function writeApproverKey(file: string, approver: string, key: SigningKey = generateSigningKey()): ApproverKeyFile {
  const keyId = ed25519KeyId(key.publicKeyB64);
  const body = {
    note: 'An approver’s personal key for dctrl payout approvals. Keep it on your own machine; never on the hub.',
    approver,
    keyId,
    publicKey: key.publicKeyB64,
    privateKey: exportPrivateKeyPem(key),
  };
  try {
    writeFileSync(file, JSON.stringify(body, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  } catch (cause) {
    throw new CliError('CLI_FAILED', `cannot write ${file}: ${(cause as Error).message}`, { cause });
  }
  return { approver, keyId, key };
}

/** @throws CliError CLI_OPTION_INVALID when the file is no approver key file. */
export function readApproverKey(file: string): ApproverKeyFile {
  let body: { approver?: unknown; privateKey?: unknown };
  try {
    body = JSON.parse(readFileSync(file, 'utf8')) as typeof body;
  } catch (cause) {
    throw new CliError(
      'CLI_OPTION_INVALID',
      `--key expects an approver key file (dctrl approver keygen): ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  if (typeof body.approver !== 'string' || typeof body.privateKey !== 'string') {
    throw new CliError('CLI_OPTION_INVALID', `--key ${file} is no approver key file: it needs "approver" and "privateKey"`);
  }
  let key: SigningKey;
  try {
    key = importPrivateKeyPem(body.privateKey);
  } catch (cause) {
    throw new CliError('CLI_OPTION_INVALID', `--key ${file}: ${(cause as Error).message}`, { cause });
  }
  return { approver: body.approver, keyId: ed25519KeyId(key.publicKeyB64), key };
}

export function enrollPayload(file: ApproverKeyFile): PayloadOf<typeof ApproverKeyEnroll> {
  const { approver, key } = file;
  return {
    approver,
    key: { kind: 'ed25519', publicKey: key.publicKeyB64, signature: signBytes(key, enrollStatement(approver, key.publicKeyB64)) },
  };
}

/** Signs a decision on the payout as it was shown: PayoutMgr checks it against the payout as it stands. */
export function decisionProof(
  file: ApproverKeyFile,
  payout: PayoutTerms,
  decision: 'approve' | 'reject',
  reason: string | null,
  signedAt: number,
): ApproverProof {
  const statement = decisionStatement({ payout, approver: file.approver, decision, reason, signedAt });
  return { kind: 'ed25519', keyId: file.keyId, signedAt, signature: signBytes(file.key, statement) };
}

export function endorseProof(file: ApproverKeyFile, key: ApproverKey, signedAt: number): ApproverProof {
  const statement = endorseStatement({
    owner: key.approver,
    keyId: key.keyId,
    publicKey: key.publicKey,
    endorser: file.approver,
  });
  return { kind: 'ed25519', keyId: file.keyId, signedAt, signature: signBytes(file.key, statement) };
}

export function revokeProof(file: ApproverKeyFile, key: ApproverKey, signedAt: number): ApproverProof {
  const statement = revokeStatement({ owner: key.approver, keyId: key.keyId, revoker: file.approver });
  return { kind: 'ed25519', keyId: file.keyId, signedAt, signature: signBytes(file.key, statement) };
}
