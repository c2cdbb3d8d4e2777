// GPIO buttons and sensors: through a test double of the input backend, values are published after active-low
// inversion and debounce; the libgpiod tools' flags and output for v1.6 and v2; the real tools where installed, and a
// real chip where one exists.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Envelope } from '../../src/core/envelope.js';
import { ManualClock } from '../../src/core/clock.js';
import type { PayloadOf } from '../../src/core/contract.js';
import { silentLogger } from '../../src/core/logger.js';
import { MachineInput } from '../../src/core/messages-machine.js';
import {
  createGpiomonBackend,
  detectGpiod,
  gpiogetArgs,
  gpiomonArgs,
  parseGpiodVersion,
  parseGpiogetOutput,
  parseGpiomonLine,
  type InputBackend,
  type InputLine,
  type InputWatcher,
  type Level,
} from '../../src/machine-notifier/index.js';
import type { MachineNotifierError } from '../../src/machine-notifier/errors.js';
import { eventually, tempDir } from '../helpers/harness.js';
import { startRig, type Rig } from './rig.js';

/** The test double: records what it was asked to watch and lets the test move the lines. */
class FakeInputBackend implements InputBackend {
  readonly name = 'fake';
  lines: InputLine[] = [];
  stopped = false;
  #watcher: InputWatcher | undefined;

  start(lines: readonly InputLine[], watcher: InputWatcher): Promise<void> {
    this.lines = [...lines];
    this.#watcher = watcher;
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.stopped = true;
    return Promise.resolve();
  }

  set(chip: string, line: number, level: Level): void {
    this.#watcher!.level({ chip, line }, level);
  }
}

type Input = { payload: PayloadOf<typeof MachineInput>; envelope: Envelope<PayloadOf<typeof MachineInput>> };

describe('GPIO inputs through the test double', () => {
  const clock = new ManualClock(Date.UTC(2026, 2, 1, 9));
  const backend = new FakeInputBackend();
  const seen: Input[] = [];
  let rig: Rig;

  before(async () => {
    rig = await startRig({
      clock,
      deviceConfig: {
        inputs: [
          { name: 'door-contact', kind: 'sensor', chip: 'gpiochip0', line: 4, activeLow: true, debounceMs: 50 },
          { name: 'exit-button', kind: 'button', chip: '/dev/gpiochip1', line: 17, debounceMs: 0 },
        ],
      },
      notifier: { inputBackend: backend },
    });
    const watcher = await rig.h.client('watcher', { extra: { sub: ['dctrl/v1/+/input'] } });
    await watcher.listen(MachineInput, (payload, envelope) => void seen.push({ payload, envelope }));
    await eventually(() => rig.notifier.stats().busConnected, 'the notifier on the bus');
  });
  after(async () => rig.stop());

  const values = (name: string) => seen.filter((input) => input.payload.input === name).map((input) => input.payload.value);

  test('the backend is asked for the configured lines', () => {
    assert.deepEqual(backend.lines, [
      { chip: 'gpiochip0', line: 4 },
      { chip: '/dev/gpiochip1', line: 17 },
    ]);
  });

  test('an active-low sensor: low is 1, high is 0; signed by the device', async () => {
    backend.set('gpiochip0', 4, 1);
    await eventually(() => values('door-contact').length === 1, 'the level at start');
    clock.advance(1_000);
    backend.set('gpiochip0', 4, 0);
    await eventually(() => values('door-contact').length === 2, 'the change');
    assert.deepEqual(values('door-contact'), [0, 1]);
    const last = seen.at(-1)!;
    assert.equal(last.envelope.issuer, 'door-1');
    assert.deepEqual(last.payload, { device: 'door-1', input: 'door-contact', kind: 'sensor', value: 1, at: clock.now() });
  });

  test('a bounce inside debounceMs is no change; a change that settles is passed on when the window ends', async () => {
    const before = values('door-contact').length;
    clock.advance(10);
    backend.set('gpiochip0', 4, 1);
    clock.advance(5);
    backend.set('gpiochip0', 4, 0);
    // The window (50 ms) ends and the line is where it was: nothing to say.
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(values('door-contact').length, before, 'the bounce was swallowed');

    // Closed (0) at once; then it chatters and settles open (1) inside the window: passed on when the window ends.
    const passedBefore = rig.notifier.stats().inputs;
    clock.advance(1_000);
    backend.set('gpiochip0', 4, 1);
    clock.advance(10);
    backend.set('gpiochip0', 4, 0);
    clock.advance(10);
    backend.set('gpiochip0', 4, 1);
    clock.advance(10);
    backend.set('gpiochip0', 4, 0);
    assert.equal(rig.notifier.stats().inputs - passedBefore, 1, 'only the first change so far');
    await eventually(() => values('door-contact').length === before + 2, 'where it settled');
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.deepEqual(values('door-contact').slice(before), [0, 1]);
  });

  test('a button without debounce, active high, on a chip named by its path', async () => {
    backend.set('/dev/gpiochip1', 17, 0);
    clock.advance(100);
    backend.set('/dev/gpiochip1', 17, 1);
    clock.advance(100);
    backend.set('/dev/gpiochip1', 17, 0);
    await eventually(() => values('exit-button').length === 3, 'three button values');
    assert.deepEqual(values('exit-button'), [0, 1, 0]);
    assert.ok(seen.filter((input) => input.payload.input === 'exit-button').every((input) => input.payload.kind === 'button'));
  });

  test('stop() stops the backend', async () => {
    await rig.notifier.stop();
    assert.equal(backend.stopped, true);
  });
});

