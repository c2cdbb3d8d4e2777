// The distributed setup over TLS, as the README tells it: `dctrl tls init` on the hub, the hub serving mqtts:// with one
// switch, a door started from an exported bundle that pins the hub's CA, and the command line over mqtts://. A broker
// with a certificate from another CA is refused by the door and by the command line, each with its code.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { initBrokerTls } from '../../src/cli/tls.js';
import { brokerTlsPaths } from '../../src/core/broker-tls.js';
import { systemClock } from '../../src/core/clock.js';
import { dctrl, dctrlBackground, type RunningCli } from '../helpers/cli.js';
import { startHarness, tempDir, type Harness } from '../helpers/harness.js';
import { freePort } from '../helpers/mosquitto.js';

let hub: RunningCli;
let door: RunningCli | undefined;
let stranger: Harness;
let common: string[];
let tlsPort: number;
const hubDir = tempDir();
const doorDir = tempDir();
const bundle = join(doorDir, 'front-door.creds.json');

/** A command run without blocking this process, which hosts the stranger's broker. */
async function run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const running = dctrlBackground(args);
  const status = await new Promise<number | null>((resolve) => running.child.once('exit', resolve));
  return { status, stdout: running.stdout(), stderr: running.stderr() };
}

before(async () => {
  const init = dctrl(['tls', 'init', '--data-dir', hubDir]);
  assert.equal(init.status, 0, init.stderr);
  assert.match(init.stdout, /CA created/);
  const port = await freePort();
  tlsPort = await freePort();
  common = ['--data-dir', hubDir, '--set', `broker.port=${port}`, '--set', `broker.url=mqtt://127.0.0.1:${port}`];
  // The one switch; the TLS listener kept on loopback here, as tests send nothing anywhere else.
  const tls = ['--set', 'broker.tls.enabled=true', '--set', `broker.tls.port=${tlsPort}`, '--set', 'broker.tls.host=127.0.0.1'];
  hub = dctrlBackground(['up', '--set', 'machines.local=', ...tls, ...common]);
  await hub.waitFor('Press Ctrl-C to stop.', 120_000);
  const added = dctrl(['member', 'add', '--name', 'Grace Hopper', '--email', 'grace@example.org', ...common]);
  assert.equal(added.status, 0, added.stderr);
  const grace = added.stdout.split(/\s+/)[0]!;
  assert.equal(dctrl(['member', 'issue-fob', grace, '0004231001', ...common]).status, 0);
  assert.equal(dctrl(['member', 'group', grace, 'keyholders', ...common]).status, 0);

  const strangerTls = brokerTlsPaths(tempDir());
  await initBrokerTls(join(strangerTls.dir, '..'), {}, systemClock);
  stranger = await startHarness({
    config: {
      broker: {
        tls: { enabled: true, host: '127.0.0.1', port: 0, certFile: strangerTls.serverCert, keyFile: strangerTls.serverKey },
      },
    },
  });
});
after(async () => {
  await door?.stop();
  await hub?.stop();
  await stranger?.stop();
});

const strangerUrl = () => stranger.broker.urls.find((url) => url.startsWith('mqtts://'))!.replace('127.0.0.1', 'localhost');

test('the hub says where it serves mqtts://, with plain MQTT on loopback', () => {
  assert.match(
    hub.stdout(),
    new RegExp(`broker \\(mqtts\\): mqtts://127\\.0\\.0\\.1:${tlsPort} \\(certificate .*server\\.pem\\)`),
  );
  assert.match(hub.stdout(), /broker \(mqtt\): mqtt:\/\/127\.0\.0\.1:/);
});

test('the exported bundle carries the hub’s CA; the door runs from it over mqtts:// and a tap there is decided by the hub', async () => {
  const exported = dctrl(['vault', 'export', 'front-door', '--out', bundle, ...common]);
  assert.equal(exported.status, 0, exported.stderr);
  assert.match(exported.stdout, /with the hub’s CA/);
  const written = JSON.parse(readFileSync(bundle, 'utf8')) as { brokerCa?: string };
  assert.equal(written.brokerCa, readFileSync(brokerTlsPaths(hubDir).caCert, 'utf8'));

  door = dctrlBackground([
    'up',
    '--only',
    'machine-notifier,machine-mgr',
    '--credentials',
    bundle,
    '--broker',
    `mqtts://localhost:${tlsPort}`,
    '--data-dir',
    doorDir,
  ]);
  await door.waitFor('Press Ctrl-C to stop.', 120_000);
  let decided = '';
  const deadline = Date.now() + 20_000;
  while (!/front-door\s+open\s+keyholder/.test(decided) && Date.now() < deadline) {
    decided = dctrl(['sim', 'tap', 'front-door', '0004231001', ...common]).stdout;
    if (!/open/.test(decided)) await new Promise((resolve) => setTimeout(resolve, 500));
  }
  assert.match(decided, /front-door\s+open\s+keyholder\s+fob/);
  assert.equal(await door.stop('SIGINT'), 0);
  door = undefined;
});

test('the command line reaches the hub over mqtts://, checking its certificate against the CA in the data folder', async () => {
  const listed = await run(['member', 'list', ...common, '--set', `broker.url=mqtts://localhost:${tlsPort}`]);
  assert.equal(listed.status, 0, listed.stderr);
  assert.match(listed.stdout, /Grace Hopper/);
});

test('a broker with a certificate from another CA is refused by the command line and by the door, each with its code', async () => {
  const cli = await run(['member', 'list', ...common, '--set', `broker.url=${strangerUrl()}`]);
  assert.equal(cli.status, 1);
  assert.match(
    cli.stderr,
    /CLI_BROKER_UNTRUSTED: the broker at mqtts:\/\/localhost:\d+ did not prove it is the hub \(UNABLE_TO_VERIFY_LEAF_SIGNATURE/,
  );

  // A door keeps deciding from its allow-list while it cannot reach the hub; an impostor is no hub: it says so, and retries.
  const device = dctrlBackground([
    'up',
    '--only',
    'machine-notifier,machine-mgr',
    '--credentials',
    bundle,
    '--broker',
    strangerUrl(),
    '--data-dir',
    tempDir(),
  ]);
  try {
    const deadline = Date.now() + 30_000;
    while (!/"cause":"AUTH_PROXY_BROKER_UNTRUSTED"/.test(device.stderr()) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 200));
    assert.match(device.stderr(), /"code":"MACHINE_NOTIFIER_BUS_UNREACHABLE","cause":"AUTH_PROXY_BROKER_UNTRUSTED"/);
    assert.match(device.stderr(), /did not prove it is the hub \(UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    assert.doesNotMatch(device.stderr(), /on the bus/);
  } finally {
    await device.stop();
  }
});
