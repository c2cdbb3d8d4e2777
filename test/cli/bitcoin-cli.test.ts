// `dctrl price`, `dctrl bitcoin …` and `dctrl invoice …` against a running hub on the simulated chain.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { dctrl, startHub, type RunningCli } from '../helpers/cli.js';

let hub: RunningCli;
let common: string[];
let ada: string;
let dataDir: string;

before(async () => {
  ({ hub, common, dataDir } = await startHub());
  const added = dctrl(['member', 'add', '--name', 'Ada Lovelace', '--email', 'ada@example.org', ...common]);
  assert.equal(added.status, 0, added.stderr);
  ada = added.stdout.split(/\s+/)[0]!;
});
after(async () => {
  await hub.stop();
});

test('the rate, and a member’s deposit address that stays the same', () => {
  const price = dctrl(['price', ...common]);
  assert.equal(price.status, 0, price.stderr);
  assert.match(price.stdout, /^1 BTC = 135000\.00 CAD \(fixed:demo-fixed/);
  const first = dctrl(['bitcoin', 'address', ada, ...common]);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /^bcrt1q\w+ {2}\(index \d+\)\nbitcoin:bcrt1q\w+/);
  assert.equal(dctrl(['bitcoin', 'address', ada, ...common]).stdout, first.stdout);
  assert.equal(dctrl(['bitcoin', 'payments', '--json', ...common]).stdout.trim(), '[]');
  assert.match(dctrl(['bitcoin', 'address', 'nobody', ...common]).stderr, /CHAIN_NOTIFIER_MEMBER_UNKNOWN: no member nobody/);
});

test('an invoice for 3.50: the rate locked, a fresh address, the QR code written as SVG and PNG', () => {
  const stem = join(dataDir, 'invoice-qr');
  const created = dctrl(['invoice', 'create', '3.50', '--memo', 'Club-Mate', '--key', 'till-1', '--qr', stem, ...common]);
  assert.equal(created.status, 0, created.stderr);
  assert.match(created.stdout, /new {2}3\.50 CAD = 2593 sats, paid 0\n {2}bitcoin:bcrt1q\w+\?amount=0\.00002593/);
  assert.match(readFileSync(`${stem}.svg`, 'utf8'), /<svg[\s\S]*<\/svg>/);
  assert.deepEqual([...readFileSync(`${stem}.png`).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const id = created.stdout.split(/\s+/)[0]!;
  assert.equal(
    dctrl(['invoice', 'create', '3.50', '--memo', 'Club-Mate', '--key', 'till-1', ...common]).stdout.split(/\s+/)[0],
    id,
  );
  assert.match(dctrl(['invoice', 'show', id, ...common]).stdout, new RegExp(`^${id} {2}new`));
  assert.match(dctrl(['invoice', 'list', ...common]).stdout, new RegExp(id));
});

test('bad invoice input is refused with its code', () => {
  assert.match(dctrl(['invoice', 'create', '-1', ...common]).stderr, /CORE_AMOUNT_INVALID/);
  assert.match(dctrl(['invoice', 'create', '2', '--member', 'nobody', ...common]).stderr, /CHAIN_NOTIFIER_\w+/);
});