describe('the libgpiod tools, v1.6 and v2', () => {
  test('the version from --version', () => {
    const v1 = 'gpiomon (libgpiod) v1.6.3\nCopyright (C) 2017-2018 Bartosz Golaszewski\nLicense: LGPLv2.1\n';
    assert.deepEqual(parseGpiodVersion(v1), { major: 1, minor: 6 });
    assert.deepEqual(parseGpiodVersion('gpiomon (libgpiod) v2.1\nCopyright (C) 2017-2023 Bartosz Golaszewski\n'), {
      major: 2,
      minor: 1,
    });
    assert.deepEqual(parseGpiodVersion('gpiomon (libgpiod) v2.2.1'), { major: 2, minor: 2 });
    assert.equal(parseGpiodVersion('command not found'), undefined);
  });

  test('gpiomon and gpioget flags', () => {
    assert.deepEqual(gpiomonArgs({ major: 1, minor: 6 }, 'gpiochip0', [4, 17]), [
      '--line-buffered',
      '--format=%o %e',
      'gpiochip0',
      '4',
      '17',
    ]);
    assert.deepEqual(gpiomonArgs({ major: 2, minor: 1 }, '/dev/gpiochip0', [4]), [
      '--chip',
      '/dev/gpiochip0',
      '--format',
      '%o %e',
      '4',
    ]);
    assert.deepEqual(gpiogetArgs({ major: 1, minor: 6 }, 'gpiochip0', [4, 17]), ['gpiochip0', '4', '17']);
    assert.deepEqual(gpiogetArgs({ major: 2, minor: 0 }, 'gpiochip0', [4]), ['--chip', 'gpiochip0', '--numeric', '4']);
  });

  test('events: rising is 1 in both; falling is 0 in v1 and 2 in v2', () => {
    assert.deepEqual(parseGpiomonLine('4 1'), { offset: 4, level: 1 });
    assert.deepEqual(parseGpiomonLine('4 0'), { offset: 4, level: 0 });
    assert.deepEqual(parseGpiomonLine('17 2'), { offset: 17, level: 0 });
    assert.equal(parseGpiomonLine('event:  RISING EDGE offset: 4 timestamp: [     123.000000001]'), undefined);
    assert.equal(parseGpiomonLine('4 3'), undefined);
  });

  test('gpioget values', () => {
    assert.deepEqual(parseGpiogetOutput('0 1\n', 2), [0, 1]);
    assert.deepEqual(parseGpiogetOutput('1\n', 1), [1]);
    assert.equal(parseGpiogetOutput('"4"=active\n', 1), undefined);
    assert.equal(parseGpiogetOutput('0\n', 2), undefined);
  });

  const installed = spawnSync('gpiomon', ['--version'], { encoding: 'utf8' });
  test(
    'the installed gpiomon is detected with its version',
    { skip: installed.status === 0 ? false : 'gpiomon is not installed here (Debian package gpiod)' },
    async () => {
      const version = await detectGpiod();
      assert.match(installed.stdout, new RegExp(`v${version.major}\\.${version.minor}`));
    },
  );

  test('a missing gpiomon is reported as unavailable', async () => {
    await assert.rejects(detectGpiod('/nonexistent/gpiomon'), { code: 'MACHINE_NOTIFIER_GPIO_UNAVAILABLE' });
    const backend = createGpiomonBackend({ logger: silentLogger, gpiomon: '/nonexistent/gpiomon' });
    await assert.rejects(backend.start([{ chip: 'gpiochip0', line: 0 }], { level: () => undefined, problem: () => undefined }), {
      code: 'MACHINE_NOTIFIER_GPIO_UNAVAILABLE',
    });
  });
});

