// Approvers' keys: enrolled per approver (an Ed25519 key file or a WebAuthn passkey), active once the quorum of
// approvers with active keys endorsed them (or at bootstrap), and the check of every signed statement against them.
import { verifyAuthenticationResponse, verifyRegistrationResponse } from '@simplewebauthn/server';
import type { Kysely } from 'kysely';
import {
  ed25519KeyId,
  endorseStatement,
  enrollStatement,
  passkeyChallenge,
  passkeyEnrollStatement,
  passkeyKeyId,
  revokeStatement,
} from '../core/approval.js';
import type { Clock } from '../core/clock.js';
import type { PayloadOf } from '../core/contract.js';
import { importPublicKey, verifyBytes } from '../core/keys.js';
import type { Logger } from '../core/logger.js';
import type {
  ApproverKey,
  ApproverKeyEndorse,
  ApproverKeyEnroll,
  ApproverKeyRevoke,
  ApproverProof,
} from '../core/messages-payout.js';
import type { Config } from '../core/config.js';
import { PayoutMgrError } from './errors.js';
import type { ApproverKeyRow, PayoutTables } from './store.js';

type Db = Kysely<PayoutTables>;

export interface VerifiedKey {
  key: ApproverKeyRow;
  /** A passkey's new signature counter, to be stored with what the signature decided. */
  counter: number;
}

function clientOrigin(clientDataJSON: string): string {
  try {
    const origin = (JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { origin?: unknown }).origin;
    return typeof origin === 'string' ? origin : '';
  } catch {
    return '';
  }
}

export class ApproverKeys {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #settings: Config['payoutMgr'];
  readonly #changed: (key: ApproverKey) => void;

  constructor(options: {
    db: Db;
    clock: Clock;
    log: Logger;
    settings: Config['payoutMgr'];
    changed: (key: ApproverKey) => void;
  }) {
    this.#db = options.db;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#settings = options.settings;
    this.#changed = options.changed;
  }

  /** The client that carries a decision or key must be the approver itself or one of payoutMgr.delegates. */
  checkCarrier(issuer: string, approver: string): void {
    if (!this.#settings.delegates.includes(issuer) && issuer !== approver) {
      throw new PayoutMgrError(
        'PAYOUT_NOT_ALLOWED',
        `"${issuer}" may not speak for approver "${approver}" (payoutMgr.delegates)`,
      );
    }
    if (!this.#settings.approvers.includes(approver)) {
      throw new PayoutMgrError('PAYOUT_NOT_ALLOWED', `"${approver}" is not in payoutMgr.approvers`);
    }
  }

