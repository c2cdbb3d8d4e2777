// The USB keyboard reader: struct input_event records in both layouts, read by the notifier from a FIFO as from
// /dev/input/eventN; key presses only (releases and autorepeat ignored), top-row and keypad digits, Enter and KPEnter.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { hashFob } from '../../src/core/fob-hash.js';
import {
  defaultEvdevLayout,
  EVENT_BYTES,
  EvdevDecoder,
  encodeInputEvent,
  type EvdevLayout,
} from '../../src/machine-notifier/index.js';
import { eventually, tempDir } from '../helpers/harness.js';
import { fobNumber, startRig } from './rig.js';

const EV_SYN = 0;
const EV_KEY = 1;
const EV_MSC = 4;
const TOP_ROW: Record<string, number> = { '1': 2, '2': 3, '3': 4, '4': 5, '5': 6, '6': 7, '7': 8, '8': 9, '9': 10, '0': 11 };
const KEYPAD: Record<string, number> = {
  '7': 71,
  '8': 72,
  '9': 73,
  '4': 75,
  '5': 76,
  '6': 77,
  '1': 79,
  '2': 80,
  '3': 81,
  '0': 82,
};
const KEY_ENTER = 28;
const KEY_KPENTER = 96;
const KEY_A = 30;
const KEY_LEFTSHIFT = 42;

/** What a reader writes for one key: the scan code, the press, a sync, the release, a sync. */
function keyStroke(layout: EvdevLayout, code: number, options: { autorepeat?: boolean } = {}): Buffer[] {
  const event = (type: number, eventCode: number, value: number) => encodeInputEvent(layout, { type, code: eventCode, value });
  return [
    event(EV_MSC, 4, 0x70000 + code),
    event(EV_KEY, code, 1),
    event(EV_SYN, 0, 0),
    ...(options.autorepeat ? [event(EV_KEY, code, 2), event(EV_SYN, 0, 0), event(EV_KEY, code, 2)] : []),
    event(EV_KEY, code, 0),
    event(EV_SYN, 0, 0),
  ];
}

function typed(layout: EvdevLayout, digits: string, keys: Record<string, number>, enter: number): Buffer {
  return Buffer.concat([...[...digits].flatMap((digit) => keyStroke(layout, keys[digit]!)), ...keyStroke(layout, enter)]);
}

describe('the input_event decoder', () => {
  for (const layout of ['timeval64', 'timeval32'] as const) {
    test(`${layout}: ${EVENT_BYTES[layout]}-byte events, presses only, split anywhere`, () => {
      const bytes = Buffer.concat([
        ...keyStroke(layout, TOP_ROW['4']!, { autorepeat: true }),
        ...keyStroke(layout, KEYPAD['2']!),
        ...keyStroke(layout, KEY_LEFTSHIFT),
        ...keyStroke(layout, KEY_A),
        ...keyStroke(layout, KEY_KPENTER),
        ...keyStroke(layout, KEY_ENTER),
      ]);
      // Every way of cutting the stream in two gives the same keys: a FIFO may deliver any number of bytes.
      for (let cut = 0; cut <= bytes.length; cut += 5) {
        const decoder = new EvdevDecoder(layout);
        const keys = [...decoder.push(bytes.subarray(0, cut)), ...decoder.push(bytes.subarray(cut))];
        assert.deepEqual(keys, ['4', '2', '?', '\n', '\n'], `cut at ${cut}`);
      }
    });
  }

  test('the layout follows the process architecture: 16-byte events for 32-bit ARM and x86', () => {
    assert.equal(defaultEvdevLayout('arm'), 'timeval32');
    assert.equal(defaultEvdevLayout('ia32'), 'timeval32');
    assert.equal(defaultEvdevLayout('arm64'), 'timeval64');
    assert.equal(defaultEvdevLayout('x64'), 'timeval64');
  });

  test('a 24-byte stream read as 16-byte events gives no valid read (the layout matters)', () => {
    const decoder = new EvdevDecoder('timeval32');
    const keys = decoder.push(typed('timeval64', '1234567890', TOP_ROW, KEY_ENTER));
    assert.notDeepEqual(keys, [...'1234567890', '\n']);
  });
});

describe('an evdev reader on a FIFO', () => {
  const cases: { layout: EvdevLayout; keys: Record<string, number>; enter: number; name: string }[] = [
    { layout: 'timeval64', keys: TOP_ROW, enter: KEY_ENTER, name: '64-bit layout, top-row digits, Enter' },
    { layout: 'timeval32', keys: TOP_ROW, enter: KEY_ENTER, name: '32-bit layout, top-row digits, Enter' },
    { layout: 'timeval64', keys: KEYPAD, enter: KEY_KPENTER, name: '64-bit layout, keypad digits, KPEnter' },
    { layout: 'timeval32', keys: KEYPAD, enter: KEY_KPENTER, name: '32-bit layout, keypad digits, KPEnter' },
  ];
  for (const { layout, keys, enter, name } of cases) {
    test(`${name}: one tap with the fob's hash`, async () => {
      const fifo = join(tempDir('dctrl-evdev-'), 'event0');
      execFileSync('mkfifo', [fifo]);
      const rig = await startRig({
        online: false,
        deviceConfig: { reader: { kind: 'evdev', path: fifo } },
        notifier: { evdevLayout: layout },
      });
      // Read and write: this end never blocks waiting for the notifier, and the notifier's open finds a writer.
      const fd = openSync(fifo, constants.O_RDWR);
      try {
        const fob = fobNumber(1);
        const other = fobNumber(2);
        writeSync(fd, typed(layout, fob, keys, enter));
        // A second fob, delivered in two writes that split an event.
        const bytes = typed(layout, other, keys, enter);
        writeSync(fd, bytes.subarray(0, 100));
        await new Promise((resolve) => setTimeout(resolve, 20));
        writeSync(fd, bytes.subarray(100));
        await eventually(() => rig.taps.length >= 2, 'two taps');
        assert.deepEqual(
          rig.taps.map((tap) => tap.fob),
          [hashFob(fob, rig.key), hashFob(other, rig.key)],
        );
        assert.ok(rig.taps.every((tap) => tap.published === false && tap.device === 'door-1'));
        assert.equal(rig.notifier.stats().malformed, 0);
        assert.ok(!rig.logText().includes(fob) && !rig.logText().includes(other), 'no fob number in the log');
      } finally {
        await rig.stop();
        closeSync(fd);
      }
    });
  }

  test('a reader that is not there yet is opened once it appears', async () => {
    const fifo = join(tempDir('dctrl-evdev-'), 'event0');
    const rig = await startRig({
      online: false,
      deviceConfig: { reader: { kind: 'evdev', path: fifo } },
      notifier: { evdevLayout: 'timeval64', readerRetryMs: 50 },
    });
    let fd: number | undefined;
    try {
      await eventually(() => rig.logCodes().includes('MACHINE_NOTIFIER_READER_FAILED'), 'the missing reader reported');
      execFileSync('mkfifo', [fifo]);
      fd = openSync(fifo, constants.O_RDWR);
      writeSync(fd, typed('timeval64', fobNumber(3), TOP_ROW, KEY_ENTER));
      await eventually(() => rig.taps.length === 1, 'the tap from the reader once plugged in');
    } finally {
      await rig.stop();
      if (fd !== undefined) closeSync(fd);
    }
  });
});
