// Payouts: a member asks to be reimbursed (to their own record), staff ask for any payout, approvers approve or
// reject as themselves, the treasurer builds the PSBT, downloads it for the co-signers, uploads their signed files
// and sends the transaction. Asked of PayoutMgr over the bus; the approver is always the logged-in name.
import { randomBytes } from 'node:crypto';
import { generateAuthenticationOptions, generateRegistrationOptions } from '@simplewebauthn/server';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { decisionStatement, endorseStatement, passkeyChallenge, passkeyEnrollStatement } from '../core/approval.js';
import {
  ApproverKeyEndorse,
  ApproverKeyEnroll,
  ApproverKeyList,
  approverKey,
  approverKeyList,
  approverProof,
  type ApproverKey,
  type ApproverProof,
  type PayoutRecord,
  PAYOUT_STATES,
  PayoutDecide,
  PayoutGet,
  PayoutList,
  PayoutRequest,
  PayoutWallet,
  PsbtBroadcast,
  PsbtBuild,
  PsbtDiscard,
  PsbtGet,
  PsbtImport,
  payoutPage,
  payoutRecord,
  payoutWalletInfo,
  payoutWithPsbt,
  psbtImported,
  psbtList,
  psbtSummary,
  type PsbtSummary,
} from '../core/messages-payout.js';
import { limitValue, memberIdValue, okReply, ulidValue } from './api-shapes.js';
import type { AppDeps } from './deps.js';
import { ServerError } from './errors.js';
import { jsonSchema } from './schema.js';

const STAFF = ['admin', 'treasurer'] as const;

export const payoutsQuery = z.strictObject({
  state: z.enum(PAYOUT_STATES).optional(),
  memberId: memberIdValue.optional(),
  before: ulidValue.optional(),
  limit: limitValue(200),
});
const payoutParams = z.strictObject({ payoutId: ulidValue });
const memberPayoutParams = z.strictObject({ memberId: memberIdValue });
const memberPayoutsQuery = payoutsQuery.omit({ memberId: true });
const psbtParams = z.strictObject({ psbtId: ulidValue });
// JSON Schema cannot trim: the patterns refuse blank values here (400), which the bus contract would refuse after
// trimming as an invalid payload (503, as if PayoutMgr were at fault).
const reason = z.string().trim().min(1).max(500).regex(/\S/, 'a reason, not only spaces');

export const payoutBody = z.strictObject({
  address: z
    .string()
    .trim()
    .min(14)
    .max(100)
    .regex(/^\s*[A-Za-z0-9]{14,100}\s*$/, 'a bitcoin address'),
  sats: z.int().min(1).max(2_100_000_000_000_000).optional(),
  /** In the space's currency, integer cents. */
  cents: z.int().min(1).max(1_000_000_000).optional(),
  reason,
  /** Staff only: the member it pays (a member's own request always names them). */
  memberId: memberIdValue.optional(),
  idempotencyKey: z.string().min(1).max(100).optional(),
});
// The proof is checked whole by PayoutMgr's contract; here only its shape, so a malformed one is a 400.
const proofShape = z.looseObject({ kind: z.enum(['ed25519', 'passkey']), signedAt: z.int().nonnegative() });
const rejectBody = z.strictObject({ reason, proof: proofShape });
const approveBody = z.strictObject({ reason: reason.optional(), proof: proofShape });
const challengeBody = z.strictObject({ reason: reason.optional() });
const keyIdBody = z.strictObject({ keyId: z.string().min(1).max(1_500) });
const passkeyBody = z.strictObject({
  nonce: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  registration: z.looseObject({ id: z.string().max(1_400) }),
});
const endorseBody = z.strictObject({ keyId: z.string().min(1).max(1_500), proof: proofShape });
/** WebAuthn options as @simplewebauthn/browser takes them (PublicKeyCredential*OptionsJSON). */
const webauthnOptions = z.looseObject({ challenge: z.string() });
const decisionChallenge = z.strictObject({
  signedAt: z.int().nonnegative(),
  options: webauthnOptions,
});
const enrollChallenge = z.strictObject({ nonce: z.string(), options: webauthnOptions });