  async list(approver?: string) {
    let query = this.#db.selectFrom('payout_mgr_approver_keys').selectAll().orderBy('enrolled_at').orderBy('key_id');
    if (approver !== undefined) query = query.where('approver', '=', approver);
    const rows = await query.execute();
    return {
      keys: await Promise.all(rows.map((row) => this.#record(row))),
      approvalsRequired: this.#settings.approvalsRequired,
      bootstrap: await this.#bootstrapping(),
    };
  }

  /** @throws PayoutMgrError PAYOUT_APPROVER_KEY_INVALID when the key does not prove itself, PAYOUT_NOT_ALLOWED. */
  async enroll(input: PayloadOf<typeof ApproverKeyEnroll>, issuer: string): Promise<ApproverKey> {
    this.checkCarrier(issuer, input.approver);
    const { approver, key } = input;
    let row: Omit<ApproverKeyRow, 'state' | 'activated_at' | 'bootstrap'>;
    const now = this.#clock.now();
    if (key.kind === 'ed25519') {
      let valid: boolean;
      try {
        valid = verifyBytes(importPublicKey(key.publicKey), enrollStatement(approver, key.publicKey), key.signature);
      } catch {
        valid = false;
      }
      if (!valid) {
        throw new PayoutMgrError(
          'PAYOUT_APPROVER_KEY_INVALID',
          `the Ed25519 key ${key.publicKey.slice(0, 12)}… did not sign its own enrollment for "${approver}": make the request with dctrl approver enroll --key FILE`,
        );
      }
      row = {
        key_id: ed25519KeyId(key.publicKey),
        approver,
        kind: 'ed25519',
        public_key: key.publicKey,
        counter: 0,
        enrolled_at: now,
        enrolled_by: issuer,
      };
    } else {
      const origin = this.#origin(key.registration.response.clientDataJSON);
      let credential: { id: string; publicKey: Uint8Array; counter: number };
      try {
        const result = await verifyRegistrationResponse({
          response: key.registration as Parameters<typeof verifyRegistrationResponse>[0]['response'],
          expectedChallenge: passkeyChallenge(passkeyEnrollStatement(approver, key.nonce)),
          expectedOrigin: origin,
          expectedRPID: this.#settings.passkeyRpId,
          requireUserVerification: true,
        });
        if (!result.verified) throw new Error('the registration did not verify');
        credential = result.registrationInfo.credential;
      } catch (cause) {
        throw new PayoutMgrError(
          'PAYOUT_APPROVER_KEY_INVALID',
          `the passkey registration for "${approver}" does not verify: ${(cause as Error).message}`,
          { cause },
        );
      }
      row = {
        key_id: passkeyKeyId(credential.id),
        approver,
        kind: 'passkey',
        public_key: Buffer.from(credential.publicKey).toString('base64url'),
        counter: credential.counter,
        enrolled_at: now,
        enrolled_by: issuer,
      };
    }
    const existing = await this.#key(row.key_id);
    if (existing) {
      if (existing.approver !== approver) {
        throw new PayoutMgrError(
          'PAYOUT_APPROVER_KEY_INVALID',
          `key ${row.key_id} is already enrolled for another approver; each person enrolls their own key`,
        );
      }
      return this.#record(existing);
    }
    const bootstrap = (await this.#bootstrapping()) && !(await this.#hasActiveKey(approver));
    const stored: ApproverKeyRow = {
      ...row,
      state: bootstrap ? 'active' : 'pending',
      activated_at: bootstrap ? now : null,
      bootstrap: bootstrap ? 1 : 0,
    };
    await this.#db.insertInto('payout_mgr_approver_keys').values(stored).execute();
    this.#log.warn(
      { approver, keyId: stored.key_id, kind: stored.kind, state: stored.state, carriedBy: issuer },
      bootstrap
        ? 'approver key enrolled and active at once (bootstrap: fewer approvers than the quorum have keys)'
        : 'approver key enrolled, pending until the quorum of approvers endorses it',
    );
    return this.#announce(stored);
  }

  /** @throws PayoutMgrError PAYOUT_APPROVER_KEY_UNKNOWN, PAYOUT_APPROVER_KEY_STATE_CONFLICT, PAYOUT_APPROVAL_SIGNATURE_INVALID. */
  async endorse(input: PayloadOf<typeof ApproverKeyEndorse>, issuer: string): Promise<ApproverKey> {
    this.checkCarrier(issuer, input.approver);
    const key = await this.#key(input.keyId);
    if (!key) throw new PayoutMgrError('PAYOUT_APPROVER_KEY_UNKNOWN', `no approver key ${input.keyId} is enrolled`);
    if (key.state !== 'pending') return this.#record(key);
    const statement = endorseStatement({
      owner: key.approver,
      keyId: key.key_id,
      publicKey: key.public_key,
      endorser: input.approver,
    });
    const { key: endorser, counter } = await this.verify(input.approver, () => statement, input.proof);
    const now = this.#clock.now();
    let activated = false;
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .insertInto('payout_mgr_key_endorsements')
        .values({
          key_id: key.key_id,
          approver: input.approver,
          endorser_key_id: endorser.key_id,
          at: now,
          proof: JSON.stringify(input.proof),
        })
        .onConflict((oc) => oc.doNothing())
        .execute();
      await trx.updateTable('payout_mgr_approver_keys').set({ counter }).where('key_id', '=', endorser.key_id).execute();
      const endorsers = await trx
        .selectFrom('payout_mgr_key_endorsements')
        .select('approver')
        .where('key_id', '=', key.key_id)
        .execute();
      const counted = new Set(endorsers.map((e) => e.approver).filter((name) => this.#settings.approvers.includes(name)));
      if (counted.size >= this.#settings.approvalsRequired) {
        activated = true;
        await trx
          .updateTable('payout_mgr_approver_keys')
          .set({ state: 'active', activated_at: now })
          .where('key_id', '=', key.key_id)
          .execute();
      }
    });
    this.#log.warn(
      { owner: key.approver, keyId: key.key_id, endorser: input.approver, activated },
      activated ? 'approver key endorsed by the quorum: active' : 'approver key endorsed',
    );
    return this.#announce((await this.#key(key.key_id))!);
  }

  /**
   * Retires a key: at once when its owner signs, else once approvalsRequired approvers have signed.
   * @throws PayoutMgrError PAYOUT_APPROVER_KEY_UNKNOWN, PAYOUT_APPROVER_KEY_STATE_CONFLICT, PAYOUT_APPROVAL_SIGNATURE_INVALID.
   */
  async revoke(input: PayloadOf<typeof ApproverKeyRevoke>, issuer: string): Promise<ApproverKey> {
    this.checkCarrier(issuer, input.approver);
    const key = await this.#key(input.keyId);
    if (!key) throw new PayoutMgrError('PAYOUT_APPROVER_KEY_UNKNOWN', `no approver key ${input.keyId.slice(0, 60)} is enrolled`);
    if (key.state === 'revoked') return this.#record(key);
    const statement = revokeStatement({ owner: key.approver, keyId: key.key_id, revoker: input.approver });
    const { key: revoker, counter } = await this.verify(input.approver, () => statement, input.proof);
    const now = this.#clock.now();
    let revoked = false;
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .insertInto('payout_mgr_key_revocations')
        .values({
          key_id: key.key_id,
          approver: input.approver,
          endorser_key_id: revoker.key_id,
          at: now,
          proof: JSON.stringify(input.proof),
        })
        .onConflict((oc) => oc.doNothing())
        .execute();
      await trx.updateTable('payout_mgr_approver_keys').set({ counter }).where('key_id', '=', revoker.key_id).execute();
      const voters = await trx
        .selectFrom('payout_mgr_key_revocations')
        .select('approver')
        .where('key_id', '=', key.key_id)
        .execute();
      const counted = new Set(voters.map((v) => v.approver).filter((name) => this.#settings.approvers.includes(name)));
      if (input.approver === key.approver || counted.size >= this.#settings.approvalsRequired) {
        revoked = true;
        await trx.updateTable('payout_mgr_approver_keys').set({ state: 'revoked' }).where('key_id', '=', key.key_id).execute();
      }
    });
    this.#log.warn(
      { owner: key.approver, keyId: key.key_id, revoker: input.approver, revoked },
      revoked ? 'approver key revoked' : 'approver key revocation signed',
    );
    return this.#announce((await this.#key(key.key_id))!);
  }

