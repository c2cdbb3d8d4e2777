// A door on its own machine, as a Pi runs it: the hub exports the door's credentials (its key, a token, the pinned
// BusinessMgr key), the door runs only its MachineNotifier and MachineMgr against the hub's broker, and a tap there is
// decided by the hub. (The door deciding from its allow-list with the hub gone is in test/machines.)
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { dctrl, dctrlBackground, startHub, type RunningCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/harness.js';

let hub: RunningCli;
let door: RunningCli | undefined;
let common: string[];
let brokerUrl: string;
const doorDir = tempDir();
const bundle = join(doorDir, 'front-door.creds.json');

before(async () => {
  // The hub runs no device of its own: the front door is the other process.
  ({ hub, common } = await startHub(['--set', 'machines.local=']));
  brokerUrl = common[common.indexOf('--set') + 1]!.replace('broker.port=', 'mqtt://127.0.0.1:');
  const added = dctrl(['member', 'add', '--name', 'Grace Hopper', '--email', 'grace@example.org', ...common]);
  assert.equal(added.status, 0, added.stderr);
  const grace = added.stdout.split(/\s+/)[0]!;
  assert.equal(dctrl(['member', 'issue-fob', grace, '0004231001', ...common]).status, 0);
  assert.equal(dctrl(['member', 'group', grace, 'keyholders', ...common]).status, 0);
});
after(async () => {
  await door?.stop();
  await hub?.stop();
});

test('the exported bundle carries the door’s key and the pinned BusinessMgr key; the door runs alone and a tap there is decided by the hub', async () => {
  const exported = dctrl(['vault', 'export', 'front-door', '--out', bundle, ...common]);
  assert.equal(exported.status, 0, exported.stderr);
  const [entry] = (
    JSON.parse(readFileSync(bundle, 'utf8')) as { clients: { client: string; pinnedKeys?: Record<string, string> }[] }
  ).clients;
  const keys = dctrl(['keys', 'list', ...common]).stdout;
  assert.equal(entry?.client, 'front-door');
  assert.ok(
    entry?.pinnedKeys?.['business-mgr'] && keys.includes(entry.pinnedKeys['business-mgr']),
    'the pin is BusinessMgr’s key',
  );

  door = dctrlBackground([
    'up',
    '--only',
    'machine-notifier,machine-mgr',
    '--credentials',
    bundle,
    '--broker',
    brokerUrl,
    '--data-dir',
    doorDir,
  ]);
  await door.waitFor('Press Ctrl-C to stop.');
  assert.match(door.stdout(), /front-door: door, outputs door \(simulated\)/);
  assert.doesNotMatch(door.stdout(), /vending/, 'only the devices its bundle carries');
  let decided = '';
  const deadline = Date.now() + 20_000;
  while (!/front-door\s+open\s+keyholder/.test(decided) && Date.now() < deadline) {
    decided = dctrl(['sim', 'tap', 'front-door', '0004231001', ...common]).stdout;
    if (!/open/.test(decided)) await new Promise((resolve) => setTimeout(resolve, 500));
  }
  assert.match(decided, /front-door\s+open\s+keyholder\s+fob/);
});

test('the door stops cleanly', async () => {
  assert.equal(await door!.stop('SIGINT'), 0);
  assert.match(door!.stdout(), /stopped cleanly/);
  door = undefined;
});