function proofOf(body: { proof: unknown }): ApproverProof {
  const parsed = approverProof.safeParse(body.proof);
  if (!parsed.success) {
    throw new ServerError('SERVER_BAD_REQUEST', `body.proof: ${parsed.error.issues[0]?.message ?? 'not an approver proof'}`);
  }
  return parsed.data;
}
const buildBody = z.strictObject({
  payoutIds: z.array(ulidValue).min(1).max(100).optional(),
  feeRateSatPerVb: z.number().min(1).max(10_000).optional(),
});
const importBody = z.strictObject({
  psbt: z
    .string()
    .max(4_000_000)
    .regex(/^[A-Za-z0-9+/=\s]+$/, 'a PSBT as base64 text'),
});
const discardBody = z.strictObject({ reason });

function who(request: FastifyRequest): { name: string; role: string; memberId: string | null } {
  const principal = request.principal;
  if (!principal) throw new ServerError('SERVER_NOT_LOGGED_IN', 'log in first');
  return principal;
}

export function registerPayoutRoutes(app: FastifyInstance, { ask, clock, config }: AppDeps): void {
  app.get(
    '/api/v1/payouts',
    {
      schema: {
        tags: ['payouts'],
        summary: 'Payouts, newest first, a page at a time; by state or member',
        querystring: jsonSchema(payoutsQuery),
        response: okReply('Payouts and the id to ask the next page before', payoutPage),
      },
      config: { access: [...STAFF] },
    },
    async (request) => ask(PayoutList, request.query as z.infer<typeof payoutsQuery>),
  );
  app.get(
    '/api/v1/members/:memberId/payouts',
    {
      schema: {
        tags: ['payouts'],
        summary: 'The payouts to one member (a member sees their own reimbursements), newest first',
        params: jsonSchema(memberPayoutParams),
        querystring: jsonSchema(memberPayoutsQuery),
        response: okReply('Payouts and the id to ask the next page before', payoutPage),
      },
      config: { access: [...STAFF, 'member-self'] },
    },
    async (request) => {
      const { memberId } = request.params as z.infer<typeof memberPayoutParams>;
      return ask(PayoutList, { ...(request.query as z.infer<typeof memberPayoutsQuery>), memberId });
    },
  );
  app.get(
    '/api/v1/payouts/:payoutId',
    {
      schema: {
        tags: ['payouts'],
        summary: 'One payout with its approvals and, once built, its PSBT',
        params: jsonSchema(payoutParams),
        response: okReply('The payout', payoutWithPsbt),
      },
      config: { access: [...STAFF] },
    },
    async (request) => ask(PayoutGet, request.params as z.infer<typeof payoutParams>),
  );
  app.post(
    '/api/v1/payouts',
    {
      schema: {
        tags: ['payouts'],
        summary:
          'Ask for a payout (in sats, or cents of the space’s currency converted at a fresh rate); a member asks for themselves',
        body: jsonSchema(payoutBody),
        response: okReply('The payout, requested', payoutRecord),
      },
      config: { access: [...STAFF, 'member'] },
    },
    async (request) => {
      const body = request.body as z.infer<typeof payoutBody>;
      const caller = who(request);
      if ((body.sats === undefined) === (body.cents === undefined)) {
        throw new ServerError('SERVER_BAD_REQUEST', 'body: give the amount either as sats or as cents, exactly one');
      }
      if (caller.role === 'member' && body.memberId !== undefined && body.memberId !== caller.memberId) {
        throw new ServerError('SERVER_FORBIDDEN', 'a member asks for payouts to themselves only');
      }
      const memberId = caller.role === 'member' ? (caller.memberId ?? undefined) : body.memberId;
      return ask(PayoutRequest, {
        address: body.address,
        reason: body.reason,
        requester: caller.name,
        ...(body.sats !== undefined ? { sats: body.sats } : { cents: body.cents! }),
        ...(memberId !== undefined ? { memberId } : {}),
        // Every dashboard user asks as the client `server`: each login has its own keys.
        ...(body.idempotencyKey !== undefined ? { idempotencyKey: `${caller.name}:${body.idempotencyKey}` } : {}),
      });
    },
  );
  for (const decision of ['approve', 'reject'] as const) {
    app.post(
      `/api/v1/payouts/:payoutId/${decision}`,
      {
        schema: {
          tags: ['payouts'],
          summary:
            decision === 'approve'
              ? 'Approve a requested payout as the logged-in approver (each approver counts once)'
              : 'Reject a requested payout as the logged-in approver, with a reason',
          params: jsonSchema(payoutParams),
          body: jsonSchema(decision === 'approve' ? approveBody : rejectBody),
          response: okReply('The payout after the decision', payoutRecord),
        },
        config: { access: [...STAFF] },
      },
      async (request) => {
        const { payoutId } = request.params as z.infer<typeof payoutParams>;
        const body = request.body as { reason?: string; proof: unknown };
        return ask(PayoutDecide, {
          payoutId,
          approver: who(request).name,
          decision,
          ...(body.reason !== undefined ? { reason: body.reason } : {}),
          proof: proofOf(body),
        });
      },
    );
    app.post(
      `/api/v1/payouts/:payoutId/${decision}/challenge`,
      {
        schema: {
          tags: ['payouts'],
          summary: `WebAuthn options whose challenge binds this payout’s terms and the ${decision === 'approve' ? 'approval' : 'rejection'}, for the logged-in approver’s passkey`,
          params: jsonSchema(payoutParams),
          body: jsonSchema(challengeBody),
          response: okReply(
            'The options for navigator.credentials.get and the time signed into the statement',
            decisionChallenge,
          ),
        },
        config: { access: [...STAFF] },
      },
      async (request) => {
        const { payoutId } = request.params as z.infer<typeof payoutParams>;
        const { reason: why } = request.body as z.infer<typeof challengeBody>;
        const approver = who(request).name;
        const { payout } = (await ask(PayoutGet, { payoutId })) as { payout: PayoutRecord };
        const signedAt = clock.now();
        const statement = decisionStatement({ payout, approver, decision, reason: why ?? null, signedAt });
        return { signedAt, options: await assertionOptions(approver, statement) };
      },
    );
  }
  const assertionOptions = async (approver: string, statement: Uint8Array) => {
    const { keys } = (await ask(ApproverKeyList, { approver })) as { keys: ApproverKey[] };
    return generateAuthenticationOptions({
      rpID: config.payoutMgr.passkeyRpId,
      challenge: Buffer.from(passkeyChallenge(statement), 'base64url'),
      userVerification: 'required',
      allowCredentials: keys
        .filter((key) => key.kind === 'passkey' && key.state === 'active')
        .map((key) => ({ id: key.keyId.slice('passkey:'.length) })),
    });
  };
  app.get(
    '/api/v1/approver-keys',
    {
      schema: {
        tags: ['payouts'],
        summary: 'The approvers’ enrolled keys (passkeys and key files), active and pending, and who endorsed them',
        response: okReply('The keys', approverKeyList),
      },
      config: { access: [...STAFF] },
    },
    async () => ask(ApproverKeyList, {}),
  );
  app.post(
    '/api/v1/approver-keys/passkey/challenge',
    {
      schema: {
        tags: ['payouts'],
        summary: 'WebAuthn options to make a passkey for the logged-in approver',
        response: okReply('The options for navigator.credentials.create and the nonce they bind', enrollChallenge),
      },
      config: { access: [...STAFF] },
    },
    async (request) => {
      const approver = who(request).name;
      const nonce = randomBytes(24).toString('base64url');
      const { keys } = (await ask(ApproverKeyList, { approver })) as { keys: ApproverKey[] };
      const options = await generateRegistrationOptions({
        rpName: 'dctrl payouts',
        rpID: config.payoutMgr.passkeyRpId,
        userName: approver,
        userID: new TextEncoder().encode(approver),
        challenge: Buffer.from(passkeyChallenge(passkeyEnrollStatement(approver, nonce)), 'base64url'),
        attestationType: 'none',
        authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
        excludeCredentials: keys
          .filter((key) => key.kind === 'passkey')
          .map((key) => ({ id: key.keyId.slice('passkey:'.length) })),
      });
      return { nonce, options };
    },
  );
  app.post(
    '/api/v1/approver-keys/passkey',
    {
      schema: {
        tags: ['payouts'],
        summary:
          'Enroll the passkey just made as the logged-in approver’s key: pending until the quorum of approvers endorses it',
        body: jsonSchema(passkeyBody),
        response: okReply('The key', approverKey),
      },
      config: { access: [...STAFF] },
    },
    async (request) => {
      const { nonce, registration } = request.body as z.infer<typeof passkeyBody>;
      return ask(ApproverKeyEnroll, {
        approver: who(request).name,
        key: { kind: 'passkey', nonce, registration: registration as never },
      });
    },
  );
  app.post(
    '/api/v1/approver-keys/endorse/challenge',
    {
      schema: {
        tags: ['payouts'],
        summary: 'WebAuthn options whose challenge binds a pending key, to endorse it with the logged-in approver’s passkey',
        body: jsonSchema(keyIdBody),
        response: okReply('The options for navigator.credentials.get', decisionChallenge),
      },
      config: { access: [...STAFF] },
    },
    async (request) => {
      const { keyId } = request.body as z.infer<typeof keyIdBody>;
      const approver = who(request).name;
      const { keys } = (await ask(ApproverKeyList, {})) as { keys: ApproverKey[] };
      const key = keys.find((candidate) => candidate.keyId === keyId);
      if (!key) throw new ServerError('SERVER_NOT_FOUND', `no approver key ${keyId.slice(0, 60)} is enrolled`);
      const statement = endorseStatement({ owner: key.approver, keyId, publicKey: key.publicKey, endorser: approver });
      return { signedAt: clock.now(), options: await assertionOptions(approver, statement) };
    },
  );
  app.post(
    '/api/v1/approver-keys/endorse',
    {
      schema: {
        tags: ['payouts'],
        summary: 'Endorse a pending approver key, signed by the logged-in approver’s own active key',
        body: jsonSchema(endorseBody),
        response: okReply('The key', approverKey),
      },
      config: { access: [...STAFF] },
    },
    async (request) => {
      const body = request.body as z.infer<typeof endorseBody>;
      return ask(ApproverKeyEndorse, { keyId: body.keyId, approver: who(request).name, proof: proofOf(body) });
    },
  );
  app.post(
    '/api/v1/psbts',
    {
      schema: {
        tags: ['payouts'],
        summary: 'Build a PSBT for approved payouts (those named, or all), for the co-signers to sign',
        body: jsonSchema(buildBody),
        response: okReply('The PSBT, unsigned', psbtSummary),
      },
      config: { access: [...STAFF] },
    },
    async (request) => ask(PsbtBuild, { ...(request.body as z.infer<typeof buildBody>), by: who(request).name }),
  );
  app.get(
    '/api/v1/psbts',
    {
      schema: {
        tags: ['payouts'],
        summary: 'The PSBTs not yet confirmed, with the signatures taken in so far',
        response: okReply('PSBTs', psbtList),
      },
      config: { access: [...STAFF] },
    },
    async () => ask(PsbtGet, {}),
  );
  app.get(
    '/api/v1/psbts/:psbtId',
    {
      schema: {
        tags: ['payouts'],
        summary: 'One PSBT as it stands (base64), for the next co-signer',
        params: jsonSchema(psbtParams),
        response: okReply('The PSBT', psbtSummary),
      },
      config: { access: [...STAFF] },
    },
    async (request) => ((await ask(PsbtGet, request.params as z.infer<typeof psbtParams>)) as { psbts: PsbtSummary[] }).psbts[0],
  );
  app.get(
    '/api/v1/psbts/:psbtId/file',
    {
      schema: {
        tags: ['payouts'],
        summary: 'One PSBT as a binary .psbt file (Sparrow, Electrum and hardware wallets open it)',
        params: jsonSchema(psbtParams),
        response: {
          200: {
            description: 'The .psbt file',
            content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
          },
        },
      },
      config: { access: [...STAFF] },
    },
    async (request, reply: FastifyReply) => {
      const { psbts } = (await ask(PsbtGet, request.params as z.infer<typeof psbtParams>)) as { psbts: PsbtSummary[] };
      const psbt = psbts[0]!;
      return reply
        .type('application/octet-stream')
        .header('content-disposition', `attachment; filename="payout-${psbt.id}.psbt"`)
        .send(Buffer.from(psbt.base64, 'base64'));
    },
  );
  app.post(
    '/api/v1/psbts/:psbtId/signatures',
    {
      schema: {
        tags: ['payouts'],
        summary:
          'Upload a co-signer’s signed PSBT (base64): refused whole if it signs another transaction or carries a key outside the wallet; combined in, finalized at the quorum',
        params: jsonSchema(psbtParams),
        body: jsonSchema(importBody),
        response: okReply('The PSBT with the signatures combined in', psbtImported),
      },
      config: { access: [...STAFF] },
    },
    async (request) => {
      const { psbtId } = request.params as z.infer<typeof psbtParams>;
      const { psbt } = request.body as z.infer<typeof importBody>;
      return ask(PsbtImport, { psbtId, psbt, by: who(request).name });
    },
  );
  app.post(
    '/api/v1/psbts/:psbtId/broadcast',
    {
      schema: {
        tags: ['payouts'],
        summary: 'Send the transaction of a PSBT the quorum has signed (a refusal by the node leaves the payouts unpaid)',
        params: jsonSchema(psbtParams),
        response: okReply('The PSBT, sent', psbtSummary),
      },
      config: { access: [...STAFF] },
    },
    async (request) => ask(PsbtBroadcast, { ...(request.params as z.infer<typeof psbtParams>), by: who(request).name }),
  );
  app.post(
    '/api/v1/psbts/:psbtId/discard',
    {
      schema: {
        tags: ['payouts'],
        summary: 'Give up a PSBT not yet sent: its coins are free and its payouts approved again',
        params: jsonSchema(psbtParams),
        body: jsonSchema(discardBody),
        response: okReply('The PSBT, discarded', psbtSummary),
      },
      config: { access: [...STAFF] },
    },
    async (request) => {
      const { psbtId } = request.params as z.infer<typeof psbtParams>;
      const { reason: why } = request.body as z.infer<typeof discardBody>;
      return ask(PsbtDiscard, { psbtId, reason: why, by: who(request).name });
    },
  );
  app.get(
    '/api/v1/payout-wallet',
    {
      schema: {
        tags: ['payouts'],
        summary: 'The multisig wallet: balance, coins, co-signers and descriptor',
        response: okReply('The wallet', payoutWalletInfo),
      },
      config: { access: [...STAFF] },
    },
    async () => ask(PayoutWallet, {}),
  );
  app.post(
    '/api/v1/payout-wallet/address',
    {
      schema: {
        tags: ['payouts'],
        summary: 'Hand out a fresh receive address of the multisig wallet, to fund it',
        response: okReply('The wallet, with receiveAddress', payoutWalletInfo),
      },
      config: { access: [...STAFF] },
    },
    async () => ask(PayoutWallet, { newAddress: true }),
  );
}
