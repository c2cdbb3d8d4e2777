// PayoutMgr on the bus with the real BusinessData, Reporter and PriceNotifier (fixed demo rate) over the simulated
// chain, by the clock: requests, approvals once per approver, rejection, expiry, fiat at a recorded rate, PSBTs built
// from unreserved coins, signatures taken in, sent, confirmed, in the ledger once, and through a reorg.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { base64 } from '@scure/base';
import { Transaction } from '@scure/btc-signer';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { SimulatedChain } from '../../src/chain-adaptor/index.js';
import { NETWORKS, parseAddress } from '../../src/core/bitcoin/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { RemoteError } from '../../src/core/errors.js';
import { ReportRequest } from '../../src/core/messages.js';
import { decisionProof, endorseProof, enrollPayload, revokeProof } from '../../src/cli/approver-key.js';
import {
  ApproverKeyEndorse,
  ApproverKeyEnroll,
  ApproverKeyList,
  ApproverKeyRevoke,
  PayoutChanged,
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
  type ApproverKey,
  type PayoutRecord,
  type PsbtSummary,
} from '../../src/core/messages-payout.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';
import { approverKeyOf, enrollApprovers, signedDecision, strangerKey } from './approvers.js';
import { payoutConfig, startPayoutHub, type PayoutHub } from './hub.js';
import { COSIGNERS, payee, signWithBitcoinjs, signWithScure } from './keys.js';

const HOUR = 3_600_000;
const WEEK_S = 7 * 24 * 3_600;
const clock = new ManualClock(Date.UTC(2026, 10, 27, 12));
const chain = new SimulatedChain('regtest');
let h: Harness;
let hub: PayoutHub;
let cli: BusClient;
const heard: string[] = [];

const request = (payload: Parameters<typeof cli.request<typeof PayoutRequest>>[1]) =>
  cli.request(PayoutRequest, payload) as Promise<PayoutRecord>;
const decide = (payoutId: string, approver: string, decision: 'approve' | 'reject' = 'approve', reason?: string) =>
  signedDecision(cli, payoutId, approver, decision, reason);
const build = (payoutIds?: string[]) => cli.request(PsbtBuild, payoutIds ? { payoutIds } : {}) as Promise<PsbtSummary>;
const signed = (psbt: PsbtSummary, k: number, signer = signWithScure) => base64.encode(signer(base64.decode(psbt.base64), k));
const importSigned = (psbt: PsbtSummary, text: string) =>
  cli.request(PsbtImport, { psbtId: psbt.id, psbt: text }) as Promise<{
    psbt: PsbtSummary;
    added: unknown[];
    alreadyHad: number;
  }>;
const payout = async (id: string) => ((await cli.request(PayoutGet, { payoutId: id })) as { payout: PayoutRecord }).payout;
const ledger = async () =>
  (
    (await cli.request(ReportRequest, { report: 'ledger' })) as {
      json: { entries: { kind: string; cents: number; sats: number | null; causedBy: string }[] };
    }
  ).json.entries.filter((entry) => entry.kind === 'payout');

