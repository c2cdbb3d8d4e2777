// The payout routes over real HTTP against the real PayoutMgr, BusinessData, Reporter and PriceNotifier on a funded
// simulated chain: a member asks to be reimbursed (always to their own record), a treasurer and an admin approve as
// themselves, a rejection needs its reason, the PSBT is built, downloaded as a .psbt file, signed by two co-signers
// in two libraries, refused when tampered or unreadable, and sent; every route refuses a caller without a login;
// every 200 reply is valid against the schema the OpenAPI document declares for it.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { base64 } from '@scure/base';
import { Transaction } from '@scure/btc-signer';
import { SimulatedChain } from '../../src/chain-adaptor/index.js';
import { NETWORKS, parseAddress } from '../../src/core/bitcoin/index.js';
import type { PayoutRecord, PsbtSummary } from '../../src/core/messages-payout.js';
import { COSIGNERS, payee, signWithBitcoinjs, signWithScure, testWalletDescriptorText } from '../payout-mgr/keys.js';
import { startServerHub, type ServerHub } from './hub.js';
import { decisionProof } from '../../src/cli/approver-key.js';
import { approverKeyOf, enrollApprovers, strangerKey } from '../payout-mgr/approvers.js';

const FUNDED_SATS = 2_000_000;
/** The PriceNotifier's fixed demo rate: 13,500,000 cents a bitcoin, so 135.00 is 100,000 sats. */
const REIMBURSED_CENTS = 13_500;
const REIMBURSED_SATS = 100_000;
const PSBT_MAGIC = '70736274ff';

type Validate = ((data: unknown) => boolean) & { errors?: unknown[] | null };

/** Fastify's own ajv (8), as test/server/openapi.test.ts uses it; the one at the top of node_modules is ESLint's. */
function fastifyAjv(): { compile(schema: object): Validate } {
  const fromFastify = createRequire(createRequire(import.meta.url).resolve('@fastify/ajv-compiler'));
  const { default: AjvClass } = fromFastify('ajv') as { default: new (options: object) => { compile(schema: object): Validate } };
  return new AjvClass({ allErrors: true, strict: true });
}

interface Document {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: object }> }> }>>;
}

