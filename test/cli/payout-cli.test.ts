// `dctrl payout …` against a running demo hub (the simulated chain and its demo 2-of-3 wallet), as the treasurer uses
// it: request, approve twice, export the PSBT as a .psbt file, sign it as two co-signers, import, send, see it paid.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { HDKey } from '@scure/bip32';
import { Transaction } from '@scure/btc-signer';
import { addressFromScript, NETWORKS } from '../../src/core/bitcoin/index.js';
import { dctrl, startHub, type RunningCli } from '../helpers/cli.js';

const PAYEE = addressFromScript(Uint8Array.from([0x00, 0x14, ...new Uint8Array(20).fill(0x42)]), NETWORKS.regtest);
const TPRV = { private: 0x04358394, public: 0x043587cf };
let hub: RunningCli;
let common: string[];
let dataDir: string;

/** The demo approvers' key files, which the demo hub makes in its data folder. */
const keyOf = (approver: string) => join(dataDir, `approver-${approver}.key`);

function run(args: string[]) {
  return dctrl([...args, ...common]);
}

function ok(args: string[]): string {
  const result = run(args);
  assert.equal(result.status, 0, `dctrl ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

function refused(args: string[], code: string): string {
  const result = run(args);
  assert.notEqual(result.status, 0, `dctrl ${args.join(' ')} should fail`);
  assert.match(result.stderr, new RegExp(code), result.stderr);
  return result.stderr;
}

/** A demo co-signer signs the .psbt file as their own wallet would, and writes the signed file. */
function signFile(file: string, cosigner: number, out: string): void {
  const demo = JSON.parse(readFileSync(join(dataDir, 'demo-cosigners.json'), 'utf8')) as { cosigners: { xprv: string }[] };
  const master = HDKey.fromExtendedKey(demo.cosigners[cosigner]!.xprv, TPRV);
  const tx = Transaction.fromPSBT(readFileSync(file));
  for (let index = 0; index < tx.inputsLength; index++) {
    for (const [, origin] of tx.getInput(index).bip32Derivation ?? []) {
      if (origin.fingerprint !== master.fingerprint) continue;
      const path = origin.path.map((step) => (step >= 0x80000000 ? `${step - 0x80000000}'` : String(step)));
      tx.signIdx(master.derive(`m/${path.join('/')}`).privateKey!, index);
    }
  }
  writeFileSync(out, tx.toPSBT());
}

