// The services the ChainNotifier works with, on one harness and one SQLite file: BusinessData, MemberData, the
// Reporter, the PriceNotifier (fixed demo rate) and the ChainNotifier itself over the given chain.
import { join } from 'node:path';
import { createBusinessData } from '../../src/business-data/index.js';
import type { ChainAdaptor } from '../../src/chain-adaptor/index.js';
import { createChainNotifier } from '../../src/chain-notifier/index.js';
import type { Service } from '../../src/core/service.js';
import { openDatabase, type DatabaseHandle } from '../../src/core/storage/index.js';
import { createMemberData } from '../../src/member-data/index.js';
import { createPriceNotifier } from '../../src/price-notifier/index.js';
import { createReporter } from '../../src/reporter/index.js';
import type { Harness } from '../helpers/harness.js';

export interface ChainHub {
  database: DatabaseHandle;
  /** In start order: BusinessData, MemberData, Reporter, PriceNotifier, ChainNotifier. */
  services: Service[];
  notifier: Service & { sync(): Promise<void> };
  stop(): Promise<void>;
}

export async function startChainHub(h: Harness, chain: ChainAdaptor): Promise<ChainHub> {
  const database = await openDatabase({ sqliteFile: join(h.dataDir, 'dctrl.db') });
  for (const name of ['business-data', 'member-data', 'reporter', 'price-notifier', 'chain-notifier'])
    h.keeper.ensureClient(name);
  await h.vault.publishChanges();
  const notifier = createChainNotifier(await h.context('chain-notifier'), database, { adaptor: chain });
  const services = [
    createBusinessData(await h.context('business-data'), database),
    createMemberData(await h.context('member-data'), database),
    createReporter(await h.context('reporter'), database),
    createPriceNotifier(await h.context('price-notifier')),
    notifier,
  ];
  for (const service of services) await service.start();
  return {
    database,
    services,
    notifier,
    async stop() {
      for (const service of [...services].reverse()) await service.stop();
      await database.close();
    },
  };
}