async function refused(work: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(work, (error: unknown) => {
    assert.ok(error instanceof RemoteError, String(error));
    assert.equal(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}

async function approved(sats: number, reason = 'soldering station'): Promise<PayoutRecord> {
  const asked = await request({ address: payee(sats % 97).address, sats, reason, requester: 'ada' });
  await decide(asked.id, 'alice');
  return decide(asked.id, 'bob');
}

before(async () => {
  // Days pass by the clock here: tokens and the key directory must outlive them.
  h = await startHarness({
    clock,
    config: { ...payoutConfig({ expiryHours: 24 }), vault: { tokenTtlSeconds: WEEK_S, directoryTtlSeconds: WEEK_S } },
  });
  hub = await startPayoutHub(h, chain);
  cli = await h.client('cli');
  await enrollApprovers(cli, ['alice', 'bob', 'carol']);
  // Payout changes name members and amounts, sealed to MemberMail, which mails the payee.
  const watcher = await h.client('member-mail', { extra: { sub: ['dctrl/v1/payout-mgr/#'] } });
  await watcher.listen(PayoutChanged, (change) => void heard.push(`${change.state}:${change.sats}`));
  // Two coins for the wallet: 0.01 and 0.02 BTC, mined.
  const wallet = (await cli.request(PayoutWallet, { newAddress: true })) as { receiveAddress: string };
  const second = (await cli.request(PayoutWallet, { newAddress: true })) as { receiveAddress: string };
  assert.notEqual(wallet.receiveAddress, second.receiveAddress);
  chain.send([{ script: parseAddress(wallet.receiveAddress, NETWORKS.regtest).script, value: 1_000_000 }]);
  chain.send([{ script: parseAddress(second.receiveAddress, NETWORKS.regtest).script, value: 2_000_000 }]);
  chain.mine(1);
  await hub.payouts.follow();
});
after(async () => {
  await hub?.stop();
  await h?.stop();
});

test('the wallet sees its coins: balance, co-signers with their key origins, the descriptor with a change chain', async () => {
  const wallet = (await cli.request(PayoutWallet, {})) as {
    confirmedSats: number;
    coins: number;
    threshold: number;
    cosigners: { fingerprint: string; path: string }[];
    descriptor: string;
  };
  assert.equal(wallet.confirmedSats, 3_000_000);
  assert.equal(wallet.coins, 2);
  assert.equal(wallet.threshold, 2);
  assert.deepEqual(
    wallet.cosigners.map((cosigner) => `${cosigner.fingerprint} ${cosigner.path}`).sort(),
    COSIGNERS.map((cosigner) => `${cosigner.fingerprint} m/48'/1'/0'/2'`).sort(),
  );
  assert.match(wallet.descriptor, /^wsh\(sortedmulti\(2,.*\/<0;1>\/\*/);
});

test('a request in fiat is converted at a fresh rate that is recorded; one in sats keeps its sats', async () => {
  const fiat = await request({ address: payee(1).address, cents: 13_500, reason: 'filament', requester: 'ada' });
  // The fixed demo rate is 13,500,000 cents per bitcoin: 135.00 is 0.001 BTC.
  assert.equal(fiat.sats, 100_000);
  assert.equal(fiat.cents, 13_500);
  assert.equal(fiat.rate?.centsPerBtc, 13_500_000);
  assert.equal(fiat.state, 'requested');
  assert.equal(fiat.expiresAt, clock.now() + 24 * HOUR);
  const sats = await request({ address: payee(2).address, sats: 54_321, reason: 'bounty: fix the door', requester: 'bo' });
  assert.equal(sats.sats, 54_321);
  assert.equal(sats.cents, null);
});

test('the same idempotency key gives back the first request; nothing is requested twice', async () => {
  const first = await request({
    address: payee(3).address,
    sats: 20_000,
    reason: 'tape',
    requester: 'ada',
    idempotencyKey: 'k-1',
  });
  const again = await request({
    address: payee(3).address,
    sats: 20_000,
    reason: 'tape',
    requester: 'ada',
    idempotencyKey: 'k-1',
  });
  assert.equal(again.id, first.id);
});

test('bad requests are refused with a code naming what was wrong, and nothing is recorded', async () => {
  const before = ((await cli.request(PayoutList, { limit: 200 })) as { payouts: unknown[] }).payouts.length;
  await refused(
    request({ address: 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq', sats: 10_000, reason: 'x', requester: 'ada' }),
    'PAYOUT_ADDRESS_INVALID',
    /regtest/,
  );
  await refused(
    request({ address: 'bcrt1qnotanaddressatall000000000', sats: 10_000, reason: 'x', requester: 'ada' }),
    'PAYOUT_ADDRESS_INVALID',
  );
  await assert.rejects(
    cli.request(PayoutRequest, { address: payee(4).address, sats: 10_000, cents: 100, reason: 'x', requester: 'ada' }),
    /exactly one/,
  );
  const after = ((await cli.request(PayoutList, { limit: 200 })) as { payouts: unknown[] }).payouts.length;
  assert.equal(after, before);
});

test('M of N approvers, each once: the same approver twice is refused; an unknown one too; the quorum approves', async () => {
  const asked = await request({ address: payee(5).address, sats: 30_000, reason: 'laser tube', requester: 'ada' });
  const once = await decide(asked.id, 'alice');
  assert.equal(once.state, 'requested');
  await refused(decide(asked.id, 'alice'), 'PAYOUT_ALREADY_APPROVED', /alice/);
  await refused(decide(asked.id, 'mallory'), 'PAYOUT_NOT_ALLOWED', /approvers/);
  const twice = await decide(asked.id, 'bob');
  assert.equal(twice.state, 'approved');
  assert.deepEqual(
    twice.approvals.map((approval) => approval.approver),
    ['alice', 'bob'],
  );
  await refused(decide(asked.id, 'carol'), 'PAYOUT_STATE_CONFLICT', /approved/);
});

test('a decision counts only when signed by the approver’s enrolled key over this payout’s exact terms', async () => {
  const asked = await request({ address: payee(15).address, sats: 31_000, reason: 'band saw blade', requester: 'ada' });
  const other = await request({ address: payee(16).address, sats: 31_000, reason: 'band saw blade', requester: 'ada' });
  const send = (payoutId: string, approver: string, proof: ReturnType<typeof decisionProof>) =>
    cli.request(PayoutDecide, { payoutId, approver, decision: 'approve', proof });
  // Whoever runs the hub's shell can make a key and claim a name: the key is not alice's.
  await refused(
    send(asked.id, 'alice', decisionProof(strangerKey('alice'), asked, 'approve', null, clock.now())),
    'PAYOUT_APPROVER_KEY_UNKNOWN',
    /alice/,
  );
  // Bob's real key does not speak for alice.
  await refused(
    send(asked.id, 'alice', decisionProof({ ...approverKeyOf('bob'), approver: 'alice' }, asked, 'approve', null, clock.now())),
    'PAYOUT_APPROVER_KEY_UNKNOWN',
  );
  // Alice's signature for another payout, or for this one with another amount or address, is refused.
  const forOther = decisionProof(approverKeyOf('alice'), other, 'approve', null, clock.now());
  await refused(send(asked.id, 'alice', forOther), 'PAYOUT_APPROVAL_SIGNATURE_INVALID', /another payout/);
  const changedAmount = decisionProof(approverKeyOf('alice'), { ...asked, sats: asked.sats + 1 }, 'approve', null, clock.now());
  await refused(send(asked.id, 'alice', changedAmount), 'PAYOUT_APPROVAL_SIGNATURE_INVALID');
  const changedAddress = decisionProof(approverKeyOf('alice'), { ...asked, address: payee(17).address }, 'approve', null, 1);
  await refused(send(asked.id, 'alice', changedAddress), 'PAYOUT_APPROVAL_SIGNATURE_INVALID');
  // A rejection signed is not an approval.
  const rejection = decisionProof(approverKeyOf('alice'), asked, 'reject', 'no', clock.now());
  await refused(send(asked.id, 'alice', rejection), 'PAYOUT_APPROVAL_SIGNATURE_INVALID');
  assert.equal((await payout(asked.id)).approvals.length, 0, 'nothing refused was counted');

  // The right one counts; the same signed message again counts once.
  const good = decisionProof(approverKeyOf('alice'), asked, 'approve', null, clock.now());
  const first = (await send(asked.id, 'alice', good)) as PayoutRecord;
  assert.deepEqual(
    first.approvals.map((approval) => [approval.approver, approval.keyId]),
    [['alice', approverKeyOf('alice').keyId]],
  );
  await refused(send(asked.id, 'alice', good), 'PAYOUT_ALREADY_APPROVED');
  assert.equal((await payout(asked.id)).approvals.length, 1);
  assert.equal((await payout(asked.id)).state, 'requested');
});

test('a key the hub enrolls for an approver after bootstrap stays pending until the quorum endorses it; keys can be revoked', async () => {
  const asked = await request({ address: payee(18).address, sats: 32_000, reason: 'drill press', requester: 'ada' });
  const forged = strangerKey('carol');
  const pending = (await cli.request(ApproverKeyEnroll, enrollPayload(forged))) as ApproverKey;
  assert.equal(pending.state, 'pending');
  assert.equal(pending.bootstrap, false);
  await refused(
    cli.request(PayoutDecide, {
      payoutId: asked.id,
      approver: 'carol',
      decision: 'approve',
      proof: decisionProof(forged, asked, 'approve', null, clock.now()),
    }),
    'PAYOUT_APPROVER_KEY_STATE_CONFLICT',
  );
  // Endorsed by a key that is not enrolled either: still pending.
  await refused(
    cli.request(ApproverKeyEndorse, {
      keyId: pending.keyId,
      approver: 'alice',
      proof: endorseProof(strangerKey('alice'), pending, clock.now()),
    }),
    'PAYOUT_APPROVER_KEY_UNKNOWN',
  );
  // One real endorsement is not the quorum of two.
  const once = (await cli.request(ApproverKeyEndorse, {
    keyId: pending.keyId,
    approver: 'alice',
    proof: endorseProof(approverKeyOf('alice'), pending, clock.now()),
  })) as ApproverKey;
  assert.equal(once.state, 'pending');
  assert.deepEqual(
    once.endorsements.map((endorsement) => endorsement.approver),
    ['alice'],
  );
  // A key that does not sign its own enrollment is refused.
  const other = strangerKey('bob');
  await refused(cli.request(ApproverKeyEnroll, { ...enrollPayload(other), approver: 'carol' }), 'PAYOUT_APPROVER_KEY_INVALID');
  const { keys, bootstrap } = (await cli.request(ApproverKeyList, { approver: 'carol' })) as {
    keys: ApproverKey[];
    bootstrap: boolean;
  };
  assert.equal(bootstrap, false);
  assert.deepEqual(keys.map((key) => key.state).sort(), ['active', 'pending']);
  // Another approver's key is retired by the quorum; each of them signs once.
  const revoke = (approver: string, key: ApproverKey) =>
    cli.request(ApproverKeyRevoke, {
      keyId: key.keyId,
      approver,
      proof: revokeProof(approverKeyOf(approver), key, clock.now()),
    }) as Promise<ApproverKey>;
  assert.equal((await revoke('alice', pending)).state, 'pending');
  const retired = await revoke('bob', pending);
  assert.equal(retired.state, 'revoked');
  assert.deepEqual(
    retired.revocations.map((vote) => vote.approver),
    ['alice', 'bob'],
  );
  const late = (await cli.request(ApproverKeyEndorse, {
    keyId: pending.keyId,
    approver: 'bob',
    proof: endorseProof(approverKeyOf('bob'), pending, clock.now()),
  })) as ApproverKey;
  assert.equal(late.state, 'revoked', 'a revoked key is never endorsed back');
  // Its owner retires their own key at once.
  const spare = strangerKey('bob');
  const bobsSpare = (await cli.request(ApproverKeyEnroll, enrollPayload(spare))) as ApproverKey;
  assert.equal((await revoke('bob', bobsSpare)).state, 'revoked');
});

test('one rejection ends a request, with its reason; it can no longer be approved or paid', async () => {
  const asked = await request({ address: payee(6).address, sats: 30_000, reason: 'a yacht', requester: 'bo' });
  await refused(decide(asked.id, 'carol', 'reject'), 'PAYOUT_REQUEST_INVALID', /reason/);
  const rejected = await decide(asked.id, 'carol', 'reject', 'not a space expense');
  assert.equal(rejected.state, 'rejected');
  assert.equal(rejected.rejection?.reason, 'not a space expense');
  await refused(decide(asked.id, 'alice'), 'PAYOUT_STATE_CONFLICT', /rejected/);
  await refused(build([asked.id]), 'PAYOUT_STATE_CONFLICT', /rejected/);
});

test('a request not approved and paid in time expires', async () => {
  const asked = await request({ address: payee(7).address, sats: 30_000, reason: 'old receipt', requester: 'ada' });
  await decide(asked.id, 'alice');
  clock.advance(24 * HOUR + 1);
  await refused(decide(asked.id, 'bob'), 'PAYOUT_EXPIRED');
  assert.equal((await payout(asked.id)).state, 'expired');
  // Every open request of the tests above expired with it: start the rest afresh.
  const open = ((await cli.request(PayoutList, { state: 'approved' })) as { payouts: PayoutRecord[] }).payouts;
  assert.equal(open.length, 0);
});

test('dust is refused when asked for; insufficient funds at building, naming the amounts; nothing is reserved', async () => {
  const big = await approved(5_000_000, 'a new lathe');
  await refused(build([big.id]), 'PAYOUT_INSUFFICIENT_FUNDS', /3000000|3,000,000/);
  await refused(
    request({ address: payee(9).address, sats: 200, reason: 'a sticker', requester: 'ada' }),
    'PAYOUT_DUST_OUTPUT',
    /294/,
  );
  assert.equal(((await cli.request(PayoutWallet, {})) as { reservedSats: number }).reservedSats, 0);
  // Left approved, they would join the next batch: let them expire.
  clock.advance(25 * HOUR);
  await hub.payouts.follow();
  assert.equal((await payout(big.id)).state, 'expired');
});

let paid: PayoutRecord[];
let psbt: PsbtSummary;

test('approved payouts are batched in one PSBT with key origins; its coins are reserved, its payouts are signing', async () => {
  paid = [await approved(400_000, 'reimburse: drill bits'), await approved(150_000, 'bounty: wiki cleanup')];
  psbt = await build();
  assert.equal(psbt.state, 'signing');
  assert.deepEqual([...psbt.payoutIds].sort(), paid.map((p) => p.id).sort());
  assert.equal(psbt.threshold, 2);
  assert.deepEqual(
    psbt.signatures,
    psbt.inputs.map(() => 0),
  );
  const paying = psbt.outputs.filter((output) => output.payoutId !== null);
  assert.deepEqual(paying.map((output) => output.sats).sort(), [150_000, 400_000]);
  const change = psbt.outputs.filter((output) => output.change);
  assert.equal(change.length, 1);
  const inputSats = psbt.inputs.reduce((sum, input) => sum + input.sats, 0);
  const outputSats = psbt.outputs.reduce((sum, output) => sum + output.sats, 0);
  assert.equal(inputSats - outputSats, psbt.feeSats);
  assert.ok(psbt.feeSats >= psbt.vsize * 2, `fee ${psbt.feeSats} at 2 sat/vB for ${psbt.vsize} vB`);
  // Hardware wallets verify the change from its key origins: every key of every input and of the change.
  const tx = Transaction.fromPSBT(base64.decode(psbt.base64));
  for (let index = 0; index < tx.inputsLength; index++) assert.equal(tx.getInput(index).bip32Derivation?.length, 3);
  const changeIndex = psbt.outputs.findIndex((output) => output.change);
  assert.equal(tx.getOutput(changeIndex).bip32Derivation?.length, 3);
  for (const id of psbt.payoutIds) assert.equal((await payout(id)).state, 'signing');
  const wallet = (await cli.request(PayoutWallet, {})) as { reservedSats: number };
  assert.equal(wallet.reservedSats, inputSats);
  // Nothing else approved: a second build finds nothing to pay.
  await refused(build(), 'PAYOUT_STATE_CONFLICT', /no payout is approved/);
});

test('a signed PSBT for another transaction, with a changed output or fee, or unreadable, is refused whole', async () => {
  const tampered = Transaction.fromPSBT(base64.decode(signed(psbt, 0)));
  const first = tampered.getOutput(0);
  tampered.updateOutput(0, { amount: first.amount! - 1_000n }, true);
  await refused(importSigned(psbt, base64.encode(tampered.toPSBT())), 'PAYOUT_PSBT_DIFFERENT_TX');
  await refused(importSigned(psbt, 'cHNidP8BAHECAAAAAQ=='), 'PAYOUT_PSBT_MALFORMED');
  await refused(importSigned(psbt, 'not a psbt at all'), 'PAYOUT_PSBT_MALFORMED');
  const current = ((await cli.request(PsbtGet, { psbtId: psbt.id })) as { psbts: PsbtSummary[] }).psbts[0]!;
  assert.deepEqual(
    current.signatures,
    psbt.inputs.map(() => 0),
  );
});

test('broadcast before the quorum signed is refused; signatures from two wallets combine and finalize', async () => {
  const one = await importSigned(psbt, signed(psbt, 0));
  assert.equal(one.psbt.state, 'signing');
  assert.deepEqual(one.psbt.signedBy, [COSIGNERS[0]!.fingerprint]);
  await refused(cli.request(PsbtBroadcast, { psbtId: psbt.id }), 'PAYOUT_PSBT_NOT_ENOUGH_SIGNATURES');
  const again = await importSigned(psbt, signed(psbt, 0));
  assert.equal(again.added.length, 0);
  // The second co-signer signs the PSBT as first built, in another library: combined, it reaches the quorum.
  const two = await importSigned(psbt, signed(psbt, 2, signWithBitcoinjs));
  assert.equal(two.psbt.state, 'signed');
  assert.deepEqual(two.psbt.signedBy, [COSIGNERS[0]!.fingerprint, COSIGNERS[2]!.fingerprint].sort());
  for (const p of paid) assert.equal((await payout(p.id)).state, 'signed');
  assert.equal((await ledger()).length, 0, 'nothing is paid before it is sent');
});

test('sent, mined, confirmed after the configured confirmations, and in the ledger once; a reorg takes it back', async () => {
  const sent = (await cli.request(PsbtBroadcast, { psbtId: psbt.id })) as PsbtSummary;
  assert.equal(sent.state, 'broadcast');
  assert.ok((await chain.mempool()).includes(psbt.txid));
  chain.mine(1);
  await hub.payouts.follow();
  assert.equal((await payout(paid[0]!.id)).state, 'broadcast');
  assert.equal((await payout(paid[0]!.id)).confirmations, 1);
  chain.mine(1);
  await hub.payouts.follow();
  const done = await payout(paid[0]!.id);
  assert.equal(done.state, 'confirmed');
  assert.ok(done.ledgerEntryId !== null);
  const entries = await ledger();
  assert.deepEqual(
    entries.map((entry) => entry.sats).sort((a, b) => a! - b!),
    [sent.feeSats, 150_000, 400_000],
  );
  // A reorg two deep takes the block out: the payout is followed again, then confirmed again, booked once.
  chain.reorg(2, [], { mineAgain: false });
  await hub.payouts.follow();
  assert.equal((await payout(paid[0]!.id)).state, 'broadcast');
  chain.mine(2);
  await hub.payouts.follow();
  assert.equal((await payout(paid[0]!.id)).state, 'confirmed');
  assert.equal((await ledger()).length, 3);
  await eventually(() => heard.includes('confirmed:400000'), 'the confirmed payout announced');
  // The change came back to the wallet.
  const wallet = (await cli.request(PayoutWallet, {})) as { confirmedSats: number; reservedSats: number };
  assert.equal(wallet.confirmedSats, 3_000_000 - 550_000 - sent.feeSats);
  assert.equal(wallet.reservedSats, 0);
});

test('a PSBT not yet sent can be discarded: its coins are free and its payouts approved again', async () => {
  const again = await approved(70_000, 'tool library');
  const first = await build([again.id]);
  const discarded = (await cli.request(PsbtDiscard, { psbtId: first.id, reason: 'fee too high' })) as PsbtSummary;
  assert.equal(discarded.state, 'discarded');
  assert.equal((await payout(again.id)).state, 'approved');
  assert.equal(((await cli.request(PayoutWallet, {})) as { reservedSats: number }).reservedSats, 0);
  const second = await build([again.id]);
  assert.equal(second.state, 'signing');
  await refused(importSigned(first, signed(first, 1)), 'PAYOUT_STATE_CONFLICT', /discarded/);
});

test('a PSBT rebuilt after a discard spends a coin of the discarded one, so both can never confirm', async () => {
  const held = ((await cli.request(PsbtGet, {})) as { psbts: PsbtSummary[] }).psbts.find((p) => p.state === 'signing')!;
  // Fully signed, then discarded: the co-signers still hold a transaction that would pay the payout.
  await importSigned(held, signed(held, 0));
  await importSigned(held, signed(held, 1));
  await cli.request(PsbtDiscard, { psbtId: held.id, reason: 'to be rebuilt' });
  // A big new coin, which coin selection alone would prefer.
  const { receiveAddress } = (await cli.request(PayoutWallet, { newAddress: true })) as { receiveAddress: string };
  chain.send([{ script: parseAddress(receiveAddress, NETWORKS.regtest).script, value: 9_000_000 }]);
  chain.mine(1);
  await hub.payouts.follow();
  const rebuilt = await build(held.payoutIds);
  const before = new Set(held.inputs.map((input) => `${input.txid}:${input.vout}`));
  assert.ok(
    rebuilt.inputs.some((input) => before.has(`${input.txid}:${input.vout}`)),
    'the rebuilt PSBT spends a coin of the discarded one',
  );
});

test('a sent payout cannot be discarded; a fee bump by a co-signer is followed as the payout', async () => {
  const open = ((await cli.request(PsbtGet, {})) as { psbts: PsbtSummary[] }).psbts.find((p) => p.state === 'signing')!;
  await importSigned(open, signed(open, 0));
  await importSigned(open, signed(open, 2));
  await cli.request(PsbtBroadcast, { psbtId: open.id });
  await refused(cli.request(PsbtDiscard, { psbtId: open.id, reason: 'too late' }), 'PAYOUT_STATE_CONFLICT', /broadcast/);
  // The same payouts, less change: a higher fee, as a wallet's "bump fee" makes it.
  const tx = Transaction.fromPSBT(base64.decode(open.base64));
  const outputs = Array.from({ length: tx.outputsLength }, (_, index) => {
    const output = tx.getOutput(index);
    const change = open.outputs[index]!.change;
    return { script: output.script!, value: Number(output.amount!) - (change ? 5_000 : 0) };
  });
  const bump = chain.replace(open.txid, outputs);
  await hub.payouts.follow();
  await hub.payouts.follow();
  const followed = ((await cli.request(PsbtGet, { psbtId: open.id })) as { psbts: PsbtSummary[] }).psbts[0]!;
  assert.equal(followed.txid, bump);
  assert.equal(followed.lastError?.code, 'PAYOUT_TX_REPLACED');
  assert.equal(followed.feeSats, open.feeSats + 5_000);
  chain.mine(2);
  await hub.payouts.follow();
  const paidOut = await payout(open.payoutIds[0]!);
  assert.equal(paidOut.state, 'confirmed');
  assert.equal(paidOut.txid, bump);
  assert.equal((await ledger()).filter((entry) => entry.causedBy === `payout:${paidOut.id}`).length, 1);
});

test('a replacement that does not pay the payout is flagged; discarding it approves the payout again', async () => {
  const asked = await approved(33_000, 'a new soldering iron');
  const psbt = await build([asked.id]);
  await importSigned(psbt, signed(psbt, 1));
  await importSigned(psbt, signed(psbt, 2));
  await cli.request(PsbtBroadcast, { psbtId: psbt.id });
  chain.replace(psbt.txid, [{ script: payee(90).script, value: 10_000 }]);
  await hub.payouts.follow();
  await hub.payouts.follow();
  const flagged = await payout(asked.id);
  assert.equal(flagged.state, 'broadcast');
  assert.equal(flagged.lastError?.code, 'PAYOUT_TX_REPLACED');
  await cli.request(PsbtDiscard, { psbtId: psbt.id, reason: 'replaced by a co-signer' });
  assert.equal((await payout(asked.id)).state, 'approved');
});

test('an approver cannot approve their own request; an idempotency key used for another payout is refused; a member must exist', async () => {
  const own = await request({ address: payee(11).address, sats: 12_000, reason: 'my own bounty', requester: 'carol' });
  await refused(decide(own.id, 'carol'), 'PAYOUT_NOT_ALLOWED', /asked for/);
  await request({ address: payee(12).address, sats: 12_000, reason: 'cable', requester: 'ada', idempotencyKey: 'k-2' });
  await refused(
    request({ address: payee(12).address, sats: 99_000, reason: 'cable', requester: 'ada', idempotencyKey: 'k-2' }),
    'PAYOUT_REQUEST_INVALID',
    /k-2/,
  );
  await refused(
    request({ address: payee(13).address, sats: 12_000, reason: 'x', requester: 'ada', memberId: 'NOSUCHMEMBER' }),
    'PAYOUT_REQUEST_INVALID',
    /NOSUCHMEMBER/,
  );
});
