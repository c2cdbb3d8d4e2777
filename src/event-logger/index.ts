// EventLogger: appends every accepted bus message to hash-chained segment files, and replays them on request.
import { join } from 'node:path';
import { createBusClient, type BusClient } from '../auth-proxy/index.js';
import { LogAlarm, LogCheckpoint, LogDropped, Replayed, ReplayRequest, Topics } from '../core/messages.js';
import type { MessageSpec } from '../core/contract.js';
import type { Envelope } from '../core/envelope.js';
import type { Service, ServiceContext } from '../core/service.js';
import { topicMatches as topicFilterMatches } from '../core/topic-filter.js';
import { EventLoggerError } from './errors.js';
import { readHead, writeHead, type LogHead } from './head.js';
import { DiskBudget, IssuerQuota, type BudgetLevel } from './limits.js';
import { replayFrom, type ReplayStart } from './reader.js';
import { LogWriter } from './writer.js';

export const SERVICE_NAME = 'event-logger';

export { verifyLog, type VerifyReport } from './verify.js';
export { readRecords, replayFrom, lastRecords, follow } from './reader.js';
export { EventLoggerError, EventLoggerErrorCodes } from './errors.js';
export type { LogRecord } from './chain.js';

export function eventLogDir(dataDir: string): string {
  return join(dataDir, 'events');
}

// Drops are written into the chain this soon after the first, so a flood shows while it goes on.
const DROP_REPORT_DELAY_MS = 1_000;

export interface EventLogger extends Service {
  readonly writer: LogWriter;
  readonly budget: DiskBudget;
  /** Writes and publishes the signed head now (also done on a timer, on rotation and on stop). */
  checkpoint(): Promise<void>;
}

