// The `dctrl` command as an operator uses it: up and Ctrl-C, tokens, keys, the log, and one service on another machine.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { freePort } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/harness.js';
import { dctrl, dctrlBackground } from '../helpers/cli.js';

describe('dctrl', () => {
  test('up starts the embedded hackerspace, prints where things are, and stops cleanly on Ctrl-C', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    const up = dctrlBackground(['up', '--data-dir', dataDir, '--set', `broker.port=${port}`]);
    await up.waitFor('Press Ctrl-C to stop.');
    assert.match(up.stdout(), new RegExp(`broker \\(mqtt\\): mqtt://127\\.0\\.0\\.1:${port}`));
    assert.match(up.stdout(), new RegExp(`data folder: ${dataDir}`));
    assert.match(up.stderr(), /demo mode/);
    assert.equal(await up.stop('SIGINT'), 0);
    assert.match(up.stdout(), /stopped cleanly/);
    const verify = dctrl(['log', 'verify', '--data-dir', dataDir]);
    assert.equal(verify.status, 0, verify.stderr);
    assert.match(verify.stdout, /chain intact/);
    assert.match(verify.stdout, /signed head checked/);
  });

  test('log tail --follow prints records as a running hub appends them; log replay prints history as JSON lines', async () => {
    const dataDir = tempDir();
    const follow = dctrlBackground(['log', 'tail', '--follow', '--data-dir', dataDir]);
    const up = dctrlBackground(['up', '--data-dir', dataDir, '--set', `broker.port=${await freePort()}`]);
    try {
      await up.waitFor('Press Ctrl-C to stop.');
      await follow.waitFor('vault.revocations');
      assert.match(follow.stdout(), /^\s+1 .* vault +vault\.directory +dctrl\/v1\/vault\/directory/m);
    } finally {
      await up.stop();
      await follow.stop();
    }
    const replay = dctrl(['log', 'replay', '--from', '2', '--data-dir', dataDir]);
    assert.equal(replay.status, 0, replay.stderr);
    const records = replay.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { seq: number; env: { type: string } });
    assert.equal(records[0]!.seq, 2);
    assert.deepEqual(
      records.map((r) => r.seq),
      records.map((_, i) => i + 2),
    );
    assert.ok(records.some((r) => r.env.type === 'vault.revocations'));
    assert.match(
      dctrl(['log', 'tail', '-n', 'ten', '--data-dir', dataDir]).stderr,
      /CLI_OPTION_INVALID: --lines expects a whole number, got "ten"/,
    );
    const bad = dctrl(['log', 'replay', '--from', 'yesterday-ish', '--data-dir', dataDir]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /CLI_OPTION_INVALID: --from expects/);
  });

  test('a wrong config value fails at start, naming the key and what is allowed (exit 2)', () => {
    const result = dctrl(['up', '--data-dir', tempDir(), '--set', 'broker.port=99999', '--set', 'eventLogger.fsync=maybe']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /CORE_CONFIG_INVALID/);
    assert.match(result.stderr, /"broker\.port": Too big/);
    assert.match(result.stderr, /"eventLogger\.fsync": Invalid option: expected one of "always"\|"interval"\|"never"/);
    const env = dctrl(['up', '--data-dir', tempDir()], { DCTRL_BROKER__PORT: 'eighteen' });
    assert.equal(env.status, 2);
    assert.match(env.stderr, /"broker\.port": Invalid input: expected number, received string/);
  });

  test('token issue, list and revoke; keys list', () => {
    const dataDir = tempDir();
    const noVault = dctrl(['token', 'list', '--data-dir', dataDir]);
    assert.equal(noVault.status, 1);
    assert.match(noVault.stderr, /CLI_NO_VAULT: no vault in /);
    assert.match(dctrl(['vault', 'init', '--data-dir', dataDir]).stdout, /vault created/);
    const badGrant = dctrl(['token', 'issue', 'door', '--pub', 'a/#/b', '--data-dir', dataDir]);
    assert.equal(badGrant.status, 1);
    assert.match(badGrant.stderr, /^dctrl: VAULT_GRANTS_INVALID: /m);
    const unwritable = dctrl(['vault', 'export', 'door', '--out', '/nonexistent/dir/creds.json', '--data-dir', dataDir]);
    assert.equal(unwritable.status, 1);
    assert.match(unwritable.stderr, /^dctrl: CLI_FAILED: .*ENOENT/m);
    const issued = dctrl([
      'token',
      'issue',
      'door-front',
      '--sub',
      'dctrl/v1/business-mgr/#',
      '--ttl',
      '600',
      '--data-dir',
      dataDir,
    ]);
    assert.equal(issued.status, 0, issued.stderr);
    const tokenId = /token id:\s+(\S+)/.exec(issued.stdout)![1]!;
    assert.match(issued.stdout, /subscribe: .*dctrl\/v1\/business-mgr\/#/);
    assert.match(dctrl(['token', 'list', '--data-dir', dataDir]).stdout, new RegExp(`${tokenId}\\s+door-front .* valid`));
    assert.match(dctrl(['token', 'revoke', tokenId, '--reason', 'fob lost', '--data-dir', dataDir]).stdout, /revoked/);
    assert.match(dctrl(['token', 'list', '--data-dir', dataDir]).stdout, /revoked \(fob lost\)/);
    const api = dctrl(['token', 'issue', 'door-front', '--api', '--data-dir', dataDir]);
    assert.equal(api.status, 0, api.stderr);
    const apiTokenId = /token id:\s+(\S+)/.exec(api.stdout)![1]!;
    assert.match(api.stdout, /for: +the REST API/);
    assert.match(
      dctrl(['token', 'list', '--data-dir', dataDir]).stdout,
      new RegExp(`${apiTokenId}\\s+door-front\\s+api .* valid`),
    );
    const apiWithGrants = dctrl(['token', 'issue', 'door-front', '--api', '--pub', 'dctrl/x', '--data-dir', dataDir]);
    assert.notEqual(apiWithGrants.status, 0);
    assert.match(apiWithGrants.stderr, /CLI_OPTION_INVALID/);
    const unknown = dctrl(['token', 'revoke', 'nope', '--data-dir', dataDir]);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /VAULT_UNKNOWN_TOKEN/);
    assert.match(dctrl(['keys', 'list', '--data-dir', dataDir]).stdout, /vault\s+\S{43}/);
    assert.equal(dctrl(['vault', 'export', 'door-back', '--out', join(dataDir, 'door.json'), '--data-dir', dataDir]).status, 0);
    assert.match(dctrl(['keys', 'rotate', 'door-back', '--data-dir', dataDir]).stdout, /new key for door-back/);
    assert.match(dctrl(['keys', 'retire', 'door-back', '--data-dir', dataDir]).stdout, /retired door-back/);
    assert.match(dctrl(['keys', 'list', '--data-dir', dataDir]).stdout, /door-back\s+\S{43}\s+\S+\s+retired/);
    assert.match(dctrl(['keys', 'retire', 'vault', '--data-dir', dataDir]).stderr, /VAULT_CLIENT_NAME_INVALID/);
    const wrong = dctrl(['token', 'list', '--data-dir', dataDir], { DCTRL_VAULT_PASSPHRASE: 'not the demo key' });
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /VAULT_WRONG_KEY/);
  });

  test('one service alone on "another machine", with exported credentials, against the hub broker', async () => {
    const hubDir = tempDir();
    const port = await freePort();
    const hub = dctrlBackground(['up', '--only', 'subscription-mgr,vault', '--data-dir', hubDir, '--set', `broker.port=${port}`]);
    try {
      await hub.waitFor('Press Ctrl-C to stop.');
      const credentials = join(tempDir(), 'creds.json');
      const exported = dctrl(['vault', 'export', 'event-logger', '--out', credentials, '--data-dir', hubDir]);
      assert.equal(exported.status, 0, exported.stderr);
      assert.equal(statSync(credentials).mode & 0o077, 0, 'credentials are private');
      const piDir = tempDir();
      const pi = dctrlBackground([
        'up',
        '--only',
        'event-logger',
        '--broker',
        `mqtt://127.0.0.1:${port}`,
        '--credentials',
        credentials,
        '--data-dir',
        piDir,
      ]);
      await pi.waitFor('Press Ctrl-C to stop.');
      assert.match(pi.stdout(), /running \(only event-logger\)/);
      assert.equal(await pi.stop('SIGTERM'), 0);
      const tail = dctrl(['log', 'tail', '--data-dir', piDir]);
      assert.match(tail.stdout, /vault\.directory/);
      const missing = dctrl(['up', '--only', 'event-logger', '--broker', `mqtt://127.0.0.1:${port}`, '--data-dir', tempDir()]);
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, /CLI_CREDENTIALS_MISSING.*dctrl vault export event-logger/);
    } finally {
      await hub.stop();
    }
  });
});
