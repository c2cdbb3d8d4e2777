// The shapes of the Server's REST replies the dashboard reads (see the OpenAPI document at /api/openapi.json).

export type Role = 'admin' | 'treasurer' | 'member';

export interface Session {
  name: string;
  role: Role;
  memberId: string | null;
  /** The space's time zone (null when BusinessData did not answer). */
  timezone?: string | null;
}

export type MemberStatus = 'active' | 'inactive' | 'left';

/** Why a member is active or not, as the Reporter decided it. */
export type StatusReason = 'member' | 'exempt' | 'dues-overdue' | 'left';

/** One row of the member list: status and balance as the Reporter has them. */
export interface MemberLine {
  memberId: string;
  name: string;
  email: string;
  tier: string;
  status: MemberStatus;
  reason: StatusReason;
  exempt: boolean;
  balanceCents: number;
  /** The earliest end of grace among unpaid dues: when an active member turns inactive unless paid. */
  graceEndsAt: number | null;
  groups: string[];
}

export interface MemberList {
  asOf: number;
  counts: { active: number; inactive: number; left: number };
  members: MemberLine[];
  next: string | null;
}

/** The member's recorded facts (MemberData) beside their line in the Reporter's books. */
export interface MemberDetail {
  member: {
    memberId: string;
    name: string;
    email: string;
    tier: string;
    exempt: boolean;
    status: 'member' | 'left';
    joinedAt: number;
    fobs: { lastDigits: string }[];
    groups: string[];
    badges: string[];
  };
  line: MemberLine;
}

/** One ledger entry: charges (dues, purchases) are negative cents, payments positive. */
export interface StatementEntry {
  id: string;
  at: number;
  month: string;
  kind: 'dues' | 'payment' | 'purchase' | 'donation' | 'adjustment' | 'payout';
  cents: number;
  currency: string;
  method: 'cash' | 'bitcoin' | 'balance' | null;
  sats: number | null;
  causedBy: string;
  /** What the entry was for: a dues entry's tier and tierName, a purchase's product, a note. */
  detail: Record<string, unknown>;
  balanceCents: number;
}

export interface Statement {
  member: MemberLine;
  month: string | null;
  openingCents: number;
  closingCents: number;
  entries: StatementEntry[];
  next: string | null;
}

export interface Deposit {
  address: string;
  uri: string;
  qrSvg: string;
}

export interface IncomeByMonth {
  currency: string;
  months: { month: string; receivedCents: number; earnedCents: number }[];
}

export interface Invoice {
  id: string;
  state: string;
  cents: number;
  currency: string;
  sats: number;
  address: string;
  uri: string;
  product: string | null;
  memo: string | null;
  createdAt: number;
  expiresAt: number;
  qrSvg?: string;
}

export interface Device {
  device: string;
  kind: 'door' | 'vending';
  online: boolean;
  lastSeenAt: number | null;
  detail: unknown;
}

export interface Decision {
  decisionId: string;
  at: number;
  device: string;
  kind: 'door' | 'vend';
  via: 'fob' | 'bitcoin' | 'offline';
  allowed: boolean;
  reason: string;
  memberId: string | null;
  /** The member's name, when the Server adds it. */
  memberName?: string | null;
  fobLastDigits: string | null;
  product: string | null;
  cents: number | null;
  outcome: 'actuated' | 'failed' | null;
}

/** One bus message on the live stream, with its sensitive fields already removed by the Server. */
export interface LiveEvent {
  id: string;
  at: number;
  type: string;
  topic: string;
  issuer: string;
  summary: Record<string, string | number | boolean | null>;
}

export type PayoutState = 'requested' | 'approved' | 'rejected' | 'expired' | 'signing' | 'signed' | 'broadcast' | 'confirmed';

/** An approver's yes, or the one no that ended a request. */
export interface PayoutDecision {
  approver: string;
  at: number;
  reason: string | null;
  /** The approver's key that signed it. */
  keyId: string | null;
}

/** An approver's enrolled key: a passkey or a key file; pending until the quorum of approvers endorses it. */
export interface ApproverKey {
  keyId: string;
  approver: string;
  kind: 'ed25519' | 'passkey';
  state: 'pending' | 'active' | 'revoked';
  enrolledAt: number;
  bootstrap: boolean;
  endorsements: { approver: string; at: number }[];
}

/** A payout request and where it stands; `cents` is null when it was asked in sats. */
export interface Payout {
  id: string;
  state: PayoutState;
  address: string;
  sats: number;
  cents: number | null;
  currency: string | null;
  reason: string;
  requester: string;
  memberId: string | null;
  requestedAt: number;
  expiresAt: number;
  approvals: PayoutDecision[];
  approvalsRequired: number;
  rejection: PayoutDecision | null;
  psbtId: string | null;
  txid: string | null;
  confirmations: number;
  lastError: { code: string; message: string } | null;
}

/** A PSBT the co-signers sign: signatures per input against the threshold, and who (key fingerprints) signed. */
export interface Psbt {
  id: string;
  state: 'signing' | 'signed' | 'broadcast' | 'confirmed' | 'discarded';
  txid: string;
  payoutIds: string[];
  inputs: { txid: string; vout: number; sats: number }[];
  outputs: { address: string; sats: number; change: boolean; payoutId: string | null }[];
  feeSats: number;
  vsize: number;
  feeRateSatPerVb: number;
  signatures: number[];
  threshold: number;
  signedBy: string[];
  createdAt: number;
  createdBy: string;
  broadcastAt: number | null;
  confirmations: number;
  lastError: { code: string; message: string } | null;
  base64: string;
}

export interface PayoutWallet {
  threshold: number;
  cosigners: { fingerprint: string; path: string; xpub: string }[];
  confirmedSats: number;
  unconfirmedSats: number;
  reservedSats: number;
  coins: number;
  processedHeight: number | null;
  receiveAddress: string | null;
}