  /**
   * Checks that `proof` is a signature by one of `approver`'s active keys over the statement (built with the
   * proof's signedAt). Stores nothing: the caller keeps the returned counter with what the signature decided.
   * @throws PayoutMgrError PAYOUT_APPROVER_KEY_UNKNOWN, PAYOUT_APPROVER_KEY_STATE_CONFLICT, PAYOUT_APPROVAL_SIGNATURE_INVALID.
   */
  async verify(approver: string, statementAt: (signedAt: number) => Buffer, proof: ApproverProof): Promise<VerifiedKey> {
    const keyId = proof.kind === 'ed25519' ? proof.keyId : passkeyKeyId(proof.assertion.id);
    const key = await this.#key(keyId);
    if (!key || key.approver !== approver) {
      throw new PayoutMgrError(
        'PAYOUT_APPROVER_KEY_UNKNOWN',
        `no key ${keyId.slice(0, 60)} is enrolled for approver "${approver}": enroll one (dctrl approver enroll, or a passkey in the dashboard) and have it endorsed`,
      );
    }
    if (key.state !== 'active') {
      throw new PayoutMgrError(
        'PAYOUT_APPROVER_KEY_STATE_CONFLICT',
        key.state === 'revoked'
          ? `key ${keyId.slice(0, 60)} of "${approver}" was revoked: enroll a new one`
          : `key ${keyId.slice(0, 60)} of "${approver}" is pending: ${this.#settings.approvalsRequired} approvers must endorse it first (dctrl approver endorse)`,
      );
    }
    const statement = statementAt(proof.signedAt);
    const refused = (why: string, cause?: unknown): never => {
      throw new PayoutMgrError(
        'PAYOUT_APPROVAL_SIGNATURE_INVALID',
        `the signature of key ${keyId.slice(0, 60)} does not fit this statement (${why}): it was made for another payout or key, or for other terms; sign again for what stands now`,
        cause === undefined ? undefined : { cause },
      );
    };
    if (proof.kind === 'ed25519') {
      if (!verifyBytes(importPublicKey(key.public_key), statement, proof.signature)) refused('Ed25519 signature');
      return { key, counter: Number(key.counter) };
    }
    const origin = this.#origin(proof.assertion.response.clientDataJSON);
    try {
      const result = await verifyAuthenticationResponse({
        response: proof.assertion,
        expectedChallenge: passkeyChallenge(statement),
        expectedOrigin: origin,
        expectedRPID: this.#settings.passkeyRpId,
        credential: {
          id: keyId.slice('passkey:'.length),
          publicKey: Buffer.from(key.public_key, 'base64url'),
          counter: Number(key.counter),
        },
        requireUserVerification: true,
      });
      if (!result.verified) refused('passkey assertion');
      return { key, counter: result.authenticationInfo.newCounter };
    } catch (cause) {
      if (cause instanceof PayoutMgrError) throw cause;
      return refused(`passkey assertion: ${(cause as Error).message}`, cause);
    }
  }