async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!done()) {
    if (Date.now() > deadline) assert.fail(`waited 20 s for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

before(async () => {
  ({ hub, common, dataDir } = await startHub(['--set', 'payoutMgr.pollMs=300']));
});
after(async () => {
  await hub.stop();
});

test('the demo wallet is funded, and a payout goes from request to paid through the command line', async () => {
  assert.match(ok(['payout', 'wallet']), /^2-of-3 multisig: 0\.08500000 BTC confirmed/);
  const requested = ok([
    'payout',
    'request',
    '--to',
    PAYEE,
    '--amount',
    '42.50',
    '--reason',
    'reimburse: solder',
    '--requester',
    'ada',
  ]);
  const id = /^payout (\w{26}): requested/.exec(requested)?.[1];
  assert.ok(id, requested);
  assert.match(requested, /42\.50 CAD = \d+ sats/);
  assert.match(ok(['payout', 'approve', id, '--key', keyOf('treasurer')]), /approvals: 1 of 2 \(treasurer\)/);
  refused(['payout', 'approve', id, '--key', keyOf('treasurer')], 'PAYOUT_ALREADY_APPROVED');
  const mallory = join(dataDir, 'mallory.key');
  ok(['approver', 'keygen', '--out', mallory, '--name', 'mallory']);
  refused(['payout', 'approve', id, '--key', mallory], 'PAYOUT_NOT_ALLOWED');
  assert.match(ok(['payout', 'approve', id, '--key', keyOf('admin')]), /: approved\n/);

  const file = join(dataDir, 'payout.psbt');
  const built = ok(['payout', 'psbt', '--out', file]);
  const psbtId = /^PSBT (\w{26}): signing/.exec(built)?.[1];
  assert.ok(psbtId, built);
  assert.match(built, /\(change, back to the wallet\)/);
  assert.deepEqual([...readFileSync(file).subarray(0, 5)], [0x70, 0x73, 0x62, 0x74, 0xff], 'a binary PSBT');

  // A file signed for another transaction is refused whole; a garbled one is named malformed.
  const garbled = join(dataDir, 'garbled.psbt');
  writeFileSync(garbled, 'cHNidP8BAHECAAAAAQ==');
  refused(['payout', 'import', garbled], 'PAYOUT_PSBT_MALFORMED');

  const first = join(dataDir, 'signed-1.psbt');
  signFile(file, 0, first);
  assert.match(ok(['payout', 'import', first]), /^took \d+ new signatures? from [0-9a-f]{8}/);
  refused(['payout', 'broadcast', psbtId], 'PAYOUT_PSBT_NOT_ENOUGH_SIGNATURES');
  const second = join(dataDir, 'signed-3.psbt');
  signFile(file, 2, second);
  assert.match(ok(['payout', 'import', second, '--psbt', psbtId]), /the quorum has signed/);
  assert.match(ok(['payout', 'broadcast', psbtId]), /^PSBT \w{26}: broadcast/);
  await until(() => /: confirmed\n/.test(ok(['payout', 'show', id])), 'the payout confirmed');
  const shown = ok(['payout', 'show', id]);
  assert.match(shown, /in the ledger: /);
  assert.match(ok(['payout', 'list', '--state', 'confirmed']), new RegExp(`${id} .* confirmed`));
});

test('the demo co-signers can sign from the command line too', () => {
  const requested = ok(['payout', 'request', '--to', PAYEE, '--sats', '25000', '--reason', 'bounty', '--requester', 'bo']);
  const id = /^payout (\w{26})/.exec(requested)![1]!;
  ok(['payout', 'approve', id, '--key', keyOf('treasurer')]);
  ok(['payout', 'approve', id, '--key', keyOf('admin')]);
  const psbtId = /^PSBT (\w{26})/.exec(ok(['payout', 'psbt', id]))![1]!;
  ok(['payout', 'sign-demo', psbtId, '--cosigner', '2']);
  assert.match(ok(['payout', 'sign-demo', psbtId, '--cosigner', '3']), /the quorum has signed/);
});

test('the hub’s command line without the approver’s key cannot approve as them, even with a key it enrolls', () => {
  const requested = ok(['payout', 'request', '--to', PAYEE, '--sats', '26000', '--reason', 'tools', '--requester', 'bo']);
  const id = /^payout (\w{26})/.exec(requested)![1]!;
  const forged = join(dataDir, 'forged-treasurer.key');
  const made = ok(['approver', 'keygen', '--out', forged, '--name', 'treasurer']);
  const forgedId = /key (ed25519:[0-9a-f]{16}) for treasurer/.exec(made)?.[1];
  assert.ok(forgedId, made);
  refused(['payout', 'approve', id, '--key', forged], 'PAYOUT_APPROVER_KEY_UNKNOWN');
  // Enrolled from the hub's shell, it waits for the other approvers' endorsement and approves nothing meanwhile.
  assert.match(ok(['approver', 'enroll', '--key', forged]), /treasurer: ed25519:[0-9a-f]{16} \(ed25519\) pending/);
  refused(['payout', 'approve', id, '--key', forged], 'PAYOUT_APPROVER_KEY_STATE_CONFLICT');
  const keys = ok(['approver', 'keys', '--approver', 'treasurer']);
  assert.match(keys, /treasurer .* active \(bootstrap\)/);
  assert.match(keys, /treasurer .* pending/);
  assert.match(ok(['payout', 'show', id]), /approvals: 0 of 2/);
  // The real treasurer retires the key made in their name, at once.
  assert.match(
    ok(['approver', 'revoke', forgedId, '--key', keyOf('treasurer')]),
    new RegExp(`${forgedId} \\(ed25519\\) revoked`),
  );
  refused(['payout', 'approve', id, '--key', forged], 'PAYOUT_APPROVER_KEY_STATE_CONFLICT');
});

test('bad input is refused before or at the bus, naming what was wrong', () => {
  refused(
    [
      'payout',
      'request',
      '--to',
      'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq',
      '--sats',
      '1000',
      '--reason',
      'x',
      '--requester',
      'y',
    ],
    'PAYOUT_ADDRESS_INVALID',
  );
  refused(
    ['payout', 'request', '--to', PAYEE, '--sats', '1000', '--amount', '1', '--reason', 'x', '--requester', 'y'],
    'CLI_OPTION_INVALID',
  );
  refused(['payout', 'request', '--to', PAYEE, '--sats', '-5', '--reason', 'x', '--requester', 'y'], 'CLI_OPTION_INVALID');
  refused(['payout', 'approve', 'not-an-id', '--key', keyOf('admin')], 'CLI_OPTION_INVALID');
  refused(['payout', 'approve', 'not-an-id', '--key', join(dataDir, 'missing.key')], 'CLI_OPTION_INVALID');
  refused(['payout', 'list', '--state', 'paid'], 'CLI_OPTION_INVALID');
  refused(['payout', 'import', join(dataDir, 'missing.psbt')], 'CLI_FAILED');
});
