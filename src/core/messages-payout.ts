// The bus contract of PayoutMgr: payout requests and their approvals, the PSBTs the co-signers sign, and the
// watch-only wallet they are paid from.
import { z } from 'zod';
import { defineMessage, type MessageSpec } from './contract.js';

const epochMs = z.int().nonnegative();
const ulid = (what: string) => z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, `expected a ${what} id (26 letters and digits)`);
export const payoutId = ulid('payout');
export const psbtId = ulid('PSBT');
const txid = z.string().regex(/^[0-9a-f]{64}$/, 'expected a txid (64 lowercase hex digits)');
const sats = z.int().positive().max(2_100_000_000_000_000);
const personName = z.string().trim().min(1).max(80);
/** A PSBT as base64 text; 4 MB is far beyond any payout batch. */
const psbtBase64 = z
  .string()
  .max(4_000_000)
  .regex(/^[A-Za-z0-9+/=\s]+$/, 'expected a PSBT as base64 text');
const problem = z.strictObject({ code: z.string().max(64), message: z.string().max(2_000) }).nullable();

/**
 * requested: waiting for approvals; approved: the quorum of approvers said yes, waiting for a PSBT; rejected: an
 * approver said no; expired: not approved and paid in time; signing: in a PSBT the co-signers are signing; signed:
 * the PSBT has the co-signers' quorum and is final, not yet sent (or the node refused it: see lastError); broadcast:
 * sent, not yet confirmed deeply enough; confirmed: deep enough, entered in the ledger.
 */
export const PAYOUT_STATES = [
  'requested',
  'approved',
  'rejected',
  'expired',
  'signing',
  'signed',
  'broadcast',
  'confirmed',
] as const;
export type PayoutState = (typeof PAYOUT_STATES)[number];
export const payoutState = z.enum(PAYOUT_STATES);

/** signing → signed → broadcast → confirmed; discarded by an operator before it was sent. */
export const PSBT_STATES = ['signing', 'signed', 'broadcast', 'confirmed', 'discarded'] as const;
export type PsbtState = (typeof PSBT_STATES)[number];

const decision = z.strictObject({
  approver: personName,
  at: epochMs,
  reason: z.string().max(500).nullable(),
  /** The approver's enrolled key that signed the decision. */
  keyId: z.string().max(1_500).nullable(),
});
const b64url = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[A-Za-z0-9_-]*$/, 'expected base64url text');

/** A WebAuthn assertion as @simplewebauthn/browser returns it (AuthenticationResponseJSON). */
const passkeyAssertion = z.object({
  id: b64url(1_400),
  rawId: b64url(1_400),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: b64url(4_000),
    authenticatorData: b64url(4_000),
    signature: b64url(1_000),
    userHandle: b64url(200).optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
});

/** A WebAuthn registration as @simplewebauthn/browser returns it (RegistrationResponseJSON). */
const passkeyRegistration = z.object({
  id: b64url(1_400),
  rawId: b64url(1_400),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: b64url(4_000),
    attestationObject: b64url(20_000),
    authenticatorData: b64url(4_000).optional(),
    transports: z.array(z.string().max(30)).max(10).optional(),
    publicKeyAlgorithm: z.int().optional(),
    publicKey: b64url(2_000).optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
});

/**
 * An approver's signature over a statement (src/core/approval.ts): by an enrolled Ed25519 key file, or by an
 * enrolled passkey whose WebAuthn challenge is the statement's SHA-256. signedAt is part of the statement.
 */
export const approverProof = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('ed25519'),
    keyId: z.string().regex(/^ed25519:[0-9a-f]{16}$/, 'expected an Ed25519 approver key id'),
    signedAt: epochMs,
    signature: b64url(100).length(86),
  }),
  z.strictObject({ kind: z.literal('passkey'), signedAt: epochMs, assertion: passkeyAssertion }),
]);
export type ApproverProof = z.infer<typeof approverProof>;

