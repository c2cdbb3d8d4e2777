// Approvers' personal Ed25519 keys for the payout tests: one per name, enrolled on a running PayoutMgr (the first
// ones at bootstrap, the rest endorsed by those), and decisions signed with them as `dctrl payout approve --key` does.
import { generateSigningKey } from '../../src/core/keys.js';
import { ed25519KeyId } from '../../src/core/approval.js';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { decisionProof, endorseProof, enrollPayload, type ApproverKeyFile } from '../../src/cli/approver-key.js';
import {
  ApproverKeyEndorse,
  ApproverKeyEnroll,
  ApproverKeyList,
  PayoutDecide,
  PayoutGet,
  type ApproverKey,
  type PayoutRecord,
} from '../../src/core/messages-payout.js';

const made = new Map<string, ApproverKeyFile>();

/** The personal key of an approver (made once per test process). */
export function approverKeyOf(approver: string): ApproverKeyFile {
  let file = made.get(approver);
  if (!file) {
    const key = generateSigningKey();
    file = { approver, keyId: ed25519KeyId(key.publicKeyB64), key };
    made.set(approver, file);
  }
  return file;
}

/** A key of that name that was never enrolled: what someone with only the hub's shell can make. */
export function strangerKey(approver: string): ApproverKeyFile {
  const key = generateSigningKey();
  return { approver, keyId: ed25519KeyId(key.publicKeyB64), key };
}

/** Enrolls each approver's key and has every pending one endorsed by the approvers whose keys are active. */
export async function enrollApprovers(bus: BusClient, approvers: readonly string[]): Promise<void> {
  for (const approver of approvers) await bus.request(ApproverKeyEnroll, enrollPayload(approverKeyOf(approver)));
  const { keys } = (await bus.request(ApproverKeyList, {})) as { keys: ApproverKey[] };
  const active = new Set(keys.filter((key) => key.state === 'active').map((key) => key.approver));
  for (const key of keys.filter((candidate) => candidate.state === 'pending')) {
    for (const endorser of active) {
      const proof = endorseProof(approverKeyOf(endorser), key, Date.now());
      await bus.request(ApproverKeyEndorse, { keyId: key.keyId, approver: endorser, proof });
    }
  }
}

/** Approves or rejects as `approver`, signed with their key over the payout as PayoutMgr shows it now. */
export async function signedDecision(
  bus: BusClient,
  payoutId: string,
  approver: string,
  decision: 'approve' | 'reject' = 'approve',
  reason?: string,
  key: ApproverKeyFile = approverKeyOf(approver),
): Promise<PayoutRecord> {
  const { payout } = (await bus.request(PayoutGet, { payoutId })) as { payout: PayoutRecord };
  const proof = decisionProof(key, payout, decision, reason ?? null, Date.now());
  return (await bus.request(PayoutDecide, {
    payoutId,
    approver,
    decision,
    ...(reason !== undefined ? { reason } : {}),
    proof,
  })) as PayoutRecord;
}
