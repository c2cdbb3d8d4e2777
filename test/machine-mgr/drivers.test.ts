// The output drivers: scripts that fail or hang (killed, reported, the next command still served), placeholders
// passed without a shell, gpioset command lines for libgpiod v1.6 and v2.x, and a real line where a gpiochip exists.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import {
  GpioDriver,
  ScriptDriver,
  SimulatedDriver,
  gpiosetMajor,
  gpiosetPulseArgs,
  type OutputDriver,
} from '../../src/machine-mgr/index.js';
import { eventually, tempDir } from '../helpers/harness.js';
import { startFixture, type Fixture } from './fixture.js';

const node = process.execPath;
const dir = tempDir('dctrl-machine-drivers-');
const argsFile = join(dir, 'args.txt');

let f: Fixture;
let cola: SimulatedDriver;

before(async () => {
  f = await startFixture({
    machines: {
      devices: {
        'vending-1': {
          kind: 'vending',
          vendSpacingMs: 0,
          outputs: {
            jammed: {
              driver: 'script',
              command: node,
              args: ['-e', "process.stderr.write('motor 2 jammed'); process.exit(3)"],
            },
            stuck: {
              driver: 'script',
              command: node,
              // Ignores SIGTERM, so only SIGKILL ends it.
              args: ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"],
              timeoutMs: 300,
            },
            recorded: {
              driver: 'script',
              command: node,
              args: [
                '-e',
                "require('fs').writeFileSync(process.argv[1], process.argv.slice(2).join('|'))",
                argsFile,
                '{device}',
                '{output}',
                '{action}',
                '{ms}',
                'a b;$(rm -rf /)',
              ],
            },
            cola: { driver: 'simulated' },
          },
        },
      },
    },
  });
});
after(async () => f.stop());

test('a failing script, a hanging one killed after its timeout, and the next command is still served', async () => {
  const mgr = await f.machine('vending-1', {
    createDriver: (output, actuator): OutputDriver => {
      if (actuator.driver === 'script') return new ScriptDriver('vending-1', actuator, { killGraceMs: 200 });
      cola = new SimulatedDriver({ timeScale: 0 });
      return cola;
    },
  });
  await eventually(() => mgr.connected(), 'vending-1 online');

  const jammed = await f.command('vending-1', { device: 'vending-1', action: 'vend', output: 'jammed' });
  const stuck = await f.command('vending-1', { device: 'vending-1', action: 'vend', output: 'stuck' });
  const served = await f.command('vending-1', { device: 'vending-1', action: 'vend', output: 'cola' });
  const started = Date.now();
  await eventually(() => f.actuations.some((a) => a.commandId === served.id), 'the vend after the hang', 5_000);

  const failed = f.actuations.find((a) => a.commandId === jammed.id)!;
  assert.equal(failed.outcome, 'failed');
  assert.equal(failed.driver, 'script');
  assert.equal(failed.error?.code, 'MACHINE_MGR_SCRIPT_FAILED');
  assert.match(failed.error.message, /exited with code 3: motor 2 jammed/);

  const hung = f.actuations.find((a) => a.commandId === stuck.id)!;
  assert.equal(hung.outcome, 'failed');
  assert.equal(hung.error?.code, 'MACHINE_MGR_SCRIPT_TIMEOUT');
  assert.match(hung.error.message, /300 ms timeout/);
  assert.match(hung.error.message, /SIGKILL/, 'SIGTERM was ignored, so SIGKILL ended it');
  assert.ok(hung.finishedAt - hung.startedAt >= 300, `killed after ${hung.finishedAt - hung.startedAt} ms`);

  const ok = f.actuations.find((a) => a.commandId === served.id)!;
  assert.equal(ok.outcome, 'actuated');
  assert.equal(cola.pulses().length, 1);
  assert.ok(Date.now() - started < 5_000);
  await mgr.stop();
});

test('script arguments get {device} {output} {action} {ms} and reach the script as they are, with no shell', async () => {
  const driver = new ScriptDriver('vending-1', f.h.config.machines.devices['vending-1']!.outputs['recorded'] as never);
  await driver.pulse({ ms: 500, action: 'vend', output: 'recorded' });
  assert.equal(readFileSync(argsFile, 'utf8'), 'vending-1|recorded|vend|500|a b;$(rm -rf /)');
});

test('a script that cannot start is a failure, not a crash', async () => {
  const driver = new ScriptDriver('vending-1', { driver: 'script', command: join(dir, 'missing'), args: [], timeoutMs: 1_000 });
  await assert.rejects(driver.pulse({ ms: 10, action: 'open', output: 'door' }), { code: 'MACHINE_MGR_SCRIPT_FAILED' });
});