export const APPROVER_KEY_STATES = ['pending', 'active', 'revoked'] as const;
export const approverKey = z.strictObject({
  keyId: z.string().max(1_500),
  approver: personName,
  kind: z.enum(['ed25519', 'passkey']),
  /**
   * pending until approvalsRequired approvers with active keys endorse it (none needed while bootstrapping); revoked
   * by its owner, or by approvalsRequired approvers, for good.
   */
  state: z.enum(APPROVER_KEY_STATES),
  /** Ed25519: the raw key, base64url; passkey: its COSE public key, base64url. */
  publicKey: z.string().max(2_000),
  enrolledAt: epochMs,
  /** The bus client that carried the enrollment (cli, server). */
  enrolledBy: z.string().max(64),
  activatedAt: epochMs.nullable(),
  /** Activated during bootstrap, before the quorum had keys: check it against what the approver holds. */
  bootstrap: z.boolean(),
  endorsements: z.array(z.strictObject({ approver: personName, keyId: z.string().max(1_500), at: epochMs })),
  revocations: z.array(z.strictObject({ approver: personName, keyId: z.string().max(1_500), at: epochMs })),
});
export type ApproverKey = z.infer<typeof approverKey>;
export const approverKeyList = z.strictObject({
  keys: z.array(approverKey),
  approvalsRequired: z.int().positive(),
  /** True while fewer than approvalsRequired approvers have an active key: a key enrolled now is active at once. */
  bootstrap: z.boolean(),
});

export const payoutRecord = z.strictObject({
  id: payoutId,
  state: payoutState,
  address: z.string().max(100),
  sats,
  /** The amount as asked in the space's currency, or null when it was asked in sats. */
  cents: z.int().positive().nullable(),
  currency: z.string().length(3).nullable(),
  /** The rate the amount was converted at (or priced at, for a request in sats); null when none was fresh. */
  rate: z.strictObject({ centsPerBtc: z.int().positive(), source: z.string().max(64), at: epochMs }).nullable(),
  reason: z.string().max(500),
  /** Who asked for it (a person), and the member to notify, if the payee is one. */
  requester: personName,
  memberId: z.string().max(40).nullable(),
  /** The bus client that carried the request (cli, server, business-mgr). */
  requestedBy: z.string().max(64),
  requestedAt: epochMs,
  expiresAt: epochMs,
  /** SHA-256 of the request's unchanging terms (src/core/approval.ts), part of what each approver signs. */
  requestDigest: z.string().regex(/^[0-9a-f]{64}$/),
  approvals: z.array(decision),
  approvalsRequired: z.int().positive(),
  rejection: decision.nullable(),
  psbtId: psbtId.nullable(),
  txid: txid.nullable(),
  confirmations: z.int().nonnegative(),
  paidAt: epochMs.nullable(),
  ledgerEntryId: z.string().max(64).nullable(),
  lastError: problem,
});
export type PayoutRecord = z.infer<typeof payoutRecord>;

export const psbtSummary = z.strictObject({
  id: psbtId,
  state: z.enum(PSBT_STATES),
  /** The unsigned transaction's id, which is also the final txid (every input is segwit). */
  txid,
  payoutIds: z.array(payoutId),
  inputs: z.array(z.strictObject({ txid, vout: z.int().nonnegative(), sats })),
  outputs: z.array(z.strictObject({ address: z.string().max(100), sats, change: z.boolean(), payoutId: payoutId.nullable() })),
  feeSats: z.int().nonnegative(),
  vsize: z.int().positive(),
  feeRateSatPerVb: z.number().positive(),
  /** Co-signer signatures per input, and how many each input needs. */
  signatures: z.array(z.int().nonnegative()),
  threshold: z.int().positive(),
  /** Which co-signers (key fingerprints) have signed every input. */
  signedBy: z.array(z.string().regex(/^[0-9a-f]{8}$/)),
  createdAt: epochMs,
  createdBy: z.string().max(80),
  broadcastAt: epochMs.nullable(),
  blockHeight: z.int().nonnegative().nullable(),
  confirmations: z.int().nonnegative(),
  lastError: problem,
  /** The PSBT as it stands (co-signers' signatures combined in), for the next co-signer. */
  base64: z.string(),
});
export type PsbtSummary = z.infer<typeof psbtSummary>;

