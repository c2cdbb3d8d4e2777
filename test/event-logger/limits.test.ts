// The EventLogger's own bounds: a disk budget that alarms before the disk fills, and a byte quota per issuer that
// holds even on a broker without ours (a plain Mosquitto), whose drops are counted in the chain, never silent.
import assert from 'node:assert/strict';
import { existsSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { LogAlarm, LogDropped, Ping } from '../../src/core/messages.js';
import type { PayloadOf } from '../../src/core/contract.js';
import { createEventLogger, eventLogDir, readRecords, verifyLog, type EventLogger } from '../../src/event-logger/index.js';
import { segmentName } from '../../src/event-logger/segments.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';

const PAD = 'x'.repeat(4_000);

function logged(h: Harness, logger: EventLogger): { type: string; issuer: string; payload: Record<string, unknown> }[] {
  logger.writer.flush();
  return [...readRecords(eventLogDir(h.dataDir))].map((record) => {
    const env = record.env as { type: string; issuer: string; payload: Record<string, unknown> };
    return { type: env.type, issuer: env.issuer, payload: env.payload };
  });
}

describe('disk budget', () => {
  let h: Harness;
  let logger: EventLogger;
  let watcher: BusClient;
  const alarms: PayloadOf<typeof LogAlarm>[] = [];

  before(async () => {
    h = await startHarness({ config: { eventLogger: { budgetBytes: 65_536, warnAtPercent: 50 } } });
    logger = createEventLogger(await h.context('event-logger'));
    await logger.start();
    watcher = await h.client('watcher', { extra: { sub: ['dctrl/v1/event-logger/alarm'] } });
    await watcher.listen(LogAlarm, (payload) => void alarms.push(payload), LogAlarm.topic);
  });
  after(async () => {
    await logger.stop();
    await h.stop();
  });

  test('the log warns at warnAtPercent, alarms past the budget, repeats at checkpoints, and keeps every message', async () => {
    const sensor = await h.client('sensor');
    let seq = 0;
    const publishUntil = async (predicate: () => boolean) => {
      while (!predicate() && seq < 40) await sensor.publish(Ping, { seq: seq++, sentAtNs: '0', pad: PAD });
    };
    await publishUntil(() => alarms.length >= 1);
    await eventually(() => alarms.length >= 1, 'the warning');
    assert.equal(alarms[0]!.level, 'warning');
    assert.equal(alarms[0]!.warnBytes, 32_768);
    assert.ok(alarms[0]!.usedBytes >= 32_768 && alarms[0]!.usedBytes < 65_536, `used ${alarms[0]!.usedBytes}`);
    assert.ok(seq > 4, 'not raised before the log got near its budget');

    await publishUntil(() => alarms.some((alarm) => alarm.level === 'over-budget'));
    await eventually(() => alarms.some((alarm) => alarm.level === 'over-budget'), 'the over-budget alarm');
    assert.equal(alarms.filter((alarm) => alarm.level === 'over-budget').length, 1, 'one alarm per crossing');

    // Past its budget the log still takes everything, and says so again at each checkpoint.
    await sensor.publish(Ping, { seq: seq++, sentAtNs: '0', pad: PAD });
    await logger.checkpoint();
    await eventually(() => alarms.filter((alarm) => alarm.level === 'over-budget').length === 2, 'the alarm at the checkpoint');
    await eventually(
      () => logged(h, logger).filter((record) => record.type === Ping.type && record.issuer === 'sensor').length === seq,
      () => `all ${seq} pings in the log`,
    );
    const records = logged(h, logger);
    assert.deepEqual(
      records.filter((record) => record.type === LogAlarm.type).map((record) => record.payload.level),
      ['warning', 'over-budget', 'over-budget'],
      'each alarm is in the chain itself, once',
    );
    assert.equal(verifyLog(eventLogDir(h.dataDir)).ok, true);
  });

  test('a logger started on a log already past its budget alarms at once', async () => {
    await logger.stop();
    const before = alarms.length;
    logger = createEventLogger(await h.context('event-logger'));
    await logger.start();
    assert.equal(logger.budget.level, 'over-budget');
    await eventually(() => alarms.length > before, 'the alarm on start');
  });
});

describe('per-issuer quota on a broker without ours', () => {
  const clock = new ManualClock(Date.now());
  let mosquitto: Mosquitto;
  let h: Harness;
  let logger: EventLogger;

  before(async () => {
    mosquitto = await startMosquitto();
    h = await startHarness({
      clock,
      brokerUrl: mosquitto.url,
      config: { eventLogger: { issuerBytesPerSecond: 1_000, issuerByteBurst: 50_000 } },
    });
    logger = createEventLogger(await h.context('event-logger'));
    await logger.start();
  });
  after(async () => {
    await logger.stop();
    await h.stop();
    await mosquitto.cleanup();
  });

  test('a flooding issuer is dropped past its quota and the drop is counted in the chain; others are untouched', async () => {
    const flooder = await h.client('door');
    const neighbour = await h.client('vending');
    // The clock stands still: the burst of 50,000 bytes is all the door gets; each ping is over 4,000.
    for (let seq = 0; seq < 30; seq++) await flooder.publish(Ping, { seq, sentAtNs: '0', pad: PAD });
    await neighbour.publish(Ping, { seq: 1, sentAtNs: '0', pad: PAD });
    const doorPings = () => logged(h, logger).filter((record) => record.type === Ping.type && record.issuer === 'door').length;
    const drops = () =>
      logged(h, logger)
        .filter((record) => record.type === LogDropped.type)
        .map((record) => ({ signer: record.issuer, ...(record.payload as PayloadOf<typeof LogDropped>) }));
    const dropped = () => drops().reduce((sum, drop) => sum + drop.messages, 0);
    // A checkpoint writes the drops tallied so far into the chain (its first, synchronous step).
    await eventually(
      () => {
        void logger.checkpoint();
        return doorPings() + dropped() === 30;
      },
      () => `the door's 30 pings written or counted, got ${doorPings()} + ${dropped()}`,
    );
    await eventually(
      () => logged(h, logger).some((record) => record.type === Ping.type && record.issuer === 'vending'),
      'the neighbour’s ping in the log',
    );
    const written = doorPings();
    assert.ok(written >= 10 && written < 30, `${written} of the door's 30 pings written`);
    for (const drop of drops()) {
      assert.equal(drop.signer, 'event-logger', 'signed by the logger');
      assert.equal(drop.issuer, 'door');
    }
    assert.ok(drops().every((drop) => drop.bytes > drop.messages * 4_000));
    assert.equal(verifyLog(eventLogDir(h.dataDir)).ok, true);

    // Counted once: a later checkpoint with no new drops adds nothing.
    const recorded = drops().length;
    await logger.checkpoint();
    assert.equal(drops().length, recorded);
  });
});

describe('a full disk', () => {
  let h: Harness;
  let logger: EventLogger;
  let watcher: BusClient;
  const alarms: PayloadOf<typeof LogAlarm>[] = [];

  before(async () => {
    h = await startHarness({ config: { eventLogger: { segmentMaxBytes: 4_096, fsync: 'never' } } });
    logger = createEventLogger(await h.context('event-logger'));
    await logger.start();
    watcher = await h.client('watcher', { extra: { sub: ['dctrl/v1/event-logger/alarm'] } });
    await watcher.listen(LogAlarm, (payload) => void alarms.push(payload), LogAlarm.topic);
  });
  after(async () => {
    await logger.stop();
    await h.stop();
  });

  test('when writes fail (ENOSPC from the kernel), accepted records wait in memory, counted, and the alarm says so', async () => {
    // Every segment the log rotates into is /dev/full, where each write fails with ENOSPC.
    const dir = eventLogDir(h.dataDir);
    const full: string[] = [];
    for (let seq = 2; seq < 500; seq++) {
      const path = join(dir, segmentName(seq));
      if (existsSync(path)) continue;
      symlinkSync('/dev/full', path);
      full.push(path);
    }
    const sensor = await h.client('sensor');
    let seq = 0;
    while (!alarms.some((alarm) => alarm.level === 'write-failing') && seq < 40) {
      await sensor.publish(Ping, { seq: seq++, sentAtNs: '0', pad: 'x'.repeat(1_000) });
      logger.writer.flush();
    }
    await eventually(() => alarms.some((alarm) => alarm.level === 'write-failing'), 'the write-failing alarm');
    // The open segment stays /dev/full; the names go, so reading the log back does not read /dev/full's endless zeros.
    for (const path of full) unlinkSync(path);
    const first = alarms.find((alarm) => alarm.level === 'write-failing')!;
    assert.ok((first.unwrittenRecords ?? 0) > 0, 'the alarm counts the records waiting');

    // The EventLogger keeps accepting; nothing is dropped, every record waits in order.
    const waiting = logger.writer.unwrittenRecords;
    for (let more = 0; more < 5; more++) await sensor.publish(Ping, { seq: seq++, sentAtNs: '0', pad: '' });
    await eventually(() => {
      logger.writer.flush();
      return logger.writer.unwrittenRecords >= waiting + 5;
    }, 'the five new records counted as waiting');
    const onDisk = logged(h, logger).filter((record) => record.type === Ping.type && record.issuer === 'sensor').length;
    assert.ok(onDisk < seq, 'some pings could not be written');

    // Said again at the checkpoint, and no head is signed over records that are not on disk.
    const before = alarms.length;
    await logger.checkpoint();
    await eventually(() => alarms.slice(before).some((alarm) => alarm.level === 'write-failing'), 'the alarm again');
    assert.equal(verifyLog(dir).ok, true, 'what is on disk is a whole chain');
  });
});