  #origin(clientDataJSON: string): string {
    const origin = clientOrigin(clientDataJSON);
    const { passkeyOrigins, passkeyRpId } = this.#settings;
    let allowed: boolean;
    if (passkeyOrigins.length > 0) allowed = passkeyOrigins.some((o) => new URL(o).origin === origin);
    else {
      let url: URL | undefined;
      try {
        url = new URL(origin);
      } catch {
        url = undefined;
      }
      allowed =
        url !== undefined &&
        url.hostname === passkeyRpId &&
        (url.protocol === 'https:' || (url.protocol === 'http:' && passkeyRpId === 'localhost'));
    }
    if (!allowed) {
      throw new PayoutMgrError(
        'PAYOUT_APPROVAL_SIGNATURE_INVALID',
        `the passkey signed on "${origin.slice(0, 100)}", which is not a dashboard origin of payoutMgr.passkeyRpId "${passkeyRpId}" (payoutMgr.passkeyOrigins)`,
      );
    }
    return origin;
  }

  async #bootstrapping(): Promise<boolean> {
    const rows = await this.#db
      .selectFrom('payout_mgr_approver_keys')
      .select('approver')
      .distinct()
      .where('state', '=', 'active')
      .execute();
    const withKeys = rows.filter((row) => this.#settings.approvers.includes(row.approver)).length;
    return withKeys < this.#settings.approvalsRequired;
  }

  async #hasActiveKey(approver: string): Promise<boolean> {
    const row = await this.#db
      .selectFrom('payout_mgr_approver_keys')
      .select('key_id')
      .where('approver', '=', approver)
      .where('state', '=', 'active')
      .executeTakeFirst();
    return row !== undefined;
  }

  #key(keyId: string): Promise<ApproverKeyRow | undefined> {
    return this.#db.selectFrom('payout_mgr_approver_keys').selectAll().where('key_id', '=', keyId).executeTakeFirst();
  }

  async #announce(row: ApproverKeyRow): Promise<ApproverKey> {
    const record = await this.#record(row);
    this.#changed(record);
    return record;
  }

  async #record(row: ApproverKeyRow): Promise<ApproverKey> {
    const votes = (table: 'payout_mgr_key_endorsements' | 'payout_mgr_key_revocations') =>
      this.#db
        .selectFrom(table)
        .select(['approver', 'endorser_key_id', 'at'])
        .where('key_id', '=', row.key_id)
        .orderBy('at')
        .execute();
    const endorsements = await votes('payout_mgr_key_endorsements');
    const revocations = await votes('payout_mgr_key_revocations');
    return {
      keyId: row.key_id,
      approver: row.approver,
      kind: row.kind,
      state: row.state,
      publicKey: row.public_key,
      enrolledAt: Number(row.enrolled_at),
      enrolledBy: row.enrolled_by,
      activatedAt: row.activated_at === null ? null : Number(row.activated_at),
      bootstrap: Number(row.bootstrap) === 1,
      endorsements: endorsements.map((e) => ({ approver: e.approver, keyId: e.endorser_key_id, at: Number(e.at) })),
      revocations: revocations.map((e) => ({ approver: e.approver, keyId: e.endorser_key_id, at: Number(e.at) })),
    };
  }
}