export const payoutPage = z.strictObject({ payouts: z.array(payoutRecord), next: payoutId.nullable() });
export const payoutWithPsbt = z.strictObject({ payout: payoutRecord, psbt: psbtSummary.nullable() });
export const psbtList = z.strictObject({ psbts: z.array(psbtSummary) });
export const psbtImported = z.strictObject({
  psbt: psbtSummary,
  added: z.array(z.strictObject({ inputIndex: z.int().nonnegative(), fingerprint: z.string(), pubkey: z.string() })),
  alreadyHad: z.int().nonnegative(),
});
export type PsbtImported = z.infer<typeof psbtImported>;
export const payoutWalletInfo = z.strictObject({
  descriptor: z.string(),
  threshold: z.int().positive(),
  cosigners: z.array(z.strictObject({ fingerprint: z.string(), path: z.string(), xpub: z.string() })),
  confirmedSats: z.int().nonnegative(),
  unconfirmedSats: z.int().nonnegative(),
  /** Sats in coins that an unsent PSBT will spend. */
  reservedSats: z.int().nonnegative(),
  coins: z.int().nonnegative(),
  processedHeight: z.int().nonnegative().nullable(),
  receiveAddress: z.string().nullable(),
});
export type PayoutWalletInfo = z.infer<typeof payoutWalletInfo>;

export const PayoutRequest = defineMessage({
  type: 'payout-mgr.request',
  topic: 'dctrl/v1/payout-mgr/rpc/request',
  kind: 'request',
  sealed: { to: 'responder', reply: true },
  issuers: 'any',
  description:
    'Ask for a payout: an address on the configured network, an amount in sats or in the space’s currency (integer cents, converted at a fresh rate that is recorded), a reason and who asks. Only payoutMgr.requesters may; the same idempotencyKey gives back the first request.',
  payload: z
    .strictObject({
      address: z.string().trim().min(14).max(100),
      sats: sats.optional(),
      cents: z.int().positive().max(1_000_000_000).optional(),
      reason: z.string().trim().min(1).max(500),
      requester: personName,
      memberId: z.string().min(1).max(40).optional(),
      idempotencyKey: z.string().min(1).max(200).optional(),
    })
    .refine((value) => (value.sats === undefined) !== (value.cents === undefined), {
      message: 'give the amount either in sats or in cents, exactly one of them',
      path: ['sats'],
    }),
  reply: payoutRecord,
  askers: ['cli', 'server'],
});

export const PayoutDecide = defineMessage({
  type: 'payout-mgr.decide',
  topic: 'dctrl/v1/payout-mgr/rpc/decide',
  kind: 'request',
  sealed: { to: 'responder', reply: true },
  issuers: 'any',
  description:
    'An approver approves or rejects a requested payout, signed by one of their enrolled keys over the payout’s id, amount, address and request digest; each approver counts once, and one rejection ends it. The approver is one of payoutMgr.approvers, stated by the client that carries it (payoutMgr.delegates) or the client itself.',
  payload: z.strictObject({
    payoutId,
    approver: personName,
    decision: z.enum(['approve', 'reject']),
    reason: z.string().trim().min(1).max(500).optional(),
    proof: approverProof,
  }),
  reply: payoutRecord,
  /** An approver's own client or a delegate; PayoutMgr checks payoutMgr.approvers and delegates. */
  askers: 'any',
});

export const ApproverKeyEnroll = defineMessage({
  type: 'payout-mgr.key.enroll',
  topic: 'dctrl/v1/payout-mgr/rpc/key-enroll',
  kind: 'request',
  issuers: 'any',
  description:
    'Enroll an approver’s key: an Ed25519 public key with its own signature, or a WebAuthn passkey registration. It is pending until approvalsRequired approvers endorse it with their active keys; while fewer than that have keys (bootstrap), it is active at once.',
  payload: z.strictObject({
    approver: personName,
    key: z.discriminatedUnion('kind', [
      z.strictObject({ kind: z.literal('ed25519'), publicKey: b64url(43).length(43), signature: b64url(86).length(86) }),
      z.strictObject({ kind: z.literal('passkey'), nonce: b64url(64).min(16), registration: passkeyRegistration }),
    ]),
  }),
  reply: approverKey,
  /** An approver's own client or a delegate; PayoutMgr checks payoutMgr.approvers and delegates. */
  askers: 'any',
});

