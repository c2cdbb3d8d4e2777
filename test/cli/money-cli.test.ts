// `dctrl payment …` and `dctrl report …` against a running hub, as the treasurer uses them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DateTime } from 'luxon';
import { dctrl, startHub, type RunningCli } from '../helpers/cli.js';

let hub: RunningCli;
let common: string[];
let ada: string;
const thisMonth = DateTime.now().setZone('America/Vancouver').toFormat('yyyy-MM');

before(async () => {
  ({ hub, common } = await startHub());
  const added = dctrl(['member', 'add', '--name', 'Ada Lovelace', '--email', 'ada@example.org', ...common]);
  assert.equal(added.status, 0, added.stderr);
  ada = added.stdout.split(/\s+/)[0]!;
});
after(async () => {
  await hub.stop();
});

test('cash recorded right after the member was added; the same receipt twice is recorded once', () => {
  const paid = dctrl(['payment', 'record-cash', ada, '75.00', '--receipt', '17', ...common]);
  assert.equal(paid.status, 0, paid.stderr);
  assert.match(paid.stdout, /^recorded: payment 75\.00 CAD in \d{4}-\d{2} \(entry \w{26}\); balance 75\.00 CAD/);
  const again = dctrl(['payment', 'record-cash', ada, '75', '--receipt', '17', ...common]);
  assert.match(again.stdout, /^already recorded: payment 75\.00 CAD/);
  assert.equal(dctrl(['payment', 'adjust', ada, '2.50', '--debit', '--reason', 'borrowed a soldering tip', ...common]).status, 0);
  assert.equal(dctrl(['payment', 'donation', '20', '--note', 'open house jar', ...common]).status, 0);
});

test('bad amounts, unknown members and malformed months are refused with their code', () => {
  for (const amount of ['-5', '75.001', '7,50', 'ten']) {
    const refused = dctrl(['payment', 'record-cash', ada, amount, ...common]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /CORE_AMOUNT_INVALID/);
  }
  assert.match(dctrl(['payment', 'record-cash', 'nobody', '5', ...common]).stderr, /REPORTER_MEMBER_UNKNOWN: no member nobody/);
  assert.match(dctrl(['report', 'income', '--month', '2026-13', ...common]).stderr, /REPORTER_MONTH_INVALID/);
  assert.match(dctrl(['report', 'members', '--format', 'xml', ...common]).stderr, /CLI_OPTION_INVALID/);
});

test('reports as a table, JSON and CSV', () => {
  const members = dctrl(['report', 'members', ...common]);
  assert.equal(members.status, 0, members.stderr);
  assert.match(members.stdout, /Ada Lovelace\s+member\s+active\s+member\s+72\.50\s+members tier:member/);
  assert.match(members.stdout, /1 active, 0 inactive, 0 left/);
  const income = dctrl(['report', 'income', '--month', thisMonth, '--format', 'csv', ...common]);
  assert.match(income.stdout, new RegExp(`^month,section,source,method,currency,entries,cents,amount,sats\\n`));
  assert.match(income.stdout, new RegExp(`${thisMonth},received,member-payments,cash,CAD,1,7500,75.00,0`));
  assert.match(income.stdout, new RegExp(`${thisMonth},earned,donations,cash,CAD,1,2000,20.00,0`));
  const statement = JSON.parse(dctrl(['report', 'statement', ada, '--format', 'json', ...common]).stdout) as {
    closingCents: number;
    entries: { kind: string }[];
  };
  assert.deepEqual([statement.closingCents, statement.entries.map((entry) => entry.kind)], [7_250, ['payment', 'adjustment']]);
  assert.match(dctrl(['report', 'balances', ...common]).stdout, /credit held 72\.50/);
});

test('the ledger in the order recorded, one member’s, and from an entry on as CSV to append', () => {
  const table = dctrl(['report', 'ledger', ...common]);
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /^entry\s+date\s+month\s+kind\s+member\s+method\s+amount\s+note\n/);
  assert.match(table.stdout, /\n\w{26}\s+\S+\s+\S+\s+donation\s+cash\s+20\.00 CAD\s+open house jar\n$/);
  const ledger = JSON.parse(dctrl(['report', 'ledger', '--member', ada, '--format', 'json', ...common]).stdout) as {
    entries: { id: string; kind: string; cents: number }[];
    next: string | null;
  };
  assert.deepEqual(
    ledger.entries.map((entry) => `${entry.kind}:${entry.cents}`),
    ['payment:7500', 'adjustment:-250'],
  );
  const rest = dctrl(['report', 'ledger', '--after', ledger.entries[0]!.id, '--format', 'csv', ...common]).stdout.split('\n');
  assert.deepEqual(
    rest.map((line) => line.split(',')[3]),
    ['adjustment', 'donation', undefined],
    'no header, then the two entries after the payment, then the final newline',
  );
});

test('the dues job and a rebuild run on demand; the rebuild finds nothing different', () => {
  assert.match(dctrl(['report', 'run', ...common]).stdout, /^charged 0 dues/);
  const rebuilt = dctrl(['report', 'rebuild', ...common]);
  assert.equal(rebuilt.status, 0, rebuilt.stderr);
  assert.match(rebuilt.stdout, /rebuilt 1 accounts from 1 member facts and 3 ledger entries in \d+ ms: identical to before/);
});
