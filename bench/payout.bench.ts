// Benchmark: PayoutMgr's own costs, each beside a baseline measured in the same run.
// A: the 2-of-3 multisig wallet catching up 1,000 blocks of 300 transactions on SQLite (a few paying the wallet, one
// spending a wallet coin per block), beside fetching and parsing the same blocks from the same chain.
// B: building a PSBT for a batch of 20 payouts from 500 coins, checking two co-signers' signed copies, combining and
// finalizing, beside merely parsing and re-serialising the same PSBT with @scure/btc-signer. Signing is the
// co-signers' work, not PayoutMgr's: it happens outside the timed part.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HDKey } from '@scure/bip32';
import { Transaction } from '@scure/btc-signer';
import type { Kysely } from 'kysely';
import { SimulatedChain, type TxOutput } from '../src/chain-adaptor/index.js';
import {
  addressFromScript,
  NETWORKS,
  parseDescriptor,
  type DerivedOutput,
  type OutputDescriptor,
} from '../src/core/bitcoin/index.js';
import { ManualClock } from '../src/core/clock.js';
import { openDatabase } from '../src/core/storage/index.js';
import type { WalletTables } from '../src/payout-mgr/wallet-store.js';
import {
  buildPayoutPsbt,
  checkSignedPsbt,
  combineSignatures,
  finalizePsbt,
  type BuildRequest,
  type PayoutOutputSpec,
  type SpendableCoin,
} from '../src/payout-mgr/psbt.js';
import { MultisigWallet } from '../src/payout-mgr/wallet.js';

const CATCH_UP_BLOCKS = Number(process.env.BENCH_PAYOUT_BLOCKS ?? 1_000);
const CATCH_UP_TXS = Number(process.env.BENCH_PAYOUT_TXS ?? 300);
const WALLET_COINS = Number(process.env.BENCH_PAYOUT_COINS ?? 500);
const BATCH_PAYOUTS = Number(process.env.BENCH_PAYOUT_OUTPUTS ?? 20);
const REPEATS = Number(process.env.BENCH_PAYOUT_REPEATS ?? 5);
const WARM_UPS = 1;
/** Per block: payments to fresh receive addresses, and one transaction spending an earlier wallet coin with change. */
const PAYMENTS_PER_BLOCK = 2;
const THRESHOLD = 2;
const FEE_RATE_SAT_PER_VB = 5;

const TPRV_TPUB = { private: 0x04358394, public: 0x043587cf };
const ACCOUNT_PATH = "m/48'/1'/0'/2'";

function script(seed: string): Uint8Array {
  return Uint8Array.from([0x00, 0x14, ...createHash('sha256').update(seed).digest().subarray(0, 20)]);
}

/** The 2-of-3 wsh(sortedmulti) wallet of three fixed seeds at m/48'/1'/0'/2', receive and change chains. */
function benchWallet(): { descriptor: OutputDescriptor; masters: HDKey[] } {
  const masters = [11, 12, 13].map((seed) => HDKey.fromMasterSeed(new Uint8Array(32).fill(seed), TPRV_TPUB));
  const keys = masters.map((master) => {
    const fingerprint = master.fingerprint.toString(16).padStart(8, '0');
    return `[${fingerprint}/48h/1h/0h/2h]${master.derive(ACCOUNT_PATH).publicExtendedKey}/<0;1>/*`;
  });
  return { descriptor: parseDescriptor(`wsh(sortedmulti(${THRESHOLD},${keys.join(',')}))`, NETWORKS.regtest), masters };
}

