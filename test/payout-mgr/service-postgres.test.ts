// PayoutMgr on a real PostgreSQL (started on a free 127.0.0.1 port) with the real BusinessData, Reporter and
// PriceNotifier over the simulated chain: a payout from request to booked, and a discarded PSBT a miner prefers to
// its rebuild, as on SQLite (service.test.ts, races.test.ts).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { base64 } from '@scure/base';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { SimulatedChain } from '../../src/chain-adaptor/index.js';
import { NETWORKS, parseAddress } from '../../src/core/bitcoin/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { ReportRequest } from '../../src/core/messages.js';
import {
  PayoutGet,
  PayoutList,
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
import type { DatabaseHandle } from '../../src/core/storage/index.js';
import { finalizePsbt } from '../../src/payout-mgr/psbt.js';
import { postgresFactory } from '../helpers/databases.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { payoutConfig, startPayoutHub, type PayoutHub } from './hub.js';
import { payee, signWithBitcoinjs, signWithScure } from './keys.js';
import { enrollApprovers, signedDecision } from './approvers.js';

const factory = postgresFactory();
const chain = new SimulatedChain('regtest');
let database: DatabaseHandle;
let h: Harness;
let hub: PayoutHub;
let cli: BusClient;

const payoutOf = async (id: string) => ((await cli.request(PayoutGet, { payoutId: id })) as { payout: PayoutRecord }).payout;
const psbtOf = async (id: string) => ((await cli.request(PsbtGet, { psbtId: id })) as { psbts: PsbtSummary[] }).psbts[0]!;
const bookings = async (payoutId: string) =>
  ((await cli.request(ReportRequest, { report: 'ledger' })) as { json: { entries: { causedBy: string }[] } }).json.entries.filter(
    (entry) => entry.causedBy === `payout:${payoutId}`,
  ).length;

async function approved(request: { cents?: number; sats?: number }, n: number): Promise<PayoutRecord> {
  const asked = (await cli.request(PayoutRequest, {
    address: payee(n).address,
    ...request,
    reason: `payout ${n}`,
    requester: 'ada',
  })) as PayoutRecord;
  await signedDecision(cli, asked.id, 'alice');
  await assert.rejects(signedDecision(cli, asked.id, 'alice'), {
    code: 'PAYOUT_ALREADY_APPROVED',
  });
  return signedDecision(cli, asked.id, 'carol');
}

before(async () => {
  database = await factory.create();
  h = await startHarness({ clock: new ManualClock(Date.UTC(2026, 10, 27, 12)), config: payoutConfig() });
  hub = await startPayoutHub(h, chain, { database });
  cli = await h.client('cli');
  await enrollApprovers(cli, ['alice', 'bob', 'carol']);
  for (const value of [1_000_000, 2_000_000]) {
    const { receiveAddress } = (await cli.request(PayoutWallet, { newAddress: true })) as { receiveAddress: string };
    chain.send([{ script: parseAddress(receiveAddress, NETWORKS.regtest).script, value }]);
  }
  chain.mine(1);
  await hub.payouts.follow();
});
after(async () => {
  await hub?.stop();
  await h?.stop();
  await factory.cleanup();
});

test('on PostgreSQL: requested in fiat, approved twice, built, signed in two libraries, sent, confirmed, booked once', async () => {
  const asked = await approved({ cents: 13_500 }, 1);
  assert.equal(asked.state, 'approved');
  assert.equal(asked.sats, 100_000);
  const psbt = (await cli.request(PsbtBuild, { payoutIds: [asked.id], feeRateSatPerVb: 2.5 })) as PsbtSummary;
  assert.equal(psbt.feeRateSatPerVb, 2.5);
  for (const [k, signer] of [
    [0, signWithScure],
    [2, signWithBitcoinjs],
  ] as const) {
    await cli.request(PsbtImport, { psbtId: psbt.id, psbt: base64.encode(signer(base64.decode(psbt.base64), k)) });
  }
  await cli.request(PsbtBroadcast, { psbtId: psbt.id });
  chain.mine(2);
  await hub.payouts.follow();
  await hub.payouts.follow();
  assert.equal((await payoutOf(asked.id)).state, 'confirmed');
  assert.equal(await bookings(asked.id), 1);
  const listed = (await cli.request(PayoutList, { state: 'confirmed' })) as { payouts: PayoutRecord[] };
  assert.deepEqual(
    listed.payouts.map((payout) => payout.id),
    [asked.id],
  );
});

test('on PostgreSQL: a discarded PSBT a miner prefers to its rebuild pays once; the rebuild is retired', async () => {
  const asked = await approved({ sats: 50_000 }, 2);
  const first = (await cli.request(PsbtBuild, { payoutIds: [asked.id] })) as PsbtSummary;
  const firstRaw = finalizePsbt(signWithScure(signWithScure(base64.decode(first.base64), 0), 1), 2).rawTxHex;
  await cli.request(PsbtDiscard, { psbtId: first.id, reason: 'rebuild' });
  const second = (await cli.request(PsbtBuild, { payoutIds: [asked.id] })) as PsbtSummary;
  const firstCoins = new Set(first.inputs.map((input) => `${input.txid}:${input.vout}`));
  assert.ok(
    second.inputs.some((input) => firstCoins.has(`${input.txid}:${input.vout}`)),
    'the rebuild conflicts',
  );
  for (const k of [1, 2]) {
    await cli.request(PsbtImport, { psbtId: second.id, psbt: base64.encode(signWithScure(base64.decode(second.base64), k)) });
  }
  await cli.request(PsbtBroadcast, { psbtId: second.id });
  chain.evict(second.txid);
  await chain.broadcast(firstRaw);
  chain.mine(2);
  await hub.payouts.follow();
  await hub.payouts.follow();
  const paid = await payoutOf(asked.id);
  assert.equal(paid.state, 'confirmed');
  assert.equal(paid.psbtId, first.id);
  assert.equal((await psbtOf(second.id)).state, 'discarded');
  assert.equal(await bookings(asked.id), 1);
});
