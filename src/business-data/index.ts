// BusinessData: prices, dues tiers and policies, each versioned by the day it takes effect; answers over the bus.
import { createBusClient, type BusClient } from '../auth-proxy/index.js';
import { SettingChanged, SettingHistory, SettingSet, SettingsGet } from '../core/messages.js';
import type { Service, ServiceContext } from '../core/service.js';
import type { DatabaseHandle } from '../core/storage/index.js';
import { BusinessBook, SERVICE_NAME } from './book.js';
import { dayIn } from './dates.js';
import { BusinessDataError } from './errors.js';

export { SERVICE_NAME };
export { BusinessDataError, BusinessDataErrorCodes } from './errors.js';

export function createBusinessData(context: ServiceContext, database: DatabaseHandle): Service {
  const { config, clock } = context;
  const log = context.logger.child({ service: SERVICE_NAME });
  let bus: BusClient | undefined;
  let book: BusinessBook | undefined;

  /** Today in the space's own time zone, which is itself a policy. */
  const today = async (open: BusinessBook): Promise<string> => {
    const { policies } = await open.inForce(dayIn(clock.now(), 'UTC'));
    return dayIn(clock.now(), policies.timezone);
  };

  return {
    name: SERVICE_NAME,
    async start() {
      const open = await BusinessBook.open(database, clock);
      book = open;
      bus = createBusClient(context);
      await bus.start();
      const publisher = bus;
      await bus.respond(SettingSet, async (request, envelope) => {
        if (!config.businessData.editors.includes(envelope.issuer)) {
          throw new BusinessDataError('BUSINESS_DATA_NOT_ALLOWED', `"${envelope.issuer}" is not in businessData.editors`);
        }
        const change = await open.set(
          { ...request, effectiveFrom: request.effectiveFrom ?? (await today(open)) },
          envelope.issuer,
        );
        log.info(
          { kind: change.kind, key: change.key, effectiveFrom: change.effectiveFrom, by: change.recordedBy },
          'setting changed',
        );
        await publisher.publish(SettingChanged, change);
        return { change };
      });
      await bus.respond(SettingsGet, async (request) => open.inForce(request.at ?? (await today(open))));
      await bus.respond(SettingHistory, async (request) => ({ changes: await open.history(request.kind, request.key) }));
    },
    async stop() {
      await bus?.stop();
      book = undefined;
    },
    describe() {
      return [`business data: ${database.description}${book ? '' : ' (stopped)'}`];
    },
  };
}
