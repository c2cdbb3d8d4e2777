// `dctrl tier|product|policy` against a running hub, as the treasurer uses them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dctrl, dctrlBackground, type RunningCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/harness.js';
import { freePort } from '../helpers/mosquitto.js';

let hub: RunningCli;
let common: string[];

before(async () => {
  const dataDir = tempDir();
  const port = await freePort();
  common = ['--data-dir', dataDir, '--set', `broker.port=${port}`, '--set', `broker.url=mqtt://127.0.0.1:${port}`];
  hub = dctrlBackground(['up', ...common]);
  await hub.waitFor('Press Ctrl-C to stop.');
});
after(async () => {
  await hub.stop();
});

test('a new tier from a day on: the day before does not have it, that day does', () => {
  const set = dctrl(['tier', 'set', 'student', '--name', 'Student', '--dues-cents', '4000', '--from', '2026-12-01', ...common]);
  assert.equal(set.status, 0, set.stderr);
  assert.match(set.stdout, /tier student set from 2026-12-01/);
  assert.doesNotMatch(dctrl(['tier', 'list', '--at', '2026-11-30', ...common]).stdout, /student/);
  const listed = JSON.parse(dctrl(['tier', 'list', '--at', '2026-12-01', '--json', ...common]).stdout) as {
    tiers: Record<string, { monthlyDuesCents: number }>;
  };
  assert.equal(listed.tiers.student?.monthlyDuesCents, 4_000);
  assert.equal(listed.tiers.member?.monthlyDuesCents, 7_500);
});

test('a policy takes effect today by default; products and policies list what is in force', () => {
  assert.equal(dctrl(['policy', 'set', 'graceDays', '14', ...common]).status, 0);
  assert.match(dctrl(['policy', 'list', ...common]).stdout, /graceDays\s+14/);
  const product = dctrl([
    'product',
    'set',
    'club-mate',
    '--name',
    'Club-Mate',
    '--price-cents',
    '350',
    '--machine',
    'vending-1',
    '--output',
    'gpiochip0:17',
    ...common,
  ]);
  assert.equal(product.status, 0, product.stderr);
  assert.match(dctrl(['product', 'list', ...common]).stdout, /club-mate\s+.*"priceCents":350/);
});

test('bad input is refused with its code and changes nothing', () => {
  const fractional = dctrl([
    'product',
    'set',
    'mate',
    '--name',
    'M',
    '--price-cents',
    '3.5',
    '--machine',
    'v',
    '--output',
    'o',
    ...common,
  ]);
  assert.equal(fractional.status, 1);
  assert.match(fractional.stderr, /CLI_OPTION_INVALID: --price-cents expects a whole number/);
  const negative = dctrl([
    'product',
    'set',
    'mate',
    '--name',
    'M',
    '--price-cents',
    '-3',
    '--machine',
    'v',
    '--output',
    'o',
    ...common,
  ]);
  assert.equal(negative.status, 1);
  assert.match(negative.stderr, /BUSINESS_DATA_VALUE_INVALID: .*priceCents/);
  const badDay = dctrl(['policy', 'set', 'graceDays', '5', '--from', '2026-13-01', ...common]);
  assert.match(badDay.stderr, /BUSINESS_DATA_DATE_INVALID/);
  const unknown = dctrl(['policy', 'set', 'freeBeer', 'true', ...common]);
  assert.match(unknown.stderr, /BUSINESS_DATA_UNKNOWN_POLICY: no policy "freeBeer"; policies are /);
  assert.doesNotMatch(dctrl(['product', 'list', ...common]).stdout, /^\s+mate\s/m);
});

test('without a running hub the command says so', () => {
  const dataDir = tempDir();
  assert.equal(dctrl(['vault', 'init', '--data-dir', dataDir]).status, 0);
  const result = dctrl(['tier', 'list', '--data-dir', dataDir, '--set', 'broker.url=mqtt://127.0.0.1:1']);
  assert.equal(result.status, 1);
  assert.match(result.stderr, /CLI_HUB_UNREACHABLE: cannot reach the hub at mqtt:\/\/127\.0\.0\.1:1/);
});

test('dctrl member: add, issue and revoke a fob by its last digits, leave; the fob number never reaches the hub', () => {
  const added = dctrl(['member', 'add', '--name', 'Grace Hopper', '--email', 'grace@example.org', ...common]);
  assert.equal(added.status, 0, added.stderr);
  const memberId = added.stdout.split(/\s+/)[0]!;
  const issued = dctrl(['member', 'issue-fob', memberId, '0004231337', ...common]);
  assert.equal(issued.status, 0, issued.stderr);
  assert.match(issued.stdout, /…337/);
  assert.match(dctrl(['member', 'list', ...common]).stdout, new RegExp(`${memberId}\\s+Grace Hopper.*…337`));
  assert.doesNotMatch(hub.stdout() + hub.stderr(), /0004231337/);
  assert.match(dctrl(['member', 'revoke-fob', memberId, '337', ...common]).stdout, /no fob/);
  assert.match(dctrl(['member', 'leave', memberId, ...common]).stdout, /left/);
  assert.doesNotMatch(dctrl(['member', 'list', ...common]).stdout, /Grace Hopper/);
  const bad = dctrl(['member', 'add', '--name', 'X', '--email', 'not-an-email', ...common]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /MEMBER_DATA_EMAIL_INVALID/);
});