export const ApproverKeyEndorse = defineMessage({
  type: 'payout-mgr.key.endorse',
  topic: 'dctrl/v1/payout-mgr/rpc/key-endorse',
  kind: 'request',
  issuers: 'any',
  description:
    'An approver vouches for a pending key with one of their own active keys; at approvalsRequired different approvers it becomes active.',
  payload: z.strictObject({ keyId: z.string().min(1).max(1_500), approver: personName, proof: approverProof }),
  reply: approverKey,
  /** An approver's own client or a delegate; PayoutMgr checks payoutMgr.approvers and delegates. */
  askers: 'any',
});

export const ApproverKeyRevoke = defineMessage({
  type: 'payout-mgr.key.revoke',
  topic: 'dctrl/v1/payout-mgr/rpc/key-revoke',
  kind: 'request',
  issuers: 'any',
  description:
    'Retire an approver’s key for good: at once when its owner signs the revocation with one of their active keys, else when approvalsRequired approvers have.',
  payload: z.strictObject({ keyId: z.string().min(1).max(1_500), approver: personName, proof: approverProof }),
  reply: approverKey,
  /** An approver's own client or a delegate; PayoutMgr checks payoutMgr.approvers and delegates. */
  askers: 'any',
});

export const ApproverKeyList = defineMessage({
  type: 'payout-mgr.key.list',
  topic: 'dctrl/v1/payout-mgr/rpc/key-list',
  kind: 'request',
  issuers: 'any',
  description: 'The approvers’ enrolled keys, active and pending, with who endorsed them. Only payoutMgr.readers may.',
  payload: z.strictObject({ approver: personName.optional() }),
  reply: approverKeyList,
  askers: ['cli', 'server'],
});

export const PayoutList = defineMessage({
  type: 'payout-mgr.list',
  topic: 'dctrl/v1/payout-mgr/rpc/list',
  kind: 'request',
  sealed: { reply: true },
  issuers: 'any',
  description: 'Payouts, newest first, a page at a time; filter by state or member. Only payoutMgr.readers may.',
  payload: z.strictObject({
    state: payoutState.optional(),
    memberId: z.string().min(1).max(40).optional(),
    before: payoutId.optional(),
    limit: z.int().positive().max(200).optional(),
  }),
  reply: payoutPage,
  askers: ['cli', 'server'],
});

export const PayoutGet = defineMessage({
  type: 'payout-mgr.get',
  topic: 'dctrl/v1/payout-mgr/rpc/get',
  kind: 'request',
  sealed: { reply: true },
  issuers: 'any',
  description: 'One payout with its approvals and, once in a PSBT, that PSBT. Only payoutMgr.readers may.',
  payload: z.strictObject({ payoutId }),
  reply: payoutWithPsbt,
  askers: ['cli', 'server', 'member-mail'],
});

export const PsbtBuild = defineMessage({
  type: 'payout-mgr.psbt.build',
  topic: 'dctrl/v1/payout-mgr/rpc/psbt-build',
  kind: 'request',
  sealed: { to: 'responder', reply: true },
  issuers: 'any',
  description:
    'Build one PSBT paying approved payouts (those named, or every approved one, batched): coins chosen from the wallet, the fee rate from the node within payoutMgr.fee’s floor and ceiling, change back to the wallet, key origins for every key. Only payoutMgr.operators may.',
  payload: z.strictObject({
    payoutIds: z.array(payoutId).min(1).max(100).optional(),
    feeRateSatPerVb: z.number().positive().max(10_000).optional(),
    by: personName.optional(),
  }),
  reply: psbtSummary,
  askers: ['cli', 'server'],
});

export const PsbtGet = defineMessage({
  type: 'payout-mgr.psbt.get',
  topic: 'dctrl/v1/payout-mgr/rpc/psbt-get',
  kind: 'request',
  sealed: { reply: true },
  issuers: 'any',
  description:
    'A PSBT as it stands, with the co-signers’ signatures so far, to hand to the next co-signer; or every PSBT not yet confirmed. Only payoutMgr.readers may.',
  payload: z.strictObject({ psbtId: psbtId.optional() }),
  reply: psbtList,
  askers: ['cli', 'server'],
});