/** Stand-ins for gpiomon and gpioget of one libgpiod version: they record their arguments and print fixed events. */
function standInTools(version: '1.6.3' | '2.1', events: string[], then: 'wait' | 'exit'): { dir: string; calls: () => string[] } {
  const dir = tempDir('dctrl-gpiod-');
  const calls = join(dir, 'calls');
  writeFileSync(calls, '');
  const script = (name: string, body: string) => {
    const path = join(dir, name);
    writeFileSync(
      path,
      [
        '#!/bin/sh',
        `if [ "$1" = "--version" ]; then echo "${name} (libgpiod) v${version}"; echo "Copyright (C) 2017 Bartosz Golaszewski"; exit 0; fi`,
        `echo "${name} $*" >> ${calls}`,
        body,
      ].join('\n'),
    );
    chmodSync(path, 0o755);
  };
  script('gpioget', 'echo 0');
  script('gpiomon', [...events.map((event) => `echo "${event}"`), then === 'wait' ? 'exec sleep 600' : 'exit 3'].join('\n'));
  return { dir, calls: () => readFileSync(calls, 'utf8').split('\n').filter(Boolean) };
}

describe('the gpiomon backend with stand-in tools', () => {
  for (const [version, falling] of [
    ['1.6.3', '0'],
    ['2.1', '2'],
  ] as const) {
    test(`v${version}: the level from gpioget, then each edge; stop() ends gpiomon`, async () => {
      const tools = standInTools(version, [`4 1`, `4 ${falling}`, `9 1`], 'wait');
      const backend = createGpiomonBackend({
        logger: silentLogger,
        gpiomon: join(tools.dir, 'gpiomon'),
        gpioget: join(tools.dir, 'gpioget'),
      });
      const levels: [number, Level][] = [];
      const problems: string[] = [];
      await backend.start([{ chip: 'gpiochip0', line: 4 }], {
        level: (line, level) => void levels.push([line.line, level]),
        problem: (error) => void problems.push(error.code),
      });
      await eventually(
        () => levels.length === 3,
        () => `three levels, got ${JSON.stringify(levels)}`,
      );
      // Line 9 is not watched: its event is not passed on.
      assert.deepEqual(levels, [
        [4, 0],
        [4, 1],
        [4, 0],
      ]);
      const major = version.startsWith('2') ? 2 : 1;
      assert.deepEqual(tools.calls(), [
        `gpioget ${gpiogetArgs({ major, minor: 0 }, 'gpiochip0', [4]).join(' ')}`,
        `gpiomon ${gpiomonArgs({ major, minor: 0 }, 'gpiochip0', [4]).join(' ')}`,
      ]);
      await backend.stop();
      assert.deepEqual(problems, []);
      const children = spawnSync('ps', ['-o', 'args=', '--ppid', String(process.pid)], { encoding: 'utf8' }).stdout;
      assert.doesNotMatch(children, /sleep 600/, 'the stand-in gpiomon is gone');
    });
  }

  test('a gpiomon that exits is reported and started again, with the levels read again first', async () => {
    const tools = standInTools('2.1', ['4 1'], 'exit');
    const backend = createGpiomonBackend({
      logger: silentLogger,
      gpiomon: join(tools.dir, 'gpiomon'),
      gpioget: join(tools.dir, 'gpioget'),
      restartMs: 30,
    });
    const levels: Level[] = [];
    const problems: string[] = [];
    await backend.start([{ chip: 'gpiochip0', line: 4 }], {
      level: (_, level) => void levels.push(level),
      problem: (error) => void problems.push(error.code),
    });
    try {
      await eventually(() => levels.length >= 4, 'two rounds of gpioget and gpiomon');
      assert.deepEqual(levels.slice(0, 4), [0, 1, 0, 1]);
      assert.ok(problems.length >= 1 && problems.every((code) => code === 'MACHINE_NOTIFIER_GPIO_FAILED'));
    } finally {
      await backend.stop();
    }
    const calls = tools.calls().length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(tools.calls().length, calls, 'nothing is started again after stop()');
  });
});

