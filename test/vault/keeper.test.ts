// The Vault at rest and its tokens: sealed keys, the right secret to open it, issue, renew, revoke.
import { deriveSealingKey } from '../../src/core/seal.js';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { defaultGrants } from '../../src/core/grants.js';
import { exportPrivateKeyPem } from '../../src/core/keys.js';
import { verifyToken } from '../../src/core/token.js';
import { VaultKeeper, type VaultSecret } from '../../src/vault/index.js';
import { tempDir } from '../helpers/harness.js';

function open(dataDir: string, secret: VaultSecret, clock = new ManualClock(Date.now())): VaultKeeper {
  return VaultKeeper.open({ dataDir, secret, clock, tokenTtlSeconds: 3_600 });
}

describe('vault at rest', () => {
  test('private keys are sealed: no PEM and no raw key in the file', () => {
    const dir = tempDir();
    const keeper = open(dir, { passphrase: 'correct horse battery staple' });
    const key = keeper.ensureClient('door');
    const pem = exportPrivateKeyPem(key);
    keeper.close();
    const file = readFileSync(join(dir, 'vault.db'));
    assert.ok(!file.includes(Buffer.from('PRIVATE KEY')));
    assert.ok(!file.includes(Buffer.from(pem.split('\n')[1]!)));
    assert.equal(statSync(join(dir, 'vault.db')).mode & 0o077, 0, 'vault.db is private to its owner');
  });

  test('reopens with the same passphrase; a wrong one is VAULT_WRONG_KEY naming how it was made', () => {
    const dir = tempDir();
    const first = open(dir, { passphrase: 'right' });
    const publicKey = first.ensureClient('door').publicKeyB64;
    first.close();
    const again = open(dir, { passphrase: 'right' });
    assert.equal(again.signingKey('door').publicKeyB64, publicKey);
    again.close();
    assert.throws(
      () => open(dir, { passphrase: 'wrong' }),
      (error: Error & { code?: string }) => error.code === 'VAULT_WRONG_KEY' && /DCTRL_VAULT_PASSPHRASE/.test(error.message),
    );
    assert.throws(() => open(dir, { demo: true }), { code: 'VAULT_WRONG_KEY' });
  });

  test('key file mode, and a bad key file is named', () => {
    const dir = tempDir();
    const keyFile = join(dir, 'master.key');
    writeFileSync(keyFile, 'aa'.repeat(32));
    open(dir, { keyFile }).close();
    open(dir, { keyFile }).close();
    writeFileSync(keyFile, 'short');
    assert.throws(() => open(dir, { keyFile }), { code: 'VAULT_KEY_FILE_INVALID' });
  });

  test('demo mode makes a private key file beside the vault', () => {
    const dir = tempDir();
    let told = '';
    VaultKeeper.open({
      dataDir: dir,
      secret: { demo: true },
      clock: new ManualClock(),
      tokenTtlSeconds: 60,
      onDemoKey: (path) => (told = path),
    }).close();
    assert.equal(told, join(dir, 'vault.key'));
    assert.equal(statSync(told).mode & 0o077, 0);
  });

  test('bad client names are refused', () => {
    const keeper = open(tempDir(), { demo: true });
    assert.throws(() => keeper.ensureClient('Door 1'), { code: 'VAULT_CLIENT_NAME_INVALID' });
    assert.throws(() => keeper.signingKey('nobody'), { code: 'VAULT_UNKNOWN_CLIENT' });
    keeper.close();
  });
});

