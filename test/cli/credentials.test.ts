// Credentials bundles on a device: read, validated, and updated in place when the token is renewed.
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readCredentialsBundle, writeCredentialsBundle } from '../../src/cli/credentials.js';
import { generateSigningKey } from '../../src/core/keys.js';
import { tempDir } from '../helpers/harness.js';

test('a renewed token is written back to the bundle, private to its owner, the other clients untouched', () => {
  const file = join(tempDir(), 'creds.json');
  const root = generateSigningKey().publicKeyB64;
  const door = { client: 'door', signingKey: generateSigningKey(), token: 'token-1', rootPublicKey: root };
  const vend = { client: 'vending', signingKey: generateSigningKey(), token: 'token-v', rootPublicKey: root };
  writeCredentialsBundle(file, root, [door, vend]);
  const bundle = readCredentialsBundle(file);
  bundle.get('door')!.saveToken!('token-2');
  const again = readCredentialsBundle(file);
  assert.equal(again.get('door')!.token, 'token-2');
  assert.equal(again.get('vending')!.token, 'token-v');
  assert.equal(again.get('door')!.signingKey.publicKeyB64, door.signingKey.publicKeyB64);
  assert.equal(statSync(file).mode & 0o077, 0);
});

test('a bundle that is not one is refused with CLI_CREDENTIALS_INVALID naming the file', () => {
  const file = join(tempDir(), 'creds.json');
  writeFileSync(file, JSON.stringify({ version: 1, rootPublicKey: 'x', clients: [] }));
  assert.throws(
    () => readCredentialsBundle(file),
    (error: Error & { code?: string }) => error.code === 'CLI_CREDENTIALS_INVALID' && error.message.includes(file),
  );
  writeFileSync(file, readFileSync(file, 'utf8').slice(0, 10));
  assert.throws(() => readCredentialsBundle(file), { code: 'CLI_CREDENTIALS_INVALID' });
});