export const PsbtImport = defineMessage({
  type: 'payout-mgr.psbt.import',
  topic: 'dctrl/v1/payout-mgr/rpc/psbt-import',
  kind: 'request',
  sealed: { to: 'responder', reply: true },
  issuers: 'any',
  description:
    'A co-signer’s signed PSBT: it must sign exactly the transaction built, with keys of the wallet only, each signature valid; its signatures are combined in, and at the quorum the transaction is finalized (not sent). Found by its transaction when no psbtId is given. Only payoutMgr.operators may.',
  payload: z.strictObject({ psbtId: psbtId.optional(), psbt: psbtBase64, by: personName.optional() }),
  reply: psbtImported,
  askers: ['cli', 'server'],
});

export const PsbtBroadcast = defineMessage({
  type: 'payout-mgr.psbt.broadcast',
  topic: 'dctrl/v1/payout-mgr/rpc/psbt-broadcast',
  kind: 'request',
  sealed: { to: 'responder', reply: true },
  issuers: 'any',
  description:
    'Send a fully signed PSBT’s transaction to the network. A refusal by the node is reported with its reason and the payouts stay signed and unpaid. Only payoutMgr.operators may.',
  payload: z.strictObject({ psbtId, by: personName.optional() }),
  reply: psbtSummary,
  askers: ['cli', 'server'],
});

export const PsbtDiscard = defineMessage({
  type: 'payout-mgr.psbt.discard',
  topic: 'dctrl/v1/payout-mgr/rpc/psbt-discard',
  kind: 'request',
  sealed: { to: 'responder', reply: true },
  issuers: 'any',
  description:
    'Give up a PSBT that was not sent (a co-signer is away, the fee is wrong): its coins are free again and its payouts go back to approved, to be built anew. Only payoutMgr.operators may.',
  payload: z.strictObject({ psbtId, reason: z.string().trim().min(1).max(500), by: personName.optional() }),
  reply: psbtSummary,
  askers: ['cli', 'server'],
});

export const PayoutWallet = defineMessage({
  type: 'payout-mgr.wallet',
  topic: 'dctrl/v1/payout-mgr/rpc/wallet',
  kind: 'request',
  sealed: { reply: true },
  issuers: 'any',
  description:
    'The multisig wallet: its descriptor, balance, coins and how far it has followed the chain; with newAddress, a fresh receive address to fund it. Only payoutMgr.readers may.',
  payload: z.strictObject({ newAddress: z.boolean().optional() }),
  reply: payoutWalletInfo,
  askers: ['cli', 'server'],
});

export const PayoutChanged = defineMessage({
  type: 'payout-mgr.changed',
  topic: 'dctrl/v1/payout-mgr/payout',
  kind: 'event',
  sealed: { to: ['member-mail'] },
  issuers: ['payout-mgr'],
  description:
    'A payout changed state (requested, approved, rejected, expired, signing, signed, broadcast, confirmed); for dashboards and for the payee’s notice mail.',
  payload: z.strictObject({
    payoutId,
    state: payoutState,
    memberId: z.string().max(40).nullable(),
    sats,
    cents: z.int().positive().nullable(),
    txid: txid.nullable(),
    at: epochMs,
  }),
});

export const ApproverKeyChanged = defineMessage({
  type: 'payout-mgr.key.changed',
  topic: 'dctrl/v1/payout-mgr/approver-key',
  kind: 'event',
  issuers: ['payout-mgr'],
  description:
    'An approver’s key was enrolled (pending, or active at bootstrap), endorsed or activated: logged, so an enrollment is never silent.',
  payload: z.strictObject({
    keyId: z.string().max(1_500),
    approver: personName,
    kind: z.enum(['ed25519', 'passkey']),
    state: z.enum(APPROVER_KEY_STATES),
    bootstrap: z.boolean(),
    endorsedBy: z.array(personName),
    enrolledBy: z.string().max(64),
    at: epochMs,
  }),
});

export const payoutMessages: readonly MessageSpec[] = [
  PayoutRequest,
  PayoutDecide,
  ApproverKeyEnroll,
  ApproverKeyEndorse,
  ApproverKeyRevoke,
  ApproverKeyList,
  PayoutList,
  PayoutGet,
  PsbtBuild,
  PsbtGet,
  PsbtImport,
  PsbtBroadcast,
  PsbtDiscard,
  PayoutWallet,
  PayoutChanged,
  ApproverKeyChanged,
] as MessageSpec[];
