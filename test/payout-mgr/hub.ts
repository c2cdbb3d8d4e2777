// The services PayoutMgr works with, on one harness and one SQLite file: BusinessData (the space's currency), the
// Reporter (the ledger), the PriceNotifier (fixed demo rate) and PayoutMgr itself over the given chain.
import { join } from 'node:path';
import { createBusinessData } from '../../src/business-data/index.js';
import type { ChainAdaptor } from '../../src/chain-adaptor/index.js';
import type { ConfigInput } from '../../src/core/config.js';
import type { Service } from '../../src/core/service.js';
import { openDatabase, type DatabaseHandle } from '../../src/core/storage/index.js';
import { createMemberData } from '../../src/member-data/index.js';
import { createPayoutMgr } from '../../src/payout-mgr/index.js';
import type { PayoutDesk } from '../../src/payout-mgr/payouts.js';
import { createPriceNotifier } from '../../src/price-notifier/index.js';
import { createReporter } from '../../src/reporter/index.js';
import type { Harness } from '../helpers/harness.js';
import { testWalletDescriptorText } from './keys.js';

export interface PayoutHub {
  database: DatabaseHandle;
  services: Service[];
  payouts: Service & { follow(): Promise<void>; desk(): PayoutDesk };
  stop(): Promise<void>;
}

/** What the payout tests configure: the test wallet, three approvers (two must approve), a fee when the node has none. */
export function payoutConfig(overrides: NonNullable<ConfigInput['payoutMgr']> = {}): ConfigInput {
  return {
    bus: { requestTimeoutMs: 5_000 },
    reporter: { checkIntervalMs: 3_600_000 },
    payoutMgr: {
      walletDescriptor: testWalletDescriptorText(),
      birthHeight: 0,
      approvers: ['alice', 'bob', 'carol'],
      approvalsRequired: 2,
      confirmations: 2,
      gapLimit: 5,
      pollMs: 3_600_000,
      fee: { fallbackSatPerVb: 2, floorSatPerVb: 1, ceilingSatPerVb: 50 },
      ...overrides,
    },
  };
}

export async function startPayoutHub(
  h: Harness,
  chain: ChainAdaptor,
  options: { priceNotifier?: boolean; database?: DatabaseHandle } = {},
): Promise<PayoutHub> {
  const database = options.database ?? (await openDatabase({ sqliteFile: join(h.dataDir, 'dctrl.db') }));
  for (const name of ['business-data', 'member-data', 'reporter', 'price-notifier', 'payout-mgr']) h.keeper.ensureClient(name);
  await h.vault.publishChanges();
  const payouts = createPayoutMgr(await h.context('payout-mgr'), database, { adaptor: chain });
  const services = [
    createBusinessData(await h.context('business-data'), database),
    createMemberData(await h.context('member-data'), database),
    createReporter(await h.context('reporter'), database),
    ...(options.priceNotifier === false ? [] : [createPriceNotifier(await h.context('price-notifier'))]),
    payouts,
  ];
  for (const service of services) await service.start();
  return {
    database,
    services,
    payouts,
    async stop() {
      for (const service of [...services].reverse()) await service.stop();
      await database.close();
    },
  };
}