function timeIt<T>(work: () => T): [T, number] {
  const started = performance.now();
  const result = work();
  return [result, performance.now() - started];
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * Blocks like chain.bench.ts's (one input, two outputs per transaction), where each block also pays two fresh
 * receive addresses and spends the first coin the previous block paid, with change to a fresh change address.
 */
function buildChain(descriptor: OutputDescriptor, receive: readonly DerivedOutput[]): SimulatedChain {
  const chain = new SimulatedChain('regtest');
  const change = descriptor.deriveRange(1, 0, CATCH_UP_BLOCKS - 1).map((output) => output.script);
  let previousPayment: string | undefined;
  for (let block = 0; block < CATCH_UP_BLOCKS; block++) {
    const walletTxs = PAYMENTS_PER_BLOCK + (previousPayment ? 1 : 0);
    for (let index = 0; index < CATCH_UP_TXS - walletTxs; index++) {
      const outputs: TxOutput[] = [
        { script: script(`block ${block} out ${index}`), value: 10_000 + index },
        { script: script(`block ${block} change ${index}`), value: 5_000 },
      ];
      chain.send(outputs);
    }
    let firstPayment: string | undefined;
    for (let payment = 0; payment < PAYMENTS_PER_BLOCK; payment++) {
      const txid = chain.send([
        { script: receive[block * PAYMENTS_PER_BLOCK + payment]!.script, value: 100_000 + block },
        { script: script(`block ${block} payer ${payment}`), value: 7_000 },
      ]);
      firstPayment ??= txid;
    }
    if (previousPayment) {
      chain.send(
        [
          { script: script(`block ${block} paid out`), value: 60_000 },
          { script: change[block - 1]!, value: 39_000 },
        ],
        [{ txid: previousPayment, vout: 0 }],
      );
    }
    previousPayment = firstPayment;
    chain.mine(1);
  }
  return chain;
}

interface CatchUp {
  fetchParseMs: number;
  catchUpMs: number;
  coinCount: number;
  /** Addresses in the wallet's table at the end: each used one moves the gap-limit lookahead on by a derivation. */
  addressCount: number;
}

async function measureCatchUp(descriptor: OutputDescriptor, receive: readonly DerivedOutput[]): Promise<CatchUp> {
  const chain = buildChain(descriptor, receive);
  const tip = await chain.tip();
  const fetchAll = async (last: number) => {
    for (let height = 1; height <= last; height++) await chain.block(await chain.blockHash(height));
  };
  await fetchAll(Math.min(tip.height, 50)); // warms up the parser, as the wallet's first blocks would
  const started = performance.now();
  await fetchAll(tip.height);
  const fetchParseMs = performance.now() - started;

  const dir = mkdtempSync(join(tmpdir(), 'dctrl-bench-payout-'));
  try {
    const handle = await openDatabase({ sqliteFile: join(dir, 'payout.db') });
    try {
      const options = { adaptor: chain, descriptor, gapLimit: 20, reorgLimit: 6, birthHeight: 1 };
      const wallet = await MultisigWallet.open(handle, new ManualClock(), options);
      const syncStarted = performance.now();
      await wallet.sync();
      const catchUpMs = performance.now() - syncStarted;
      const { coinCount } = await wallet.balance();
      const expected = CATCH_UP_BLOCKS * PAYMENTS_PER_BLOCK;
      if (coinCount !== expected) throw new Error(`the wallet found ${coinCount} unspent coins, expected ${expected}`);
      const { count } = await (handle.db as Kysely<WalletTables>)
        .selectFrom('payout_wallet_addresses')
        .select((eb) => eb.fn.countAll<number>().as('count'))
        .executeTakeFirstOrThrow();
      return { fetchParseMs, catchUpMs, coinCount, addressCount: Number(count) };
    } finally {
      await handle.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Co-signer `master` signs every input it holds a key for (found by the PSBT's BIP 32 derivations). */
function sign(psbt: Uint8Array, master: HDKey): Uint8Array {
  const tx = Transaction.fromPSBT(psbt);
  for (let index = 0; index < tx.inputsLength; index++) {
    for (const [, origin] of tx.getInput(index).bip32Derivation ?? []) {
      if (origin.fingerprint !== master.fingerprint) continue;
      const path = origin.path.map((step) => (step >= 0x80000000 ? `${step - 0x80000000}'` : String(step)));
      const key = master.derive(`m/${path.join('/')}`).privateKey;
      if (!key || !tx.signIdx(key, index)) throw new Error(`co-signer ${master.fingerprint} could not sign input ${index}`);
    }
  }
  return tx.toPSBT();
}

const PSBT_STEPS = [
  'parse + re-serialise unsigned PSBT (baseline)',
  'parse + re-serialise signed PSBT',
  'build (select coins, derive, BIP 174)',
  "check co-signer A's signed PSBT",
  "check co-signer B's signed PSBT",
  'combine both (checks both again)',
  'finalize + extract',
] as const;
type PsbtStep = (typeof PSBT_STEPS)[number];

interface PsbtFigures {
  ms: Record<PsbtStep, number>;
  inputs: number;
  outputs: number;
  psbtBytes: number;
  signedBytes: number;
}

function measurePsbt(descriptor: OutputDescriptor, masters: readonly HDKey[], receive: readonly DerivedOutput[]): PsbtFigures {
  const coins: SpendableCoin[] = receive.slice(0, WALLET_COINS).map((output, index) => ({
    txid: createHash('sha256').update(`funding ${index}`).digest('hex'),
    vout: index % 3,
    value: 10_000 + ((index * 7919) % 90_000),
    chain: 0,
    index,
    scriptHex: output.scriptHex,
    height: 100 + index,
    confirmations: WALLET_COINS + 6 - index,
  }));
  const outputs: PayoutOutputSpec[] = Array.from({ length: BATCH_PAYOUTS }, (_, index) => {
    const payee = script(`payee ${index}`);
    return { script: payee, sats: 50_000 + index * 10_000, address: addressFromScript(payee, NETWORKS.regtest) };
  });
  const request: BuildRequest = {
    descriptor,
    coins,
    outputs,
    feeRateSatPerVb: FEE_RATE_SAT_PER_VB,
    change: descriptor.derive(1, 0),
    locktime: 1_000,
  };
  const built = buildPayoutPsbt(request);
  const signedA = sign(built.psbt, masters[0]!);
  const signedB = sign(built.psbt, masters[1]!);
  const combined = combineSignatures(built.psbt, [signedA, signedB], descriptor);
  const final = finalizePsbt(combined, THRESHOLD);
  if (final.txid !== built.txid) throw new Error(`finalized txid ${final.txid} is not the built ${built.txid}`);

  const steps: Record<PsbtStep, () => unknown> = {
    'parse + re-serialise unsigned PSBT (baseline)': () => Transaction.fromPSBT(built.psbt).toPSBT(),
    'parse + re-serialise signed PSBT': () => Transaction.fromPSBT(combined).toPSBT(),
    'build (select coins, derive, BIP 174)': () => buildPayoutPsbt(request),
    "check co-signer A's signed PSBT": () => checkSignedPsbt(built.psbt, signedA, descriptor),
    "check co-signer B's signed PSBT": () => checkSignedPsbt(built.psbt, signedB, descriptor),
    'combine both (checks both again)': () => combineSignatures(built.psbt, [signedA, signedB], descriptor),
    'finalize + extract': () => finalizePsbt(combined, THRESHOLD),
  };
  const samples = Object.fromEntries(PSBT_STEPS.map((step) => [step, [] as number[]])) as Record<PsbtStep, number[]>;
  // Interleaved rounds, so whatever else the shared machine does falls on every step alike.
  for (let round = 0; round < WARM_UPS + REPEATS; round++) {
    for (const step of PSBT_STEPS) {
      const [, ms] = timeIt(steps[step]);
      if (round >= WARM_UPS) samples[step].push(ms);
    }
  }
  const ms = Object.fromEntries(PSBT_STEPS.map((step) => [step, median(samples[step])])) as Record<PsbtStep, number>;
  return {
    ms,
    inputs: built.inputs.length,
    outputs: BATCH_PAYOUTS + (built.changeIndex === null ? 0 : 1),
    psbtBytes: built.psbt.length,
    signedBytes: combined.length,
  };
}

async function main(): Promise<void> {
  const { descriptor, masters } = benchWallet();

  // Deriving addresses is slow (BIP 32 in BigInt arithmetic): both parts share the receive addresses, derived once.
  const receive = descriptor.deriveRange(0, 0, Math.max(CATCH_UP_BLOCKS * PAYMENTS_PER_BLOCK, WALLET_COINS) - 1);
  const catchUp = await measureCatchUp(descriptor, receive);
  const psbt = measurePsbt(descriptor, masters, receive);

  const totalTxs = CATCH_UP_BLOCKS * (CATCH_UP_TXS + 1);
  const perBlock = (ms: number) => ({
    'ms per block': +(ms / CATCH_UP_BLOCKS).toFixed(2),
    'txs/s': Math.round((totalTxs / ms) * 1000),
    'x baseline': +(ms / catchUp.fetchParseMs).toFixed(2),
  });
  console.log(
    `Payout wallet (2-of-3 wsh sortedmulti) catching up ${CATCH_UP_BLOCKS.toLocaleString('en')} blocks of ${CATCH_UP_TXS} txs`,
  );
  console.table({
    [`${CATCH_UP_BLOCKS} blocks: fetch + parse only (baseline)`]: perBlock(catchUp.fetchParseMs),
    [`${CATCH_UP_BLOCKS} blocks: wallet catch-up (SQLite)`]: perBlock(catchUp.catchUpMs),
  });

  const baseline = psbt.ms['parse + re-serialise unsigned PSBT (baseline)'];
  console.log(
    `Payout PSBT: ${BATCH_PAYOUTS} payouts from ${WALLET_COINS} coins → ${psbt.inputs} inputs, ${psbt.outputs} outputs (median of ${REPEATS} runs)`,
  );
  console.table(
    Object.fromEntries(
      PSBT_STEPS.map((step) => [step, { ms: +psbt.ms[step].toFixed(2), 'x baseline': +(psbt.ms[step] / baseline).toFixed(2) }]),
    ),
  );
  const checkMs = psbt.ms["check co-signer A's signed PSBT"];
  console.log(
    [
      `catching up ${CATCH_UP_BLOCKS} blocks (${catchUp.coinCount} unspent coins found, ${PAYMENTS_PER_BLOCK} payments and 1 spend per block, ${catchUp.addressCount.toLocaleString('en')} addresses derived) costs ${(catchUp.catchUpMs / catchUp.fetchParseMs).toFixed(2)}x fetching and parsing them`,
      `a payout PSBT of ${psbt.inputs} inputs (${psbt.psbtBytes.toLocaleString('en')} bytes unsigned, ${psbt.signedBytes.toLocaleString('en')} signed): build ${(psbt.ms['build (select coins, derive, BIP 174)'] / baseline).toFixed(1)}x, check one co-signer ${(checkMs / baseline).toFixed(1)}x (${(checkMs / psbt.inputs).toFixed(2)} ms per input), finalize ${(psbt.ms['finalize + extract'] / baseline).toFixed(1)}x parsing and re-serialising it`,
    ].join('\n'),
  );
}

await main();
