// Named secrets over the bus: the fob hash key reaches the services allowed to read it, and nowhere else.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { RemoteError } from '../../src/core/errors.js';
import { SecretGet } from '../../src/core/messages.js';
import { createEventLogger, eventLogDir, readRecords, type EventLogger } from '../../src/event-logger/index.js';
import { startHarness, type Harness } from '../helpers/harness.js';

let h: Harness;
let logger: EventLogger;

before(async () => {
  h = await startHarness();
  logger = createEventLogger(await h.context('event-logger'));
  await logger.start();
});
after(async () => {
  await logger.stop();
  await h.stop();
});

test('a reader gets the same 32-byte secret every time; it is sealed at rest and never logged', async () => {
  const memberData = await h.client('member-data');
  const first = (await memberData.request(SecretGet, { name: 'fob-hash-key' })) as { value: string };
  const second = (await memberData.request(SecretGet, { name: 'fob-hash-key' })) as { value: string };
  assert.equal(Buffer.from(first.value, 'base64url').length, 32);
  assert.equal(second.value, first.value);
  assert.ok(!readFileSync(join(h.dataDir, 'vault.db')).includes(Buffer.from(first.value, 'base64url')), 'sealed at rest');
  logger.writer.flush();
  const logged = [...readRecords(eventLogDir(h.dataDir))].map((record) => JSON.stringify(record));
  assert.ok(
    logged.some((line) => line.includes('vault.secret')),
    'the request itself is logged',
  );
  assert.ok(!logged.some((line) => line.includes(first.value)), 'the secret is not');
});

test('a client not listed for a secret, or asking for one that is not handed out, gets a coded refusal', async () => {
  const door = await h.client('door');
  const refused = await door.request(SecretGet, { name: 'fob-hash-key' }).catch((error: unknown) => error);
  assert.ok(refused instanceof RemoteError);
  assert.equal(refused.code, 'VAULT_SECRET_NOT_ALLOWED');
  const memberData = await h.client('member-data', { instance: 'two' });
  const unknown = await memberData.request(SecretGet, { name: 'root-password' }).catch((error: unknown) => error);
  assert.ok(unknown instanceof RemoteError);
  assert.equal(unknown.code, 'VAULT_UNKNOWN_SECRET');
});
