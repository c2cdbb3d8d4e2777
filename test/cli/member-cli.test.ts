// `dctrl member group|badge|import` against a running hub, as the membership team uses them.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { dctrl, dctrlBackground, type RunningCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/harness.js';
import { freePort } from '../helpers/mosquitto.js';

let hub: RunningCli;
let common: string[];
let files: string;

/** Writes a CSV file for one test and returns its path. */
function csv(name: string, lines: string[]): string {
  const path = join(files, name);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

const memberCount = () => dctrl(['member', 'list', '--all', '--json', ...common]).stdout.match(/"memberId"/g)?.length ?? 0;

before(async () => {
  const dataDir = tempDir();
  files = tempDir('dctrl-csv-');
  const port = await freePort();
  common = ['--data-dir', dataDir, '--set', `broker.port=${port}`, '--set', `broker.url=mqtt://127.0.0.1:${port}`];
  hub = dctrlBackground(['up', ...common]);
  await hub.waitFor('Press Ctrl-C to stop.');
});
after(async () => {
  await hub.stop();
});

test('import adds every member of the file with their fobs; the fob numbers never reach the hub', () => {
  const file = csv('members.csv', [
    'name,email,tier,fob',
    'Ada Lovelace,ada@example.org,member,0004231337',
    '"Hopper, Grace",grace@example.org,member,',
    'Alan Turing,alan@example.org,member,0000000042',
  ]);
  const imported = dctrl(['member', 'import', file, ...common]);
  assert.equal(imported.status, 0, imported.stderr);
  assert.match(imported.stdout, /^imported 3 members\n/);
  const listed = dctrl(['member', 'list', ...common]).stdout;
  assert.match(listed, /Ada Lovelace .*…337/);
  assert.match(listed, /Hopper, Grace .*no fob/);
  assert.match(listed, /Alan Turing .*…042/);
  assert.doesNotMatch(hub.stdout() + hub.stderr(), /0004231337|0000000042/);
});

test('group and badge: added, shown, refused twice, taken away', () => {
  const memberId = dctrl(['member', 'list', ...common]).stdout.match(/^(\S+)\s+Ada Lovelace/m)![1]!;
  assert.match(dctrl(['member', 'group', memberId, 'keyholders', ...common]).stdout, /groups: keyholders/);
  assert.match(dctrl(['member', 'badge', memberId, 'laser-cutter', ...common]).stdout, /badges: laser-cutter/);
  const twice = dctrl(['member', 'group', memberId, 'keyholders', ...common]);
  assert.equal(twice.status, 1);
  assert.match(twice.stderr, /MEMBER_DATA_STATE_INVALID: member \S+ is already in the group "keyholders"/);
  const removed = dctrl(['member', 'group', memberId, 'keyholders', '--remove', ...common]);
  assert.equal(removed.status, 0, removed.stderr);
  assert.doesNotMatch(removed.stdout, /groups:/);
  assert.doesNotMatch(dctrl(['member', 'badge', memberId, 'laser-cutter', '--revoke', ...common]).stdout, /badges:/);
  const notHeld = dctrl(['member', 'badge', memberId, 'lathe', '--revoke', ...common]);
  assert.match(notHeld.stderr, /MEMBER_DATA_STATE_INVALID: member \S+ does not have the badge "lathe"/);
});

test('a row MemberData refuses names its line, and no member of the file is added', () => {
  const before = memberCount();
  const file = csv('bad-tier.csv', [
    'name,email,tier',
    'Barbara Liskov,barbara@example.org,member',
    'Edsger Dijkstra,edsger@example.org,member',
    'Ken Thompson,ken@example.org,gold',
  ]);
  const refused = dctrl(['member', 'import', file, ...common]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /MEMBER_DATA_TIER_UNKNOWN: line 4: "gold" is not an active tier .*member/);
  const duplicate = dctrl([
    'member',
    'import',
    csv('duplicate.csv', ['name,email,tier', 'Barbara Liskov,barbara@example.org,member', 'Ada Again,ADA@example.org,member']),
    ...common,
  ]);
  assert.match(duplicate.stderr, /MEMBER_DATA_EMAIL_TAKEN: line 3: /);
  assert.equal(memberCount(), before);
});

test('a malformed file is refused on this machine, naming the line, and nothing is sent', () => {
  const before = memberCount();
  const cases: [string[], RegExp][] = [
    [
      ['name,email,tier', 'Barbara,barbara@example.org,member', '"Ken,ken@example.org,member', 'Rob,rob@example.org,member'],
      /CLI_FAILED: line 3: a quoted field is never closed/,
    ],
    [
      ['name,email,tier', 'Barbara,barbara@example.org,member', 'Thompson, Ken,ken@example.org,member'],
      /CLI_FAILED: line 3: 4 fields where the header row has 3/,
    ],
    [['name,email', 'Barbara,barbara@example.org'], /CLI_FAILED: line 1: the header row has no tier column/],
    [['name,email,tier,phone', 'Barbara,barbara@example.org,member,555'], /CLI_FAILED: line 1: "phone" is not a column/],
    [
      ['name,email,tier,fob', 'Barbara,barbara@example.org,member,0000000001', 'Ken,ken@example.org,member,12345'],
      /CORE_FOB_NUMBER_INVALID: line 3: a fob number is 10 digits/,
    ],
  ];
  cases.forEach(([lines, expected], index) => {
    const result = dctrl(['member', 'import', csv(`malformed-${index}.csv`, lines), ...common]);
    assert.equal(result.status, 1, `case ${index}: ${result.stdout}`);
    assert.match(result.stderr, expected);
  });
  const long = dctrl([
    'member',
    'import',
    csv('long-name.csv', ['name,email,tier', `Barbara,barbara@example.org,member`, `${'x'.repeat(201)},ken@example.org,member`]),
    ...common,
  ]);
  assert.match(long.stderr, /CLI_FAILED: line 3: "name": /);
  assert.equal(memberCount(), before);
});

test('more than 300 members, or more than one bus message holds, is refused with the advice to split the file', () => {
  const rows = Array.from({ length: 301 }, (_, index) => `Member ${index},member-${index}@example.org,member`);
  const tooMany = dctrl(['member', 'import', csv('too-many.csv', ['name,email,tier', ...rows]), ...common]);
  assert.equal(tooMany.status, 1);
  assert.match(tooMany.stderr, /CLI_FAILED: \S+too-many\.csv has 301 members; one import takes at most 300: split it/);
  const tooBig = dctrl([
    'member',
    'import',
    csv('too-big.csv', ['name,email,tier', ...rows.slice(0, 40)]),
    ...common,
    '--set',
    'bus.maxMessageBytes=4096',
  ]);
  assert.match(
    tooBig.stderr,
    /CLI_FAILED: the 40 members take \d+ bytes, more than one bus message carries \(bus\.maxMessageBytes is 4096\); split/,
  );
  const missing = dctrl(['member', 'import', join(files, 'nowhere.csv'), ...common]);
  assert.match(missing.stderr, /CLI_FAILED: cannot read \S+nowhere\.csv/);
});
