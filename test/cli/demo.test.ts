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
