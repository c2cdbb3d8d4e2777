// Benchmark: matching blocks against 100,000 watched scripts, beside merely parsing the same blocks, in one run.
// A: one block of 3,000 transactions, parsed, and parsed and matched. B: the ChainWatcher catching up 1,000 blocks
// on SQLite (parse, match, record), beside fetching and parsing the same 1,000 blocks from the same chain.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { HDKey } from '@scure/bip32';
import { parseBlock, SimulatedChain, type TxOutput } from '../src/chain-adaptor/index.js';
import { ScriptIndex } from '../src/chain-notifier/script-index.js';
import { ChainWatcher } from '../src/chain-notifier/watcher.js';
import { NETWORKS, parseDescriptor } from '../src/core/bitcoin/index.js';
import { ManualClock } from '../src/core/clock.js';
import { openDatabase } from '../src/core/storage/index.js';

const WATCHED = Number(process.env.BENCH_CHAIN_WATCHED ?? 100_000);
const BIG_BLOCK_TXS = 3_000;
const CATCH_UP_BLOCKS = Number(process.env.BENCH_CHAIN_BLOCKS ?? 1_000);
const CATCH_UP_TXS = Number(process.env.BENCH_CHAIN_TXS ?? 300);
const REPEATS = 30;

function script(seed: string): Uint8Array {
  return Uint8Array.from([0x00, 0x14, ...createHash('sha256').update(seed).digest().subarray(0, 20)]);
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Transactions like a real block's: one or two inputs, two outputs; `paying` of them pay a watched script. */
function fillMempool(chain: SimulatedChain, count: number, watched: readonly Uint8Array[], paying: number, salt: string): void {
  for (let index = 0; index < count; index++) {
    const outputs: TxOutput[] = [
      { script: script(`${salt} out ${index}`), value: 10_000 + index },
      { script: index < paying ? watched[(index * 7919) % watched.length]! : script(`${salt} change ${index}`), value: 5_000 },
    ];
    chain.send(outputs);
  }
}

function timeIt(work: () => void): number {
  const started = performance.now();
  work();
  return performance.now() - started;
}

async function main(): Promise<void> {
  const watchedScripts = Array.from({ length: WATCHED }, (_, index) => script(`watched ${index}`));
  const watchedSet = new ScriptIndex<number>();
  watchedScripts.forEach((bytes, index) => watchedSet.set(hex(bytes), index));

  // A: one block of 3,000 transactions.
  const chain = new SimulatedChain('regtest');
  fillMempool(chain, BIG_BLOCK_TXS, watchedScripts, 100, 'big');
  const [bigHash] = chain.mine(1);
  const raw = chain.rawBlock(bigHash!)!;
  let matched = 0;
  const parseOnly = () => void parseBlock(raw, 1);
  const parseAndMatch = () => {
    for (const tx of parseBlock(raw, 1).txs) for (const output of tx.outputs) if (watchedSet.match(output.script)) matched += 1;
  };
  for (let warm = 0; warm < 5; warm++) {
    parseOnly();
    parseAndMatch();
  }
  let parseMs = 0;
  let matchMs = 0;
  for (let round = 0; round < REPEATS; round++) {
    parseMs += timeIt(parseOnly);
    matchMs += timeIt(parseAndMatch);
  }
  parseMs /= REPEATS;
  matchMs /= REPEATS;

  // B: catching up 1,000 blocks through the watcher on SQLite.
  const dir = mkdtempSync(join(tmpdir(), 'dctrl-bench-chain-'));
  try {
    const long = new SimulatedChain('regtest');
    for (let block = 0; block < CATCH_UP_BLOCKS; block++) {
      fillMempool(long, CATCH_UP_TXS, watchedScripts, 3, `block ${block}`);
      long.mine(1);
    }
    const tip = await long.tip();
    const fetchParseMs = await (async () => {
      const started = performance.now();
      for (let height = 1; height <= tip.height; height++) await long.block(await long.blockHash(height));
      return performance.now() - started;
    })();

    const file = join(dir, 'chain.db');
    const handle = await openDatabase({ sqliteFile: file });
    const account = HDKey.fromMasterSeed(new Uint8Array(32).fill(3), { private: 0x04358394, public: 0x043587cf }).derive(
      "m/84'/1'/0'",
    );
    const descriptor = parseDescriptor(`wpkh(${account.publicExtendedKey}/0/*)`, NETWORKS.regtest);
    const options = { adaptor: long, descriptor, gapLimit: 1, reorgLimit: 6 };
    await ChainWatcher.open(handle, new ManualClock(), options);
    // The watched scripts go straight into the table (deriving 100,000 addresses is its own, separate cost).
    const sqlite = new Database(file);
    const insert = sqlite.prepare(
      "INSERT INTO chain_notifier_addresses (script_hex, address, chain, idx, owner_kind, owner_id, assigned_at) VALUES (?, ?, 0, ?, 'member', ?, 0)",
    );
    sqlite.transaction(() =>
      watchedScripts.forEach((bytes, index) => insert.run(hex(bytes), `addr${index}`, index + 10, `m${index}`)),
    )();
    sqlite.close();
    const watcher = await ChainWatcher.open(handle, new ManualClock(), options);
    const started = performance.now();
    const events = await watcher.sync(1);
    const catchUpMs = performance.now() - started;
    await handle.close();

    const totalTxs = CATCH_UP_BLOCKS * (CATCH_UP_TXS + 1);
    console.log(`Chain matching against ${WATCHED.toLocaleString('en')} watched scripts`);
    console.table({
      [`one block of ${BIG_BLOCK_TXS} txs: parse only`]: {
        'ms per block': +parseMs.toFixed(2),
        'txs/s': Math.round((BIG_BLOCK_TXS / parseMs) * 1000),
      },
      [`one block of ${BIG_BLOCK_TXS} txs: parse + match`]: {
        'ms per block': +matchMs.toFixed(2),
        'txs/s': Math.round((BIG_BLOCK_TXS / matchMs) * 1000),
      },
      [`${CATCH_UP_BLOCKS} blocks: fetch + parse only`]: {
        'ms per block': +(fetchParseMs / CATCH_UP_BLOCKS).toFixed(2),
        'txs/s': Math.round((totalTxs / fetchParseMs) * 1000),
      },
      [`${CATCH_UP_BLOCKS} blocks: watcher catch-up (SQLite)`]: {
        'ms per block': +(catchUpMs / CATCH_UP_BLOCKS).toFixed(2),
        'txs/s': Math.round((totalTxs / catchUpMs) * 1000),
      },
    });
    console.log(
      [
        `matching adds ${(((matchMs - parseMs) / parseMs) * 100).toFixed(1)}% to parsing a ${BIG_BLOCK_TXS}-transaction block (aim: under 20%); ${matched / (REPEATS + 5)} payments found per block`,
        `catching up ${CATCH_UP_BLOCKS} blocks (${events.length} payments recorded, one transaction per block) costs ${(catchUpMs / fetchParseMs).toFixed(2)}x fetching and parsing them`,
      ].join('\n'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
