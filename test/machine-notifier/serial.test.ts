// The serial reader: decimal lines ended by CR and/or LF, and STX/ETX hex frames with their checksum, first through
// the framer alone (vectors/serial.json), then end to end on a real pseudo-terminal set up with stty.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import { hashFob } from '../../src/core/fob-hash.js';
import { SerialFramer } from '../../src/machine-notifier/index.js';
import { eventually } from '../helpers/harness.js';
import { startRig } from './rig.js';

interface FrameVector {
  id: string;
  bytes: string;
  taps: string[];
  malformed: string[];
}

const vectors = (JSON.parse(readFileSync(new URL('./vectors/serial.json', import.meta.url), 'utf8')) as { frames: FrameVector[] })
  .frames;
const bytesOf = (vector: FrameVector) => Buffer.from(vector.bytes.replaceAll(' ', ''), 'hex');

describe('the serial framer', () => {
  for (const vector of vectors) {
    test(`serial/${vector.id}`, () => {
      const framer = new SerialFramer(500);
      const outcomes = framer.push(bytesOf(vector), 0);
      assert.deepEqual(
        outcomes.filter((outcome) => outcome.ok).map((outcome) => outcome.digits),
        vector.taps,
      );
      assert.deepEqual(
        outcomes.filter((outcome) => !outcome.ok).map((outcome) => outcome.code),
        vector.malformed,
      );
    });
  }

  test('a frame never closed is dropped after the inter-key timeout', () => {
    const framer = new SerialFramer(500);
    assert.deepEqual(framer.push(Buffer.from('\x0262E3086C'), 0), []);
    assert.deepEqual(framer.expire(499), []);
    assert.deepEqual(
      framer.expire(500).map((outcome) => !outcome.ok && outcome.code),
      ['MACHINE_NOTIFIER_READ_MALFORMED_FRAME'],
    );
    assert.equal(framer.pending, false);
  });
});

/** A pseudo-terminal pair held by python3: its slave is the "serial port", hex lines on stdin go to its master. */
const PTY_PAIR = `
import os, pty, sys
master, slave = pty.openpty()
print(os.ttyname(slave), flush=True)
for line in sys.stdin:
    os.write(master, bytes.fromhex(line.strip()))
    print("written", flush=True)
`;

function missingTool(): string | undefined {
  if (spawnSync('python3', ['-c', 'import pty'], { stdio: 'ignore' }).status !== 0) {
    return 'python3 with its pty module is not installed here; it makes the pseudo-terminal this test reads';
  }
  if (spawnSync('stty', ['--version'], { stdio: 'ignore' }).status !== 0) return 'stty (coreutils) is not installed here';
  return undefined;
}

describe('a serial reader on a pseudo-terminal', () => {
  const skip = missingTool();
  test('reads decimal lines and hex frames, each fob once, malformed ones counted', { skip: skip ?? false }, async () => {
    const pair: ChildProcessWithoutNullStreams = spawn('python3', ['-c', PTY_PAIR]);
    const lines = createInterface({ input: pair.stdout });
    const said: string[] = [];
    lines.on('line', (line) => void said.push(line));
    await eventually(() => said.length > 0, 'the pty pair');
    const port = said[0]!;
    assert.match(port, /^\/dev\/pts\/\d+$/);
    const rig = await startRig({ online: false, deviceConfig: { reader: { kind: 'serial', path: port, baudRate: 9600 } } });
    try {
      // The line is raw once the notifier has run stty on it: CR stays CR, nothing waits for a newline.
      await eventually(
        () => / -icanon/.test(spawnSync('stty', ['-F', port, '-a'], { encoding: 'utf8' }).stdout),
        'stty to set the line raw',
      );
      const sent = vectors.filter((vector) =>
        [
          'decimal-cr',
          'decimal-lf',
          'decimal-crlf',
          'hex-frame',
          'hex-frame-crlf-inside',
          'hex-frame-bad-checksum',
          'line-noise',
        ].includes(vector.id),
      );
      for (const vector of sent) pair.stdin.write(`${bytesOf(vector).toString('hex')}\n`);
      const expected = sent.flatMap((vector) => vector.taps);
      await eventually(
        () => rig.taps.length >= expected.length,
        () => `${expected.length} taps, got ${rig.taps.length}`,
      );
      await eventually(() => rig.notifier.stats().malformed >= 2, 'the two malformed reads');
      assert.deepEqual(
        rig.taps.map((tap) => tap.fob),
        expected.map((fob) => hashFob(fob, rig.key)),
      );
      assert.deepEqual(rig.notifier.stats().malformedByCode, {
        MACHINE_NOTIFIER_READ_MALFORMED_CHECKSUM: 1,
        MACHINE_NOTIFIER_READ_MALFORMED_NON_DIGITS: 1,
      });
      for (const fob of expected) assert.ok(!rig.logText().includes(fob), 'no fob number in the log');
    } finally {
      await rig.stop();
      pair.kill();
    }
  });
});
