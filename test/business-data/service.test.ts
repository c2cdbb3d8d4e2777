// BusinessData over the bus: editors change settings and everyone hears of it; others are refused with a code.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createBusinessData } from '../../src/business-data/index.js';
import { RemoteError } from '../../src/core/errors.js';
import { SettingChanged, SettingHistory, SettingSet, SettingsGet } from '../../src/core/messages.js';
import type { Service } from '../../src/core/service.js';
import { openDatabase, type DatabaseHandle } from '../../src/core/storage/index.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';

let h: Harness;
let database: DatabaseHandle;
let service: Service;

before(async () => {
  h = await startHarness();
  database = await openDatabase({ sqliteFile: join(h.dataDir, 'dctrl.db') });
  h.keeper.ensureClient('business-data');
  await h.vault.publishChanges();
  service = createBusinessData(await h.context('business-data'), database);
  await service.start();
});
after(async () => {
  await service.stop();
  await database.close();
  await h.stop();
});

test('an editor changes a price from a day on; the change is published and the day after sees it', async () => {
  const cli = await h.client('cli');
  const watcher = await h.client('watcher', { extra: { sub: ['dctrl/v1/business-data/changed'] } });
  const heard: string[] = [];
  await watcher.listen(SettingChanged, (change) => void heard.push(`${change.kind}:${change.key}:${change.effectiveFrom}`));
  const reply = (await cli.request(SettingSet, {
    kind: 'product',
    key: 'club-mate',
    value: { name: 'Club-Mate', priceCents: 350, machine: 'vending-1', output: 'gpiochip0:17' },
    effectiveFrom: '2026-12-01',
  })) as { change: { recordedBy: string } };
  assert.equal(reply.change.recordedBy, 'cli');
  await eventually(() => heard.includes('product:club-mate:2026-12-01'), 'the change event');
  const before = (await cli.request(SettingsGet, { at: '2026-11-30' })) as { products: Record<string, unknown> };
  const afterwards = (await cli.request(SettingsGet, { at: '2026-12-01' })) as {
    products: Record<string, { priceCents: number }>;
  };
  assert.deepEqual(before.products, {});
  assert.equal(afterwards.products['club-mate']?.priceCents, 350);
  const today = (await cli.request(SettingsGet, {})) as { at: string; policies: { graceDays: number } };
  assert.match(today.at, /^\d{4}-\d{2}-\d{2}$/);
  assert.equal(today.policies.graceDays, 10);
  const history = (await cli.request(SettingHistory, { kind: 'tier', key: 'member' })) as { changes: unknown[] };
  assert.equal(history.changes.length, 1);
});

test('a client that is not an editor is refused, and a bad value comes back as its code', async () => {
  const stranger = await h.client('stranger', { extra: { pub: ['dctrl/v1/business-data/rpc/#'] } });
  const refused = await stranger
    .request(SettingSet, { kind: 'policy', key: 'graceDays', value: 0, effectiveFrom: '2026-12-01' })
    .catch((error: unknown) => error);
  assert.ok(refused instanceof RemoteError);
  assert.equal(refused.code, 'AUTH_PROXY_ASKER_NOT_ALLOWED');
  const cli = await h.client('cli', { instance: 'second' });
  const bad = await cli
    .request(SettingSet, {
      kind: 'tier',
      key: 'student',
      value: { name: 'Student', monthlyDuesCents: -1 },
      effectiveFrom: '2026-12-01',
    })
    .catch((error: unknown) => error);
  assert.ok(bad instanceof RemoteError);
  assert.equal(bad.code, 'BUSINESS_DATA_VALUE_INVALID');
  assert.match(bad.message, /monthlyDuesCents/);
});