/** A chip, and an input line on it that nothing holds, where this machine has GPIO; else why the test cannot run. */
function realLine(): { line: InputLine } | { skip: string } {
  const chips = readdirSync('/dev').filter((name) => /^gpiochip\d+$/.test(name));
  if (chips.length === 0) return { skip: 'no /dev/gpiochip* on this machine (no GPIO hardware or gpio-sim)' };
  if (spawnSync('gpiomon', ['--version']).status !== 0) return { skip: 'gpiomon is not installed (Debian package gpiod)' };
  for (const chip of chips) {
    const info = spawnSync('gpioinfo', [chip], { encoding: 'utf8' }).stdout ?? '';
    // v1: `line   3:      unnamed       unused   input  active-high`; v2: `line   3: unnamed input`.
    const free = /line\s+(\d+):\s+\S+\s+(?:unused\s+)?input\b/.exec(info);
    if (free) return { line: { chip, line: Number(free[1]) } };
  }
  return { skip: `no unused input line on ${chips.join(', ')}` };
}

describe('the libgpiod backend on a real chip', () => {
  const found = realLine();
  test('reports the level of a real line and ends gpiomon on stop', { skip: 'skip' in found ? found.skip : false }, async () => {
    const { line } = found as { line: InputLine };
    const backend = createGpiomonBackend({ logger: silentLogger });
    const levels: Level[] = [];
    const problems: MachineNotifierError[] = [];
    await backend.start([line], { level: (_, level) => void levels.push(level), problem: (error) => void problems.push(error) });
    try {
      await eventually(() => levels.length > 0 || problems.length > 0, 'the level from gpioget');
      assert.deepEqual(problems, []);
      assert.ok(levels[0] === 0 || levels[0] === 1);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const children = spawnSync('ps', ['-o', 'comm=', '--ppid', String(process.pid)], { encoding: 'utf8' }).stdout;
      assert.match(children, /gpiomon/, 'gpiomon runs while watching');
    } finally {
      await backend.stop();
    }
    const children = spawnSync('ps', ['-o', 'comm=', '--ppid', String(process.pid)], { encoding: 'utf8' }).stdout;
    assert.doesNotMatch(children, /gpiomon/, 'and is gone after stop()');
  });
});
