// A payout end to end on a real regtest full node (bcoin, through the Bitcoin Core RPC adaptor), through PayoutMgr
// on the bus: the multisig funded, a payout requested and approved, the PSBT built, signed by two co-signers in two
// libraries, combined, finalized, sent, mined and confirmed, booked once, followed through a reorg; and a
// transaction the node refuses (its coins spent by a discarded PSBT the co-signers sent anyway), which leaves the
// payout unpaid until the chain shows the discarded one paid it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { base64 } from '@scure/base';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { BitcoinCoreAdaptor } from '../../src/chain-adaptor/index.js';
import { addressFromScript, NETWORKS, parseAddress } from '../../src/core/bitcoin/index.js';
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
import { startBcoin, type Bcoin } from '../helpers/bcoin.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { payoutConfig, startPayoutHub, type PayoutHub } from './hub.js';
import { signWithBitcoinjs, signWithScure } from './keys.js';
import { enrollApprovers, signedDecision } from './approvers.js';

const PAYEE_SCRIPT = Uint8Array.from([0x00, 0x14, ...new Uint8Array(20).fill(0x5a)]);
const PAYEE = addressFromScript(PAYEE_SCRIPT, NETWORKS.regtest);
let node: Bcoin;
let h: Harness;
let hub: PayoutHub;
let cli: BusClient;

const payout = async (id: string) => ((await cli.request(PayoutGet, { payoutId: id })) as { payout: PayoutRecord }).payout;
const signedBy = (psbt: PsbtSummary, k: number, signer: (psbt: Uint8Array, k: number) => Uint8Array) =>
  cli.request(PsbtImport, { psbtId: psbt.id, psbt: base64.encode(signer(base64.decode(psbt.base64), k)) }) as Promise<{
    psbt: PsbtSummary;
  }>;
const payoutEntries = async () =>
  (
    (await cli.request(ReportRequest, { report: 'ledger' })) as { json: { entries: { kind: string; causedBy: string }[] } }
  ).json.entries.filter((entry) => entry.kind === 'payout');

async function approvedPayout(sats: number, reason: string): Promise<PayoutRecord> {
  const asked = (await cli.request(PayoutRequest, { address: PAYEE, sats, reason, requester: 'ada' })) as PayoutRecord;
  await signedDecision(cli, asked.id, 'alice');
  return signedDecision(cli, asked.id, 'carol');
}

before(async () => {
  node = await startBcoin();
  // Past segwit's activation on regtest, so the node relays a P2WSH spend.
  await node.mine(450);
  const adaptor = new BitcoinCoreAdaptor({
    url: node.url,
    network: 'regtest',
    user: 'x',
    password: node.password,
    timeoutMs: 10_000,
  });
  await adaptor.connect();
  h = await startHarness({ config: payoutConfig({ birthHeight: (await adaptor.tip()).height }) });
  hub = await startPayoutHub(h, adaptor);
  cli = await h.client('cli');
  await enrollApprovers(cli, ['alice', 'bob', 'carol']);
  // The multisig funded from the node's miner: two coins at two receive addresses.
  for (const sats of [3_000_000, 1_000_000]) {
    const { receiveAddress } = (await cli.request(PayoutWallet, { newAddress: true })) as { receiveAddress: string };
    await node.pay([{ script: parseAddress(receiveAddress, NETWORKS.regtest).script, value: sats }]);
  }
  await node.mine(1);
  await hub.payouts.follow();
});
after(async () => {
  await hub?.stop();
  await h?.stop();
  await node?.stop();
});