export function createEventLogger(context: ServiceContext): EventLogger {
  const { config, clock, credentials } = context;
  const log = context.logger.child({ service: SERVICE_NAME });
  const dir = eventLogDir(config.dataDir);
  const writer = new LogWriter({
    dir,
    segmentMaxBytes: config.eventLogger.segmentMaxBytes,
    fsync: config.eventLogger.fsync,
    fsyncIntervalMs: config.eventLogger.fsyncIntervalMs,
    logger: log,
    onHead: (head) => writeHead(dir, { ...head, at: clock.now() }, credentials.signingKey, credentials.client),
    onWriteFailed: (error, unwrittenRecords) => {
      log.error(
        { err: error.message, unwrittenRecords },
        `cannot write the event log (${error.message}); ${unwrittenRecords} accepted records wait in memory and are retried`,
      );
      if (!writeFailing) {
        writeFailing = true;
        alarm('write-failing');
      }
    },
  });
  let writeFailing = false;
  const budget = new DiskBudget(config.eventLogger.budgetBytes, config.eventLogger.warnAtPercent);
  const quota = new IssuerQuota(config.eventLogger.issuerBytesPerSecond, config.eventLogger.issuerByteBurst, clock);
  let bus: BusClient | undefined;
  let checkpointTimer: NodeJS.Timeout | undefined;
  let dropTimer: NodeJS.Timeout | undefined;

  // Its own alarms and drop counts go into the chain directly, so they are recorded even while the broker is away,
  // and then onto the bus; the copy that comes back is not logged twice.
  const recordOwn = (spec: MessageSpec, seal: (client: BusClient) => Envelope): void => {
    if (!bus) return;
    const envelope = seal(bus);
    writer.append(clock.now(), spec.topic, envelope);
    if (bus.connected) {
      bus
        .sendSealed(spec, envelope)
        .catch((error: unknown) => log.warn({ err: (error as Error).message }, `could not publish ${spec.type}`));
    }
  };

  const alarm = (level: Exclude<BudgetLevel, 'ok'> | 'write-failing'): void => {
    const unwrittenRecords = writer.unwrittenRecords;
    const fields = {
      level,
      usedBytes: writer.diskBytes,
      warnBytes: budget.warnBytes,
      budgetBytes: budget.budgetBytes,
      ...(unwrittenRecords > 0 ? { unwrittenRecords } : {}),
    };
    const message = {
      warning: `the event log is at ${config.eventLogger.warnAtPercent}% of its disk budget (eventLogger.budgetBytes); archive old segments or raise the budget`,
      'over-budget':
        'the event log is past its disk budget (eventLogger.budgetBytes); it keeps writing: archive old segments or raise the budget',
      'write-failing': `the event log cannot be written; ${unwrittenRecords} accepted records wait in memory: free disk space`,
    }[level];
    log.error(fields, message);
    recordOwn(LogAlarm, (client) => client.seal(LogAlarm, fields));
  };

  const reportDrops = (): void => {
    clearTimeout(dropTimer);
    dropTimer = undefined;
    for (const tally of quota.takeDrops()) {
      log.error(
        tally,
        `dropped ${tally.messages} messages (${tally.bytes} bytes) from ${tally.issuer} past eventLogger.issuerBytesPerSecond; the count is in the chain as ${LogDropped.type}`,
      );
      recordOwn(LogDropped, (client) => client.seal(LogDropped, tally));
    }
  };

  const checkpoint = async (): Promise<void> => {
    reportDrops();
    const level = budget.level;
    if (level !== 'ok') alarm(level);
    writeFailing = writer.unwrittenRecords > 0;
    if (writeFailing) alarm('write-failing');
    writer.flush();
    writer.sync();
    // The signed head covers only what is on disk; while writes fail, the last good head stands.
    if (writer.unwrittenRecords > 0) return;
    const head = writer.head;
    writeHead(dir, { ...head, at: clock.now() }, credentials.signingKey, credentials.client);
    if (bus?.connected) await bus.publish(LogCheckpoint, head);
  };

  return {
    name: SERVICE_NAME,
    writer,
    budget,
    checkpoint,
    async start() {
      const previous = readHead(dir, credentials.signingKey.publicKey);
      writer.open();
      try {
        assertContinues(previous, writer.head);
      } catch (error) {
        writer.abandon();
        throw error;
      }
      writeHead(dir, { ...writer.head, at: clock.now() }, credentials.signingKey, credentials.client);
      bus = createBusClient(context);
      const self = credentials.client;
      bus.onAny(({ envelope, topic, raw }) => {
        // Replay streams are copies of records already in the log; its own alarms and drop counts were written when made.
        if (envelope.type === Replayed.type) return;
        if (envelope.issuer === self && (envelope.type === LogAlarm.type || envelope.type === LogDropped.type)) return;
        if (envelope.issuer !== self) {
          const verdict = quota.admit(envelope.issuer, raw.length, envelope.id);
          if (!verdict.admitted) {
            if (verdict.firstDrop) {
              log.error(
                { issuer: envelope.issuer },
                'an issuer passed eventLogger.issuerBytesPerSecond: dropping its messages and counting them',
              );
              dropTimer ??= setTimeout(reportDrops, DROP_REPORT_DELAY_MS);
              dropTimer.unref();
            }
            return;
          }
        }
        writer.append(clock.now(), topic, envelope);
        const rose = budget.observe(writer.diskBytes);
        if (rose) alarm(rose);
      });
      await bus.start();
      await bus.subscribe(Topics.everything);
      const replayer = bus;
      await bus.respond(ReplayRequest, (request, asked) => {
        const start = replayStart(request);
        const replayTopic = Topics.replayStream(request.session);
        writer.flush();
        const records = [];
        for (const record of replayFrom(dir, start)) {
          if (request.topicFilter !== undefined && !topicFilterMatches(request.topicFilter, record.topic)) continue;
          records.push(record);
          if (records.length >= request.limit) break;
        }
        void (async () => {
          for (const [index, record] of records.entries()) {
            await replayer.publish(
              Replayed,
              {
                seq: record.seq,
                receivedAt: record.at,
                topic: record.topic,
                envelope: record.env,
                last: index === records.length - 1,
              },
              { topic: replayTopic, sealTo: [asked.issuer] },
            );
          }
        })().catch((error: unknown) => log.warn({ err: (error as Error).message }, 'replay stream interrupted'));
        return { replayTopic, count: records.length };
      });
      checkpointTimer = setInterval(() => {
        quota.sweep();
        checkpoint().catch((error: unknown) => log.warn({ err: (error as Error).message }, 'checkpoint failed'));
      }, config.eventLogger.checkpointIntervalMs);
      checkpointTimer.unref();
      const rose = budget.observe(writer.diskBytes);
      if (rose) alarm(rose);
    },
    async stop() {
      clearInterval(checkpointTimer);
      reportDrops();
      await bus?.stop();
      writer.close();
    },
    describe() {
      return [`event log: ${dir} (head seq ${writer.head.seq})`];
    },
  };
}

/**
 * Refuses to extend a log whose end no longer matches the head signed before: writing a new head would
 * hide that records were cut off or rewritten while the logger was stopped.
 */
function assertContinues(previous: LogHead | undefined, current: { seq: number; hash: string }): void {
  if (!previous) return;
  if (previous.seq > current.seq) {
    throw new EventLoggerError(
      'EVENT_LOGGER_LOG_TRUNCATED',
      `the log ends at seq ${current.seq} but its signed head says ${previous.seq}; run \`dctrl log verify\` before starting the EventLogger again`,
    );
  }
  if (previous.seq === current.seq && previous.hash !== current.hash) {
    throw new EventLoggerError(
      'EVENT_LOGGER_RECORD_MODIFIED',
      `record seq ${current.seq} differs from the signed head; run \`dctrl log verify\``,
    );
  }
}

function replayStart(request: { fromId?: string | undefined; fromTime?: number | undefined }): ReplayStart {
  if ((request.fromId === undefined) === (request.fromTime === undefined)) {
    throw new EventLoggerError('EVENT_LOGGER_REPLAY_INVALID', 'give exactly one of fromId or fromTime');
  }
  return request.fromId !== undefined ? { fromId: request.fromId } : { fromTime: request.fromTime! };
}
