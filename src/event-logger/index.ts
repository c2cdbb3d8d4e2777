// EventLogger: appends every accepted bus message to hash-chained segment files, and replays them on request.
import { join } from 'node:path';
import { createBusClient, type BusClient } from '../auth-proxy/index.js';
import { LogCheckpoint, Replayed, ReplayRequest, Topics } from '../core/messages.js';
import type { Service, ServiceContext } from '../core/service.js';
import { topicMatches as topicFilterMatches } from '../core/topic-filter.js';
import { EventLoggerError } from './errors.js';
import { readHead, writeHead, type LogHead } from './head.js';
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

export interface EventLogger extends Service {
  readonly writer: LogWriter;
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
  });
  let bus: BusClient | undefined;
  let checkpointTimer: NodeJS.Timeout | undefined;

  const checkpoint = async (): Promise<void> => {
    writer.flush();
    writer.sync();
    const head = writer.head;
    writeHead(dir, { ...head, at: clock.now() }, credentials.signingKey, credentials.client);
    if (bus?.connected) await bus.publish(LogCheckpoint, head);
  };

  return {
    name: SERVICE_NAME,
    writer,
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
      bus.onAny(({ envelope, topic }) => {
        // Replay streams are copies of records already in the log.
        if (envelope.type === Replayed.type) return;
        writer.append(clock.now(), topic, envelope);
      });
      await bus.start();
      await bus.subscribe(Topics.everything);
      const replayer = bus;
      await bus.respond(ReplayRequest, (request) => {
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
              { topic: replayTopic },
            );
          }
        })().catch((error: unknown) => log.warn({ err: (error as Error).message }, 'replay stream interrupted'));
        return { replayTopic, count: records.length };
      });
      checkpointTimer = setInterval(() => {
        checkpoint().catch((error: unknown) => log.warn({ err: (error as Error).message }, 'checkpoint failed'));
      }, config.eventLogger.checkpointIntervalMs);
      checkpointTimer.unref();
    },
    async stop() {
      clearInterval(checkpointTimer);
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