test('funded, requested, approved, built, signed by two co-signers, sent, mined, confirmed and booked once', async () => {
  const wallet = (await cli.request(PayoutWallet, {})) as { confirmedSats: number; coins: number };
  assert.equal(wallet.confirmedSats, 4_000_000);
  const asked = await approvedPayout(1_250_000, 'reimburse: a 3D printer');
  assert.equal(asked.state, 'approved');
  const psbt = (await cli.request(PsbtBuild, { payoutIds: [asked.id] })) as PsbtSummary;
  await signedBy(psbt, 0, signWithScure);
  const { psbt: signed } = await signedBy(psbt, 1, signWithBitcoinjs);
  assert.equal(signed.state, 'signed');
  const sent = (await cli.request(PsbtBroadcast, { psbtId: psbt.id })) as PsbtSummary;
  assert.equal(sent.state, 'broadcast');
  // The node has it, as the transaction that was built.
  const fromNode = (await node.rpc('getrawtransaction', [psbt.txid, true])) as { txid: string; vout: { value: number }[] };
  assert.equal(fromNode.txid, psbt.txid);
  await node.mine(1);
  await hub.payouts.follow();
  assert.equal((await payout(asked.id)).state, 'broadcast');
  await node.mine(1);
  await hub.payouts.follow();
  const paid = await payout(asked.id);
  assert.equal(paid.state, 'confirmed');
  assert.equal(paid.confirmations, 2);
  assert.ok(paid.ledgerEntryId);
  assert.deepEqual(
    (await payoutEntries()).map((entry) => entry.causedBy).sort(),
    [`payout-fee:${psbt.txid}`, `payout:${asked.id}`].sort(),
  );

  // A reorg takes the block away: the payout is followed again, sent again if the node lost it, confirmed again, and
  // booked once.
  const tip = (await node.rpc('getbestblockhash')) as string;
  const minedIn = ((await node.rpc('getblock', [tip])) as { previousblockhash: string }).previousblockhash;
  await node.rpc('invalidateblock', [minedIn]);
  // A shorter chain alone looks like a node that is behind; the reorg shows once the other branch grows.
  await node.mine(1);
  await hub.payouts.follow();
  assert.equal((await payout(asked.id)).state, 'broadcast');
  await hub.payouts.follow();
  await hub.payouts.follow();
  await node.mine(2);
  await hub.payouts.follow();
  assert.equal((await payout(asked.id)).state, 'confirmed');
  assert.equal((await payoutEntries()).length, 2);
});

test('a transaction the node refuses is reported and nothing is booked; a discarded PSBT sent anyway is found paying', async () => {
  const asked = await approvedPayout(500_000, 'bounty: the new website');
  // The first PSBT is signed, then given up, and a second one built for the same payout at another fee.
  const first = (await cli.request(PsbtBuild, { payoutIds: [asked.id], feeRateSatPerVb: 2 })) as PsbtSummary;
  await signedBy(first, 0, signWithScure);
  const { psbt: firstSigned } = await signedBy(first, 2, signWithScure);
  await cli.request(PsbtDiscard, { psbtId: first.id, reason: 'fee too low' });
  const second = (await cli.request(PsbtBuild, { payoutIds: [asked.id], feeRateSatPerVb: 3 })) as PsbtSummary;
  assert.deepEqual(second.inputs, first.inputs, 'the same coins');
  await signedBy(second, 1, signWithBitcoinjs);
  await signedBy(second, 2, signWithScure);
  // A co-signer's own wallet sent the first one meanwhile: its coins are spent when the second is broadcast.
  const { rawTxHex } = finalizePsbt(base64.decode(firstSigned.base64), 2);
  await node.rpc('sendrawtransaction', [rawTxHex]);
  await node.mine(1);
  const entriesBefore = (await payoutEntries()).length;
  await assert.rejects(cli.request(PsbtBroadcast, { psbtId: second.id }, { timeoutMs: 15_000 }), (error: unknown) => {
    assert.ok(error instanceof RemoteError, String(error));
    assert.equal(error.code, 'PAYOUT_BROADCAST_FAILED');
    assert.match(error.message, /did not take|refused/);
    return true;
  });
  const unpaid = await payout(asked.id);
  assert.equal(unpaid.state, 'signed');
  assert.equal(unpaid.lastError?.code, 'PAYOUT_BROADCAST_FAILED');
  assert.equal(unpaid.paidAt, null);
  assert.equal(unpaid.ledgerEntryId, null);
  // Following the chain finds what happened: the discarded PSBT paid the payout. It is followed as sent, the second
  // PSBT is discarded (its coins are spent), and the payout is confirmed and booked once.
  await hub.payouts.follow();
  const found = await payout(asked.id);
  assert.equal(found.state, 'broadcast');
  assert.equal(found.psbtId, first.id);
  const replaced = ((await cli.request(PsbtGet, { psbtId: second.id })) as { psbts: PsbtSummary[] }).psbts[0]!;
  assert.equal(replaced.state, 'discarded');
  assert.equal(replaced.lastError?.code, 'PAYOUT_SENT_AFTER_DISCARD');
  await node.mine(1);
  await hub.payouts.follow();
  assert.equal((await payout(asked.id)).state, 'confirmed');
  assert.equal((await payoutEntries()).length, entriesBefore + 2, 'the payout and its fee, once');
});
