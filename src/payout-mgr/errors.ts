// PayoutMgr error codes: what stops a payout being requested, approved, built, signed, sent or followed.
import { errorClass } from '../core/errors.js';

export const PayoutMgrErrorCodes = {
  PAYOUT_CONFIG_INVALID: 'The wallet descriptor, approvers or fee settings are missing or wrong; the message names the key.',
  PAYOUT_NOT_ALLOWED:
    'Only payoutMgr.requesters may ask for a payout and only payoutMgr.approvers may approve or reject one; the message names who asked.',
  PAYOUT_NOT_RUNNING: 'PayoutMgr is starting or stopping; try again in a moment.',
  PAYOUT_REQUEST_INVALID:
    'The request is incomplete or contradicts itself (a rejection without a reason, an idempotency key used again for another payout, a member MemberData does not know).',
  PAYOUT_TX_REPLACED:
    'Another transaction spends the coins of a sent payout: taken as the payout when it pays the same (a fee bump), else flagged for the treasurer, who may discard the PSBT to pay again.',
  PAYOUT_NOT_FOUND: 'No payout or PSBT has this id.',
  PAYOUT_ADDRESS_INVALID: 'The destination is no bitcoin address, or one for another network than chain.network.',
  PAYOUT_AMOUNT_INVALID: 'Give the amount in satoshis or in the space’s currency (integer cents), not both and not neither.',
  PAYOUT_NO_RATE:
    'The amount was given in the space’s currency and the PriceNotifier had no fresh rate; nothing was requested (a rate is never made up).',
  PAYOUT_ALREADY_APPROVED: 'This approver has already approved (or rejected) this payout; each approver counts once.',
  PAYOUT_STATE_CONFLICT:
    'The payout is not in a state that allows this step (approve a requested one, build a PSBT for approved ones, broadcast a fully signed one); the message says which state it is in.',
  PAYOUT_EXPIRED: 'The payout request expired before it was approved and paid; request it again.',
  PAYOUT_DUST_OUTPUT: 'An output is below the dust limit for its script: the network would not relay it.',
  PAYOUT_INSUFFICIENT_FUNDS:
    'The wallet’s spendable coins do not cover the payouts and the fee; the message says how much is needed and how much there is.',
  PAYOUT_FEE_RATE_INVALID: 'The fee rate asked for is outside payoutMgr.fee’s floor and ceiling.',
  PAYOUT_FEE_UNAVAILABLE: 'The node had no fee estimate and payoutMgr.fee.fallbackSatPerVb is not set.',
  PAYOUT_PSBT_MALFORMED: 'The file is no PSBT (BIP 174) that can be read; the message says where it broke.',
  PAYOUT_PSBT_DIFFERENT_TX:
    'The signed PSBT is for another transaction than the one built (inputs, outputs, amounts, fee or version changed); nothing of it was taken.',
  PAYOUT_PSBT_FOREIGN_SIGNATURE:
    'The signed PSBT carries a signature from a key that is not one of the wallet’s co-signers; nothing of it was taken.',
  PAYOUT_PSBT_BAD_SIGNATURE:
    'A signature in the PSBT does not verify for its input, or signs with another sighash type than SIGHASH_ALL; nothing of it was taken.',
  PAYOUT_PSBT_NOT_ENOUGH_SIGNATURES: 'Not every input has the quorum of co-signer signatures yet; import more signed PSBTs.',
  PAYOUT_BROADCAST_FAILED:
    'The node refused the transaction (its reason is in the message); the payout stays signed and unpaid, nothing was recorded.',
  PAYOUT_SENT_AFTER_DISCARD:
    'A discarded PSBT was signed and sent by co-signers anyway: it paid its payouts, which are followed as sent; a PSBT rebuilt for them was discarded.',
  PAYOUT_PAID_TWICE:
    'A payout was paid by two transactions that do not conflict (a discarded PSBT sent by co-signers beside the one that replaced it): ask the payee to pay one back.',
  PAYOUT_WALLET_DEEP_REORG:
    'The chain reorganised deeper than payoutMgr.reorgLimit: the wallet stops following the chain until an operator checks the node.',
  PAYOUT_APPROVAL_SIGNATURE_INVALID:
    'The decision or endorsement is not signed by the named key over what stands now (another payout, a changed amount, address or reason, another key, or a passkey on another site): nothing was counted; sign again.',
  PAYOUT_APPROVER_KEY_UNKNOWN:
    'The signing key is not enrolled for this approver: enroll it (dctrl approver enroll --key FILE, or a passkey in the dashboard) and have the quorum endorse it.',
  PAYOUT_APPROVER_KEY_STATE_CONFLICT:
    'The key is enrolled but not active yet: approvalsRequired approvers must endorse it with their own active keys (dctrl approver endorse, or the dashboard).',
  PAYOUT_APPROVER_KEY_INVALID:
    'The key offered for enrollment does not prove itself (an Ed25519 key that did not sign its enrollment, a passkey registration that does not verify), or it belongs to another approver.',
  PAYOUT_UPSTREAM_UNAVAILABLE: 'The PriceNotifier or the Reporter did not answer; nothing was changed: try again when they run.',
} as const;

export const PayoutMgrError = errorClass('PayoutMgrError', PayoutMgrErrorCodes);
export type PayoutMgrError = InstanceType<typeof PayoutMgrError>;
export type PayoutMgrErrorCode = keyof typeof PayoutMgrErrorCodes;
