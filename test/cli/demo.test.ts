// `npm start` (dctrl up --demo): the first run creates a small space with history; later runs leave it alone.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DateTime } from 'luxon';
import { dctrl, dctrlBackground } from '../helpers/cli.js';
import { tempDir } from '../helpers/harness.js';
import { freePort } from '../helpers/mosquitto.js';

let common: string[];
let upArgs: string[];

interface MembersReport {
  counts: { active: number; inactive: number; left: number };
  members: { name: string; status: string; balanceCents: number }[];
}

const members = () => JSON.parse(dctrl(['report', 'members', '--all', '--format', 'json', ...common]).stdout) as MembersReport;

before(async () => {
  const dataDir = tempDir();
  const port = await freePort();
  common = ['--data-dir', dataDir, '--set', `broker.url=mqtt://127.0.0.1:${port}`];
  upArgs = ['up', '--demo', '--data-dir', dataDir, '--set', `broker.port=${port}`];
});
after(() => undefined);

test('the first run fills the space: a dozen members, some behind on dues, and last month’s income', async () => {
  const hub = dctrlBackground(upArgs);
  try {
    await hub.waitFor('Press Ctrl-C to stop.');
    assert.match(hub.stdout(), /demo space: 11 current members with 6 months/);
    const report = members();
    assert.deepEqual(report.counts, { active: 8, inactive: 3, left: 1 });
    assert.ok(report.members.filter((member) => member.status === 'inactive').every((member) => member.balanceCents < 0));
    const lastMonth = DateTime.now().setZone('America/Vancouver').minus({ months: 1 }).toFormat('yyyy-MM');
    const income = dctrl(['report', 'income', '--month', lastMonth, '--format', 'csv', ...common]).stdout;
    assert.match(income, new RegExp(`${lastMonth},earned,dues,charged,CAD,\\d+,\\d+`));
    assert.match(income, new RegExp(`${lastMonth},received,member-payments,bitcoin,CAD,\\d+,\\d+,[\\d.]+,[1-9]\\d*`));
    assert.match(dctrl(['report', 'rebuild', ...common]).stdout, /identical to before/);
  } finally {
    assert.equal(await hub.stop(), 0);
  }
});

test('a later run leaves the space as it is', async () => {
  const hub = dctrlBackground(upArgs);
  try {
    await hub.waitFor('Press Ctrl-C to stop.');
    assert.doesNotMatch(hub.stdout(), /demo space/);
    assert.equal(members().members.length, 12);
  } finally {
    await hub.stop();
  }
});

test('the simulated door and vending machine: `dctrl sim tap` shows each decision, and `machine decisions` lists them', async () => {
  const hub = dctrlBackground(upArgs);
  try {
    await hub.waitFor('Press Ctrl-C to stop.');
    assert.match(hub.stdout(), /front-door: door, outputs door \(simulated\)/);
    const tap = (device: string, fob: string) => dctrl(['sim', 'tap', device, fob, ...common]);
    const ada = tap('front-door', '0004231000');
    assert.equal(ada.status, 0, ada.stderr);
    assert.match(ada.stdout, /front-door\s+open\s+keyholder\s+fob/);
    assert.match(tap('front-door', '0004231004').stdout, /front-door\s+stay shut\s+inactive/);
    assert.match(tap('front-door', '0004231099').stdout, /stay shut\s+unknown-fob\s+fob\s+fob …099/);
    assert.match(tap('vending', '0004231009').stdout, /vending\s+vend 1 × club-mate \(3\.50\)\s+member-active.*→ actuated/);
    const malformed = tap('front-door', '12345');
    assert.equal(malformed.status, 1);
    assert.match(malformed.stderr, /CORE_FOB_NUMBER_INVALID: a fob number is 10 digits/);
    const nowhere = tap('back-door', '0004231000');
    assert.match(nowhere.stderr, /no device "back-door" in machines.devices; configured: front-door, vending/);
    const listed = dctrl(['machine', 'decisions', '--limit', '10', ...common])
      .stdout.trim()
      .split('\n');
    assert.equal(listed.length, 4);
    assert.match(listed[0]!, /vending/);
    assert.match(
      dctrl(['machine', 'decisions', '--limit', '0', ...common]).stderr,
      /--limit expects a whole number from 1 to 200/,
    );
  } finally {
    assert.equal(await hub.stop(), 0);
  }
});
