// What co-signers can do outside the system, on the bus over the simulated chain, each case on a fresh hub: send a
// discarded PSBT that a miner then prefers to its rebuild; send it while a build waits for its turn; bump a payout's
// fee while also paying someone else. Nothing is paid twice by the system, nothing paid goes unbooked or back to
// approved, and one transaction's trouble holds up no other.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { base64 } from '@scure/base';
import { Transaction } from '@scure/btc-signer';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { SimulatedChain } from '../../src/chain-adaptor/index.js';
import { NETWORKS, parseAddress } from '../../src/core/bitcoin/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { RemoteError } from '../../src/core/errors.js';
import { ReportRequest } from '../../src/core/messages.js';
import {
  PayoutGet,
  PayoutRequest,
  PayoutWallet,
  PsbtBroadcast,
  PsbtBuild,
  PsbtDiscard,
  PsbtGet,
  PsbtImport,
  type PayoutRecord,
  type PsbtSummary,
} from '../../src/core/messages-payout.js';
import { finalizePsbt } from '../../src/payout-mgr/psbt.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { payoutConfig, startPayoutHub, type PayoutHub } from './hub.js';
import { payee, signWithScure } from './keys.js';
import { enrollApprovers, signedDecision } from './approvers.js';

const FUNDED = 3_000_000;

interface Space {
  chain: SimulatedChain;
  h: Harness;
  hub: PayoutHub;
  cli: BusClient;
}

async function withSpace(work: (space: Space) => Promise<void>): Promise<void> {
  const chain = new SimulatedChain('regtest');
  const h = await startHarness({ clock: new ManualClock(Date.UTC(2026, 10, 27, 12)), config: payoutConfig() });
  const hub = await startPayoutHub(h, chain);
  try {
    const cli = await h.client('cli');
    await enrollApprovers(cli, ['alice', 'bob', 'carol']);
    for (const value of [1_000_000, 2_000_000]) {
      const { receiveAddress } = (await cli.request(PayoutWallet, { newAddress: true })) as { receiveAddress: string };
      chain.send([{ script: parseAddress(receiveAddress, NETWORKS.regtest).script, value }]);
    }
    chain.mine(1);
    await hub.payouts.follow();
    await work({ chain, h, hub, cli });
  } finally {
    await hub.stop();
    await h.stop();
  }
}

async function approved({ cli }: Space, sats: number, n: number): Promise<PayoutRecord> {
  const asked = (await cli.request(PayoutRequest, {
    address: payee(n).address,
    sats,
    reason: `payout ${n}`,
    requester: 'ada',
  })) as PayoutRecord;
  await signedDecision(cli, asked.id, 'alice');
  return signedDecision(cli, asked.id, 'bob');
}

/** What two co-signers do in their own wallets: sign and finalize, without the desk. */
function signedRaw(psbt: PsbtSummary): string {
  return finalizePsbt(signWithScure(signWithScure(base64.decode(psbt.base64), 0), 1), 2).rawTxHex;
}

async function signAndSend({ cli }: Space, psbt: PsbtSummary): Promise<void> {
  for (const k of [0, 2]) {
    await cli.request(PsbtImport, { psbtId: psbt.id, psbt: base64.encode(signWithScure(base64.decode(psbt.base64), k)) });
  }
  await cli.request(PsbtBroadcast, { psbtId: psbt.id });
}

const payoutOf = async ({ cli }: Space, id: string) =>
  ((await cli.request(PayoutGet, { payoutId: id })) as { payout: PayoutRecord }).payout;
const psbtOf = async ({ cli }: Space, id: string) =>
  ((await cli.request(PsbtGet, { psbtId: id })) as { psbts: PsbtSummary[] }).psbts[0]!;
const booked = async ({ cli }: Space) =>
  (
    (await cli.request(ReportRequest, { report: 'ledger' })) as {
      json: { entries: { kind: string; sats: number | null; causedBy: string }[] };
    }
  ).json.entries.filter((entry) => entry.kind === 'payout');
const leftTheWallet = async ({ cli }: Space) =>
  FUNDED - ((await cli.request(PayoutWallet, {})) as { confirmedSats: number; unconfirmedSats: number }).confirmedSats;

test('every PSBT input carries its whole previous transaction (non-witness UTXO), and the txid is unchanged', () =>
  withSpace(async (space) => {
    const asked = await approved(space, 100_000, 1);
    const psbt = (await space.cli.request(PsbtBuild, { payoutIds: [asked.id] })) as PsbtSummary;
    const tx = Transaction.fromPSBT(base64.decode(psbt.base64));
    assert.equal(tx.id, psbt.txid);
    for (let index = 0; index < tx.inputsLength; index++) {
      const input = tx.getInput(index);
      assert.ok(input.nonWitnessUtxo, `input ${index} has its previous transaction`);
      assert.ok(input.witnessUtxo, `input ${index} keeps its witness UTXO`);
    }
  }));