describe('server: payouts, approvals and PSBTs over the REST API', () => {
  const chain = new SimulatedChain('regtest');
  let hub: ServerHub;
  let treasurer: string;
  let admin: string;
  let member: string;
  let ada: string;
  let ken: string;
  let document: Document;
  const validators = new Map<string, Validate>();
  let reimbursement: PayoutRecord;
  let psbt: PsbtSummary;

  /** The reply schema the document declares for a route, compiled once. */
  function declared(method: string, path: string): Validate {
    const template = Object.keys(document.paths).find((candidate) =>
      new RegExp(`^${candidate.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path),
    );
    assert.ok(template, `${path} is documented`);
    const key = `${method} ${template}`;
    let validate = validators.get(key);
    if (!validate) {
      const schema = document.paths[template]?.[method.toLowerCase()]?.responses['200']?.content?.['application/json']?.schema;
      assert.ok(schema, `${key} declares its JSON reply`);
      validate = fastifyAjv().compile(schema);
      validators.set(key, validate);
    }
    return validate;
  }

  /** Calls a route and checks the status; a 200 reply is checked against its declared schema; an error's code too. */
  async function call<T>(
    cookie: string | undefined,
    method: 'GET' | 'POST',
    path: string,
    status: number,
    body?: unknown,
    code?: string,
  ): Promise<T> {
    const response = await hub.call(`/api/v1${path}`, {
      method,
      ...(cookie ? { cookie } : {}),
      ...(body === undefined ? {} : { body }),
    });
    const text = await response.text();
    assert.equal(response.status, status, `${method} ${path}: ${response.status} ${text.slice(0, 400)}`);
    const json = JSON.parse(text) as T;
    if (status === 200) {
      const validate = declared(method, `/api/v1${path.split('?')[0]!}`);
      assert.ok(validate(json), `${method} ${path}: ${JSON.stringify(validate.errors?.slice(0, 5))}`);
    }
    if (code !== undefined) assert.equal((json as { code?: string }).code, code, text);
    return json;
  }

  /** A decision body signed with the approver's own key over the payout as the Server shows it. */
  async function signedBody(
    approver: string,
    payoutId: string,
    decision: 'approve' | 'reject' = 'approve',
    reason?: string,
    key = approverKeyOf(approver),
  ) {
    const { payout } = await call<{ payout: PayoutRecord }>(treasurer, 'GET', `/payouts/${payoutId}`, 200);
    const proof = decisionProof(key, payout, decision, reason ?? null, Date.now());
    return { ...(reason !== undefined ? { reason } : {}), proof };
  }

  before(async () => {
    hub = await startServerHub({
      config: { bus: { requestTimeoutMs: 5_000 }, reporter: { checkIntervalMs: 3_600_000 } },
      payouts: {
        chain,
        config: {
          walletDescriptor: testWalletDescriptorText(),
          birthHeight: 0,
          approvers: ['tess', 'root'],
          approvalsRequired: 2,
          confirmations: 2,
          gapLimit: 5,
          pollMs: 3_600_000,
          fee: { fallbackSatPerVb: 2, floorSatPerVb: 1, ceilingSatPerVb: 50 },
        },
      },
    });
    ada = await hub.join('Ada Lovelace', 'ada@example.org');
    ken = await hub.join('Ken Thompson', 'ken@example.org');
    await hub.user('root', 'admin');
    await hub.user('tess', 'treasurer');
    await hub.user('ada', 'member', ada);
    admin = await hub.login('root');
    treasurer = await hub.login('tess');
    member = await hub.login('ada');
    document = (await (await hub.call('/api/openapi.json')).json()) as Document;
    await enrollApprovers(hub.cli, ['tess', 'root']);
  });
  after(async () => {
    await hub?.stop();
  });

  test('the wallet hands out an address to fund it and shows the balance once the coin is mined', async () => {
    const empty = await call<{ confirmedSats: number; receiveAddress: string | null }>(treasurer, 'GET', '/payout-wallet', 200);
    assert.equal(empty.confirmedSats, 0);
    assert.equal(empty.receiveAddress, null);
    const fresh = await call<{ receiveAddress: string }>(treasurer, 'POST', '/payout-wallet/address', 200);
    chain.send([{ script: parseAddress(fresh.receiveAddress, NETWORKS.regtest).script, value: FUNDED_SATS }]);
    chain.mine(1);
    await hub.payouts!.follow();
    const funded = await call<{ confirmedSats: number; coins: number; threshold: number; cosigners: unknown[] }>(
      admin,
      'GET',
      '/payout-wallet',
      200,
    );
    assert.equal(funded.confirmedSats, FUNDED_SATS);
    assert.equal(funded.coins, 1);
    assert.equal(funded.threshold, 2);
    assert.equal(funded.cosigners.length, 3);
    await call(member, 'GET', '/payout-wallet', 403, undefined, 'SERVER_FORBIDDEN');
  });

  test('a member asks to be reimbursed in the space’s currency, always to their own record; another member’s is 403', async () => {
    reimbursement = await call<PayoutRecord>(member, 'POST', '/payouts', 200, {
      address: payee(1).address,
      cents: REIMBURSED_CENTS,
      reason: 'filament for the 3D printer',
    });
    assert.equal(reimbursement.state, 'requested');
    assert.equal(reimbursement.memberId, ada, 'the member’s own id, though the body named none');
    assert.equal(reimbursement.requester, 'ada');
    assert.equal(reimbursement.requestedBy, 'server');
    assert.equal(reimbursement.cents, REIMBURSED_CENTS);
    assert.equal(reimbursement.sats, REIMBURSED_SATS);
    assert.equal(reimbursement.approvalsRequired, 2);
    await call(
      member,
      'POST',
      '/payouts',
      403,
      { address: payee(2).address, sats: 10_000, reason: 'for Ken', memberId: ken },
      'SERVER_FORBIDDEN',
    );
    const own = await call<PayoutRecord>(member, 'POST', '/payouts', 200, {
      address: payee(3).address,
      sats: 20_000,
      reason: 'naming myself',
      memberId: ada,
    });
    assert.equal(own.memberId, ada);
    await call(
      member,
      'POST',
      '/payouts',
      400,
      { address: payee(4).address, sats: 1_000, cents: 100, reason: 'both' },
      'SERVER_BAD_REQUEST',
    );
    // Blank values are the caller's mistake (400), not refused later on the bus as if PayoutMgr had failed.
    await call(member, 'POST', '/payouts', 400, { address: ' '.repeat(20), sats: 1_000, reason: 'blank' }, 'SERVER_BAD_REQUEST');
    await call(member, 'POST', '/payouts', 400, { address: payee(4).address, sats: 1_000, reason: '  ' }, 'SERVER_BAD_REQUEST');
    const mainnet = 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq';
    await call(
      member,
      'POST',
      '/payouts',
      400,
      { address: mainnet, sats: 1_000, reason: 'wrong network' },
      'PAYOUT_ADDRESS_INVALID',
    );
    // Every payout is for staff to list; a member lists their own, and nobody else's.
    await call(member, 'GET', '/payouts', 403, undefined, 'SERVER_FORBIDDEN');
    const mine = await call<{ payouts: PayoutRecord[] }>(member, 'GET', `/members/${ada}/payouts`, 200);
    assert.deepEqual(mine.payouts.map((payout) => payout.id).sort(), [reimbursement.id, own.id].sort());
    await call(
      member,
      'GET',
      `/members/${ada.replace(/.$/, (last) => (last === 'A' ? 'B' : 'A'))}/payouts`,
      403,
      undefined,
      'SERVER_FORBIDDEN',
    );
    const listed = await call<{ payouts: PayoutRecord[] }>(treasurer, 'GET', `/payouts?memberId=${ada}&state=requested`, 200);
    assert.deepEqual(listed.payouts.map((payout) => payout.id).sort(), [reimbursement.id, own.id].sort());
    // Rejected later, so that only the reimbursement is approved and built.
    await call(treasurer, 'POST', `/payouts/${own.id}/reject`, 200, await signedBody('tess', own.id, 'reject', 'asked twice'));
  });

  test('a treasurer and an admin approve as themselves with their own keys, each once; a member may not approve', async () => {
    const path = `/payouts/${reimbursement.id}/approve`;
    const tessSigned = await signedBody('tess', reimbursement.id, 'approve');
    await call(member, 'POST', path, 403, tessSigned, 'SERVER_FORBIDDEN');
    await call(treasurer, 'POST', path, 400, {}, 'SERVER_BAD_REQUEST');
    // The admin's login cannot carry the treasurer's signature as its own, nor sign with a key the hub made.
    await call(admin, 'POST', path, 404, tessSigned, 'PAYOUT_APPROVER_KEY_UNKNOWN');
    const madeOnTheHub = await signedBody('root', reimbursement.id, 'approve', undefined, strangerKey('root'));
    await call(admin, 'POST', path, 404, madeOnTheHub, 'PAYOUT_APPROVER_KEY_UNKNOWN');
    const once = await call<PayoutRecord>(treasurer, 'POST', path, 200, tessSigned);
    assert.equal(once.state, 'requested');
    assert.deepEqual(
      once.approvals.map((approval) => approval.approver),
      ['tess'],
    );
    await call(treasurer, 'POST', path, 409, tessSigned, 'PAYOUT_ALREADY_APPROVED');
    const twice = await call<PayoutRecord>(
      admin,
      'POST',
      path,
      200,
      await signedBody('root', reimbursement.id, 'approve', 'receipt seen'),
    );
    assert.equal(twice.state, 'approved');
    assert.deepEqual(
      twice.approvals.map((approval) => [approval.approver, approval.reason]),
      [
        ['tess', null],
        ['root', 'receipt seen'],
      ],
    );
    const read = await call<{ payout: PayoutRecord; psbt: PsbtSummary | null }>(
      treasurer,
      'GET',
      `/payouts/${reimbursement.id}`,
      200,
    );
    assert.equal(read.payout.state, 'approved');
    assert.equal(read.psbt, null);
  });

  test('a rejection needs a reason, and ends the request', async () => {
    const asked = await call<PayoutRecord>(treasurer, 'POST', '/payouts', 200, {
      address: payee(5).address,
      sats: 30_000,
      reason: 'a yacht',
      memberId: ken,
    });
    assert.equal(asked.memberId, ken, 'staff may name the member it pays');
    assert.equal(asked.requester, 'tess');
    const signed = await signedBody('root', asked.id, 'reject', 'not a space expense');
    await call(admin, 'POST', `/payouts/${asked.id}/reject`, 400, { proof: signed.proof }, 'SERVER_BAD_REQUEST');
    await call(admin, 'POST', `/payouts/${asked.id}/reject`, 400, { ...signed, reason: '   ' }, 'SERVER_BAD_REQUEST');
    // The reason is signed too: the hub cannot put other words in the approver's mouth.
    await call(
      admin,
      'POST',
      `/payouts/${asked.id}/reject`,
      400,
      { ...signed, reason: 'fraud' },
      'PAYOUT_APPROVAL_SIGNATURE_INVALID',
    );
    const rejected = await call<PayoutRecord>(admin, 'POST', `/payouts/${asked.id}/reject`, 200, signed);
    assert.equal(rejected.state, 'rejected');
    assert.deepEqual([rejected.rejection?.approver, rejected.rejection?.reason], ['root', 'not a space expense']);
    await call(
      treasurer,
      'POST',
      `/payouts/${asked.id}/approve`,
      409,
      await signedBody('tess', asked.id),
      'PAYOUT_STATE_CONFLICT',
    );
  });

  test('the PSBT is built for the approved payout and downloads as a binary .psbt file', async () => {
    await call(member, 'POST', '/psbts', 403, {}, 'SERVER_FORBIDDEN');
    psbt = await call<PsbtSummary>(treasurer, 'POST', '/psbts', 200, {});
    assert.equal(psbt.state, 'signing');
    assert.deepEqual(psbt.payoutIds, [reimbursement.id]);
    assert.equal(psbt.createdBy, 'tess');
    assert.deepEqual(psbt.signatures, [0]);
    assert.ok(psbt.outputs.some((output) => output.payoutId === reimbursement.id && output.sats === REIMBURSED_SATS));
    const listed = await call<{ psbts: PsbtSummary[] }>(admin, 'GET', '/psbts', 200);
    assert.deepEqual(
      listed.psbts.map((one) => one.id),
      [psbt.id],
    );
    assert.equal((await call<PsbtSummary>(admin, 'GET', `/psbts/${psbt.id}`, 200)).base64, psbt.base64);

    const file = await hub.call(`/api/v1/psbts/${psbt.id}/file`, { cookie: treasurer });
    assert.equal(file.status, 200);
    assert.equal(file.headers.get('content-type'), 'application/octet-stream');
    assert.match(file.headers.get('content-disposition') ?? '', new RegExp(`^attachment; filename="payout-${psbt.id}\\.psbt"$`));
    const bytes = new Uint8Array(await file.arrayBuffer());
    assert.equal(Buffer.from(bytes.subarray(0, 5)).toString('hex'), PSBT_MAGIC);
    assert.deepEqual(bytes, base64.decode(psbt.base64));
    assert.equal((await hub.call(`/api/v1/psbts/${psbt.id}/file`, { cookie: member })).status, 403);
  });

  test('a signed PSBT for a changed transaction is refused whole (422), an unreadable one is 400', async () => {
    const tampered = Transaction.fromPSBT(signWithScure(base64.decode(psbt.base64), 0));
    const first = tampered.getOutput(0);
    tampered.updateOutput(0, { amount: first.amount! - 1_000n }, true);
    const path = `/psbts/${psbt.id}/signatures`;
    await call(treasurer, 'POST', path, 422, { psbt: base64.encode(tampered.toPSBT()) }, 'PAYOUT_PSBT_DIFFERENT_TX');
    await call(treasurer, 'POST', path, 400, { psbt: 'cHNidP8BAHECAAAAAQ==' }, 'PAYOUT_PSBT_MALFORMED');
    await call(treasurer, 'POST', path, 400, { psbt: 'not base64 at all!' }, 'SERVER_BAD_REQUEST');
    await call(treasurer, 'POST', path, 400, {}, 'SERVER_BAD_REQUEST');
    const current = await call<PsbtSummary>(treasurer, 'GET', `/psbts/${psbt.id}`, 200);
    assert.deepEqual(current.signatures, [0], 'nothing of the refused files was taken');
  });

  test('two co-signers’ signed files, from two libraries, make it signed; then it is sent', async () => {
    const path = `/psbts/${psbt.id}/signatures`;
    const unsigned = base64.decode(psbt.base64);
    await call(treasurer, 'POST', `/psbts/${psbt.id}/broadcast`, 422, undefined, 'PAYOUT_PSBT_NOT_ENOUGH_SIGNATURES');
    const one = await call<{ psbt: PsbtSummary; added: { fingerprint: string }[]; alreadyHad: number }>(
      treasurer,
      'POST',
      path,
      200,
      {
        psbt: base64.encode(signWithScure(unsigned, 0)),
      },
    );
    assert.equal(one.psbt.state, 'signing');
    assert.deepEqual(one.psbt.signatures, [1]);
    assert.deepEqual(
      one.added.map((signature) => signature.fingerprint),
      [COSIGNERS[0]!.fingerprint],
    );
    const two = await call<{ psbt: PsbtSummary; added: unknown[] }>(admin, 'POST', path, 200, {
      psbt: base64.encode(signWithBitcoinjs(unsigned, 2)),
    });
    assert.equal(two.psbt.state, 'signed');
    assert.deepEqual(two.psbt.signatures, [2]);
    assert.deepEqual(two.psbt.signedBy, [COSIGNERS[0]!.fingerprint, COSIGNERS[2]!.fingerprint].sort());

    const sent = await call<PsbtSummary>(treasurer, 'POST', `/psbts/${psbt.id}/broadcast`, 200);
    assert.equal(sent.state, 'broadcast');
    assert.ok((await chain.mempool()).includes(psbt.txid), 'the transaction reached the node');
    const read = await call<{ payout: PayoutRecord; psbt: PsbtSummary | null }>(
      admin,
      'GET',
      `/payouts/${reimbursement.id}`,
      200,
    );
    assert.equal(read.payout.state, 'broadcast');
    assert.equal(read.payout.txid, psbt.txid);
    assert.equal(read.psbt?.id, psbt.id);
    const wallet = await call<{ confirmedSats: number; unconfirmedSats: number }>(treasurer, 'GET', '/payout-wallet', 200);
    assert.equal(wallet.confirmedSats + wallet.unconfirmedSats, FUNDED_SATS - REIMBURSED_SATS - psbt.feeSats);
  });

  test('a discarded PSBT needs a reason; a sent one cannot be discarded', async () => {
    await call(treasurer, 'POST', `/psbts/${psbt.id}/discard`, 400, {}, 'SERVER_BAD_REQUEST');
    await call(treasurer, 'POST', `/psbts/${psbt.id}/discard`, 409, { reason: 'too late' }, 'PAYOUT_STATE_CONFLICT');
  });

  test('every payout route refuses a caller without a login (401)', async () => {
    const id = reimbursement.id;
    const routes: ['GET' | 'POST', string, unknown?][] = [
      ['GET', '/payouts'],
      ['GET', `/payouts/${id}`],
      ['POST', '/payouts', { address: payee(9).address, sats: 10_000, reason: 'anonymous' }],
      ['POST', `/payouts/${id}/approve`, { proof: { kind: 'ed25519', signedAt: 0 } }],
      ['POST', `/payouts/${id}/reject`, { reason: 'anonymous', proof: { kind: 'ed25519', signedAt: 0 } }],
      ['POST', `/payouts/${id}/approve/challenge`, {}],
      ['POST', `/payouts/${id}/reject/challenge`, {}],
      ['GET', '/approver-keys'],
      ['POST', '/approver-keys/passkey/challenge'],
      ['POST', '/approver-keys/passkey', { nonce: 'n'.repeat(20), registration: { id: 'x' } }],
      ['POST', '/approver-keys/endorse/challenge', { keyId: 'ed25519:0000000000000000' }],
      ['POST', '/approver-keys/endorse', { keyId: 'ed25519:0000000000000000', proof: { kind: 'ed25519', signedAt: 0 } }],
      ['POST', '/psbts', {}],
      ['GET', '/psbts'],
      ['GET', `/psbts/${psbt.id}`],
      ['GET', `/psbts/${psbt.id}/file`],
      ['POST', `/psbts/${psbt.id}/signatures`, { psbt: psbt.base64 }],
      ['POST', `/psbts/${psbt.id}/broadcast`],
      ['POST', `/psbts/${psbt.id}/discard`, { reason: 'anonymous' }],
      ['GET', '/payout-wallet'],
      ['POST', '/payout-wallet/address'],
      ['GET', `/members/${ada}/payouts`],
    ];
    const documented = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const payoutRoutes = documented.filter((route) =>
      /\/api\/v1\/(payouts|psbts|payout-wallet|approver-keys|members\/\{memberId\}\/payouts)/.test(route),
    );
    assert.equal(routes.length, payoutRoutes.length, `every documented payout route is tried: ${payoutRoutes.join(', ')}`);
    for (const [method, path, body] of routes) await call(undefined, method, path, 401, body, 'SERVER_NOT_LOGGED_IN');
  });
});