describe('tokens', () => {
  test('issue → verify → renew keeps grants → revoke stops renewal', async () => {
    const clock = new ManualClock(Date.now());
    const keeper = open(tempDir(), { demo: true }, clock);
    const grants = defaultGrants('door');
    const issued = await keeper.issueToken('door', grants);
    const claims = await verifyToken(issued.token, keeper.root.publicKey, clock, 'bus');
    assert.deepEqual(claims.grants, grants);
    assert.equal(claims.expiresAt - claims.issuedAt, 3_600_000);
    clock.advance(60_000);
    const renewed = await keeper.renewToken(issued.tokenId, 'door');
    assert.equal((await verifyToken(renewed.token, keeper.root.publicKey, clock, 'bus')).expiresAt, renewed.expiresAt);
    await assert.rejects(keeper.renewToken(renewed.tokenId, 'vending'), { code: 'VAULT_RENEW_MISMATCH' });
    assert.equal(keeper.revokeToken(renewed.tokenId, 'stolen'), true);
    assert.equal(keeper.revokeToken(renewed.tokenId, 'again'), false);
    await assert.rejects(keeper.renewToken(renewed.tokenId, 'door'), { code: 'VAULT_TOKEN_REVOKED' });
    assert.deepEqual(
      keeper.revocationList().revoked.map((r) => r.tokenId),
      [renewed.tokenId],
    );
    assert.throws(() => keeper.revokeToken('no-such-token', 'x'), { code: 'VAULT_UNKNOWN_TOKEN' });
    keeper.close();
  });

  test('an API token verifies only as an API token, is never renewed on the bus, and is revoked like a bus token', async () => {
    const clock = new ManualClock(Date.now());
    const keeper = open(tempDir(), { demo: true }, clock);
    const bus = await keeper.issueToken('door', defaultGrants('door'));
    const api = await keeper.issueToken('door', { pub: [], sub: [] }, 600, { audience: 'api' });
    assert.equal((await verifyToken(api.token, keeper.root.publicKey, clock, 'api')).audience, 'api');
    await assert.rejects(verifyToken(api.token, keeper.root.publicKey, clock, 'bus'), { code: 'TOKEN_WRONG_AUDIENCE' });
    await assert.rejects(verifyToken(bus.token, keeper.root.publicKey, clock, 'api'), { code: 'TOKEN_WRONG_AUDIENCE' });
    await assert.rejects(keeper.renewToken(api.tokenId, 'door'), { code: 'VAULT_RENEW_NOT_BUS_TOKEN' });
    assert.deepEqual(
      new Map(keeper.listTokens().map((t) => [t.tokenId, t.audience])),
      new Map([
        [bus.tokenId, 'bus'],
        [api.tokenId, 'api'],
      ]),
    );
    assert.equal(keeper.revokeToken(api.tokenId, 'leaked'), true);
    assert.deepEqual(
      keeper.revocationList().revoked.map((r) => r.tokenId),
      [api.tokenId],
    );
    keeper.close();
  });

  test('renewing the same token twice gives the same renewal; revoking a token revokes its renewals', async () => {
    const clock = new ManualClock(Date.now());
    const keeper = open(tempDir(), { demo: true }, clock);
    const first = await keeper.issueToken('door', defaultGrants('door'));
    const second = await keeper.renewToken(first.tokenId, 'door');
    clock.advance(5_000);
    const again = await keeper.renewToken(first.tokenId, 'door');
    assert.equal(again.token, second.token, 'a retry gets the same token, not a second chain');
    const third = await keeper.renewToken(second.tokenId, 'door');
    assert.equal(keeper.revokeToken(first.tokenId, 'bundle stolen'), true);
    const revoked = new Set(keeper.revocationList().revoked.map((r) => r.tokenId));
    assert.deepEqual(revoked, new Set([first.tokenId, second.tokenId, third.tokenId]));
    await assert.rejects(keeper.renewToken(third.tokenId, 'door'), { code: 'VAULT_TOKEN_REVOKED' });
    keeper.close();
  });

  test('an expired token is refused for renewal and verification', async () => {
    const clock = new ManualClock(Date.now());
    const keeper = open(tempDir(), { demo: true }, clock);
    const issued = await keeper.issueToken('door', defaultGrants('door'), 60);
    clock.advance(61_000);
    await assert.rejects(verifyToken(issued.token, keeper.root.publicKey, clock, 'bus'), { code: 'TOKEN_EXPIRED' });
    await assert.rejects(keeper.renewToken(issued.tokenId, 'door'), { code: 'TOKEN_EXPIRED' });
    keeper.close();
  });

  test('a token from another vault is a bad signature; a malformed grant is refused at issue', async () => {
    const clock = new ManualClock(Date.now());
    const ours = open(tempDir(), { demo: true }, clock);
    const theirs = open(tempDir(), { demo: true }, clock);
    const foreign = await theirs.issueToken('door', defaultGrants('door'));
    await assert.rejects(verifyToken(foreign.token, ours.root.publicKey, clock, 'bus'), { code: 'TOKEN_BAD_SIGNATURE' });
    await assert.rejects(ours.issueToken('door', { pub: ['dctrl/#/x'], sub: [] }), { code: 'VAULT_GRANTS_INVALID' });
    ours.close();
    theirs.close();
  });

  test('the directory lists every client key but the root, and its version moves with each new key', () => {
    const keeper = open(tempDir(), { demo: true });
    const before = keeper.directory().version;
    keeper.ensureClient('door');
    keeper.ensureClient('door');
    const after = keeper.directory();
    assert.equal(after.version, before + 1);
    assert.deepEqual(
      after.keys.map((k) => k.client),
      ['door'],
    );
    keeper.close();
  });
});

describe('rotating and retiring keys', () => {
  test('rotate: a new key in the directory, the old tokens revoked', async () => {
    const keeper = open(tempDir(), { demo: true });
    const old = keeper.ensureClient('door');
    const token = await keeper.issueToken('door', defaultGrants('door'));
    const before = keeper.versions();
    const fresh = keeper.rotateKey('door');
    assert.notEqual(fresh.publicKeyB64, old.publicKeyB64);
    assert.equal(keeper.signingKey('door').publicKeyB64, fresh.publicKeyB64);
    assert.deepEqual(keeper.directory().keys, [
      { client: 'door', publicKey: fresh.publicKeyB64, encryptionKey: deriveSealingKey(fresh).publicKeyB64 },
    ]);
    assert.notEqual(deriveSealingKey(fresh).publicKeyB64, deriveSealingKey(old).publicKeyB64, 'the sealing key follows');
    assert.ok(keeper.versions().directory > before.directory && keeper.versions().revocations > before.revocations);
    assert.ok(keeper.revocationList().revoked.some((r) => r.tokenId === token.tokenId));
    keeper.close();
  });

  test('retire: gone from the directory, no key, no tokens; the root cannot be retired', async () => {
    const keeper = open(tempDir(), { demo: true });
    keeper.ensureClient('door');
    await keeper.issueToken('door', defaultGrants('door'));
    keeper.retireClient('door');
    assert.deepEqual(keeper.directory().keys, []);
    assert.throws(() => keeper.signingKey('door'), { code: 'VAULT_CLIENT_RETIRED' });
    assert.throws(() => keeper.ensureClient('door'), { code: 'VAULT_CLIENT_RETIRED' });
    await assert.rejects(keeper.issueToken('door', defaultGrants('door')), { code: 'VAULT_CLIENT_RETIRED' });
    assert.throws(() => keeper.retireClient('vault'), { code: 'VAULT_CLIENT_NAME_INVALID' });
    assert.throws(() => keeper.retireClient('nobody'), { code: 'VAULT_UNKNOWN_CLIENT' });
    keeper.rotateKey('door');
    assert.equal(keeper.directory().keys.length, 1, 'rotation brings a retired client back with a new key');
    keeper.close();
  });
});