test('stopping kills a running script and its pulse reports it was aborted', async () => {
  const driver = new ScriptDriver(
    'vending-1',
    { driver: 'script', command: node, args: ['-e', 'setInterval(() => {}, 1000)'], timeoutMs: 60_000 },
    { killGraceMs: 200 },
  );
  const pulse = driver.pulse({ ms: 10, action: 'open', output: 'door' });
  await new Promise((resolve) => setTimeout(resolve, 100));
  await driver.close();
  await assert.rejects(pulse, { code: 'MACHINE_MGR_PULSE_ABORTED' });
});

/** A stand-in gpioset that answers --version as the given release and records each call. */
function fakeGpioset(version: string): { path: string; calls: () => string[] } {
  const log = join(dir, `gpioset-${version}.log`);
  const path = join(dir, `gpioset-${version}`);
  writeFileSync(
    path,
    `#!/bin/sh\nif [ "$1" = "--version" ]; then echo "gpioset (libgpiod) v${version}"; exit 0; fi\necho "$*" >> "${log}"\n`,
  );
  chmodSync(path, 0o755);
  return { path, calls: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []) };
}

test('gpioset v1.6: a timed pulse, then the line set inactive; active-low passed on', async () => {
  const fake = fakeGpioset('1.6.3');
  const driver = new GpioDriver({ driver: 'gpio', chip: 'gpiochip0', line: 17, activeLow: true }, { gpioset: fake.path });
  assert.equal(await driver.version(), 1);
  await driver.pulse({ ms: 12_250, action: 'open', output: 'door' });
  assert.deepEqual(fake.calls(), [
    '--active-low --mode=time --sec=12 --usec=250000 gpiochip0 17=1',
    '--active-low gpiochip0 17=0',
  ]);
});

test('gpioset v2.x: a toggle after the pulse that leaves the line inactive and exits', async () => {
  const fake = fakeGpioset('2.1');
  const driver = new GpioDriver({ driver: 'gpio', chip: '/dev/gpiochip1', line: 4, activeLow: false }, { gpioset: fake.path });
  await driver.pulse({ ms: 500, action: 'vend', output: 'cola' });
  assert.deepEqual(fake.calls(), ['--chip /dev/gpiochip1 --toggle 500ms,0 4=1']);
  assert.deepEqual(gpiosetPulseArgs(2, { driver: 'gpio', chip: 'gpiochip0', line: 1, activeLow: true }, 12_000), [
    ['--active-low', '--chip', 'gpiochip0', '--toggle', '12000ms,0', '1=1'],
  ]);
});

test('gpioset versions are told apart; a missing or unknown gpioset is MACHINE_MGR_GPIO_UNAVAILABLE', async () => {
  assert.equal(gpiosetMajor('gpioset (libgpiod) v1.6.3'), 1);
  assert.equal(gpiosetMajor('gpioset (libgpiod) v2.0.2\nCopyright (C) 2017-2023 Bartosz Golaszewski'), 2);
  assert.equal(gpiosetMajor('gpioset 3.0'), undefined);
  const missing = new GpioDriver(
    { driver: 'gpio', chip: 'gpiochip0', line: 1, activeLow: false },
    { gpioset: join(dir, 'none') },
  );
  await assert.rejects(missing.pulse({ ms: 10, action: 'open', output: 'door' }), { code: 'MACHINE_MGR_GPIO_UNAVAILABLE' });
  const odd = fakeGpioset('3.0');
  const unknown = new GpioDriver({ driver: 'gpio', chip: 'gpiochip0', line: 1, activeLow: false }, { gpioset: odd.path });
  await assert.rejects(unknown.version(), { code: 'MACHINE_MGR_GPIO_UNAVAILABLE' });
});

// Real hardware (or the gpio-sim kernel module): DCTRL_TEST_GPIO_CHIP / DCTRL_TEST_GPIO_LINE choose a line that is
// safe to pulse; the first chip's line 0 otherwise.
const chips = existsSync('/dev') ? readdirSync('/dev').filter((name) => /^gpiochip\d+$/.test(name)) : [];
const gpiosetInstalled = spawnSync('gpioset', ['--version']).status === 0;
const skipGpio =
  chips.length === 0
    ? 'no /dev/gpiochip* on this machine'
    : !gpiosetInstalled
      ? 'gpioset (Debian package gpiod) is not installed'
      : false;

test('libgpiod on a real gpiochip: a 200 ms pulse holds the line and returns', { skip: skipGpio }, async () => {
  const chip = process.env['DCTRL_TEST_GPIO_CHIP'] ?? chips[0]!;
  const line = Number(process.env['DCTRL_TEST_GPIO_LINE'] ?? 0);
  const driver = new GpioDriver({ driver: 'gpio', chip, line, activeLow: false });
  const started = Date.now();
  await driver.pulse({ ms: 200, action: 'open', output: 'door' });
  assert.ok(Date.now() - started >= 190, `the pulse took ${Date.now() - started} ms`);
});
