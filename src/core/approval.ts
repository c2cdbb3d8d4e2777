// What an approver signs, byte for byte: a payout decision bound to the payout's exact terms, a new key's
// enrollment, another approver's endorsement of it. Shared by PayoutMgr (which checks), the CLI and the Server
// (which have them signed); a passkey signs the SHA-256 of the same bytes as its WebAuthn challenge.
import { sha256 } from '@noble/hashes/sha2.js';
import { canonicalBytes } from './canonical.js';

/** The terms of a payout request that never change after it was made. */
export interface PayoutTerms {
  id: string;
  address: string;
  sats: number;
  cents: number | null;
  currency: string | null;
  reason: string;
  requester: string;
  memberId: string | null;
  requestedBy: string;
  requestedAt: number;
  expiresAt: number;
}

export type ApproverKeyKind = 'ed25519' | 'passkey';

/** SHA-256 (hex) of the request's canonical terms: a decision signed for it fits no other request. */
export function requestDigest(terms: PayoutTerms): string {
  const { id, address, sats, cents, currency, reason, requester, memberId, requestedBy, requestedAt, expiresAt } = terms;
  const fields = { id, address, sats, cents, currency, reason, requester, memberId, requestedBy, requestedAt, expiresAt };
  return Buffer.from(sha256(canonicalBytes({ type: 'dctrl.payout-request/v1', ...fields }))).toString('hex');
}

/** The bytes an approver signs to approve or reject one payout: its id, amount, address and request digest. */
export function decisionStatement(input: {
  payout: PayoutTerms;
  approver: string;
  decision: 'approve' | 'reject';
  reason: string | null;
  signedAt: number;
}): Buffer {
  const { payout, approver, decision, reason, signedAt } = input;
  return canonicalBytes({
    type: 'dctrl.payout-decision/v1',
    payoutId: payout.id,
    sats: payout.sats,
    address: payout.address,
    requestDigest: requestDigest(payout),
    approver,
    decision,
    reason,
    signedAt,
  });
}

/** What a new Ed25519 key signs to enroll: it proves the key's holder asked for it under this name. */
export function enrollStatement(approver: string, publicKey: string): Buffer {
  return canonicalBytes({ type: 'dctrl.approver-enroll/v1', approver, kind: 'ed25519', publicKey });
}

/** A passkey's registration challenge: the approver's name and a one-time nonce from the dashboard. */
export function passkeyEnrollStatement(approver: string, nonce: string): Buffer {
  return canonicalBytes({ type: 'dctrl.approver-enroll/v1', approver, kind: 'passkey', nonce });
}

/** What an approver's active key signs to vouch for a pending key (the owner's name, the key and its id). */
export function endorseStatement(input: { owner: string; keyId: string; publicKey: string; endorser: string }): Buffer {
  return canonicalBytes({ type: 'dctrl.approver-endorse/v1', ...input });
}

/** What an approver's active key signs to retire a key (their own, or with the quorum someone else's). */
export function revokeStatement(input: { owner: string; keyId: string; revoker: string }): Buffer {
  return canonicalBytes({ type: 'dctrl.approver-revoke/v1', ...input });
}

/** The WebAuthn challenge for a statement: SHA-256 of its bytes, base64url. */
export function passkeyChallenge(statement: Uint8Array): string {
  return Buffer.from(sha256(statement)).toString('base64url');
}

/** An Ed25519 key's id: the first 16 hex digits of SHA-256 over its raw public key, prefixed. */
export function ed25519KeyId(publicKeyB64: string): string {
  return `ed25519:${Buffer.from(sha256(Buffer.from(publicKeyB64, 'base64url')))
    .toString('hex')
    .slice(0, 16)}`;
}

export function passkeyKeyId(credentialId: string): string {
  return `passkey:${credentialId}`;
}