test('a discarded PSBT a miner prefers to its rebuild pays the payout once; the rebuild is retired and cannot be re-approved', () =>
  withSpace(async (space) => {
    const { chain, cli, hub } = space;
    const asked = await approved(space, 100_000, 2);
    const first = (await cli.request(PsbtBuild, { payoutIds: [asked.id] })) as PsbtSummary;
    const firstRaw = signedRaw(first);
    await cli.request(PsbtDiscard, { psbtId: first.id, reason: 'rebuild' });
    const second = (await cli.request(PsbtBuild, { payoutIds: [asked.id] })) as PsbtSummary;
    await signAndSend(space, second);
    // A miner takes the co-signers' copy of the first instead of the second.
    chain.evict(second.txid);
    await chain.broadcast(firstRaw);
    chain.mine(2);
    await hub.payouts.follow();
    await hub.payouts.follow();
    const paid = await payoutOf(space, asked.id);
    assert.equal(paid.state, 'confirmed');
    assert.equal(paid.psbtId, first.id);
    assert.equal(paid.txid, first.txid);
    const retired = await psbtOf(space, second.id);
    assert.equal(retired.state, 'discarded');
    assert.equal(retired.lastError?.code, 'PAYOUT_SENT_AFTER_DISCARD');
    await assert.rejects(cli.request(PsbtDiscard, { psbtId: second.id, reason: 'stuck?' }), { code: 'PAYOUT_STATE_CONFLICT' });
    assert.equal((await payoutOf(space, asked.id)).state, 'confirmed', 'still paid, never approved again');
    assert.equal((await booked(space)).filter((entry) => entry.causedBy === `payout:${asked.id}`).length, 1);
    assert.equal(await leftTheWallet(space), 100_000 + first.feeSats);
  }));

test('a build waiting for its turn while a discarded PSBT is sent is refused: the sent one pays', () =>
  withSpace(async (space) => {
    const { chain, cli, hub } = space;
    const asked = await approved(space, 100_000, 3);
    const first = (await cli.request(PsbtBuild, { payoutIds: [asked.id] })) as PsbtSummary;
    const firstRaw = signedRaw(first);
    await cli.request(PsbtDiscard, { psbtId: first.id, reason: 'rebuild' });
    await chain.broadcast(firstRaw);
    const desk = hub.payouts.desk();
    let release!: () => void;
    const gate = desk.inTurn(() => new Promise<void>((resolve) => (release = resolve)));
    const following = desk.follow();
    const building = desk.build({ payoutIds: [asked.id] }, 'cli');
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    await gate;
    await assert.rejects(building, (error: unknown) => {
      assert.ok(error instanceof Error && 'code' in error && error.code === 'PAYOUT_STATE_CONFLICT', String(error));
      return true;
    });
    await following;
    chain.mine(2);
    await desk.follow();
    assert.equal((await payoutOf(space, asked.id)).state, 'confirmed');
    assert.equal(await leftTheWallet(space), 100_000 + first.feeSats);
    assert.equal((await booked(space)).filter((entry) => entry.causedBy === `payout:${asked.id}`).length, 1);
  }));

test('a fee bump that also pays someone else: the payout is paid by it and booked, the extra is flagged, not hidden', () =>
  withSpace(async (space) => {
    const { chain, cli, hub } = space;
    const asked = await approved(space, 100_000, 4);
    const psbt = (await cli.request(PsbtBuild, { payoutIds: [asked.id] })) as PsbtSummary;
    await signAndSend(space, psbt);
    const tx = Transaction.fromPSBT(base64.decode(psbt.base64));
    const outputs = Array.from({ length: tx.outputsLength }, (_, index) => ({
      script: tx.getOutput(index).script!,
      value: Number(tx.getOutput(index).amount!) - (psbt.outputs[index]!.change ? 505_000 : 0),
    }));
    outputs.push({ script: payee(77).script, value: 500_000 });
    const bump = chain.replace(psbt.txid, outputs);
    await hub.payouts.follow();
    await hub.payouts.follow();
    chain.mine(2);
    await hub.payouts.follow();
    const followed = await psbtOf(space, psbt.id);
    assert.equal(followed.txid, bump);
    assert.equal(followed.state, 'confirmed');
    assert.equal(followed.lastError?.code, 'PAYOUT_TX_REPLACED');
    assert.match(followed.lastError.message, /500000 sats outside the wallet/);
    assert.equal(followed.feeSats, psbt.feeSats + 5_000);
    assert.equal((await payoutOf(space, asked.id)).state, 'confirmed');
  }));

test('a bus refusal reaches the caller as a coded error', () =>
  withSpace(async (space) => {
    await assert.rejects(space.cli.request(PsbtDiscard, { psbtId: '0'.repeat(26), reason: 'x' }), (error: unknown) => {
      assert.ok(error instanceof RemoteError);
      assert.equal(error.code, 'PAYOUT_NOT_FOUND');
      return true;
    });
  }));

test('the coins of a sent payout stay held while the chain has lost its transaction: a new PSBT does not take them', () =>
  withSpace(async (space) => {
    const { chain, cli, hub } = space;
    const first = await approved(space, 100_000, 5);
    const sent = (await cli.request(PsbtBuild, { payoutIds: [first.id] })) as PsbtSummary;
    await signAndSend(space, sent);
    // The node forgets it; after two passes the wallet does too (and the desk sends it again).
    chain.evict(sent.txid);
    await hub.payouts.follow();
    await hub.payouts.follow();
    const next = await approved(space, 50_000, 6);
    const built = (await cli.request(PsbtBuild, { payoutIds: [next.id] })) as PsbtSummary;
    const held = new Set(sent.inputs.map((input) => `${input.txid}:${input.vout}`));
    assert.deepEqual(
      built.inputs.filter((input) => held.has(`${input.txid}:${input.vout}`)),
      [],
      'no coin of the sent transaction',
    );
  }));
