// Config: defaults that run with no file, file < env < flags, and one error naming every bad key.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { configKeyPaths, envNameFor, loadConfig } from '../../src/core/config.js';
import { tempDir } from '../helpers/harness.js';

describe('config', () => {
  test('defaults alone make a working embedded config', () => {
    const config = loadConfig();
    assert.equal(config.broker.url, 'mqtt://127.0.0.1:1883');
    assert.equal(config.broker.host, '127.0.0.1');
    assert.deepEqual(config.services, [
      'subscription-mgr',
      'vault',
      'event-logger',
      'business-data',
      'member-data',
      'reporter',
      'price-notifier',
      'chain-notifier',
      'business-mgr',
      'member-mail',
      'payout-mgr',
      'server',
      'machine-notifier',
      'machine-mgr',
    ]);
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.broker));
    // The demo pair of simulated devices; a door gets a simulated door output when it names none.
    assert.deepEqual(Object.keys(config.machines.devices), ['front-door', 'vending']);
    assert.deepEqual(config.machines.devices['front-door']!.outputs, { door: { driver: 'simulated' } });
  });

  test('devices are checked: an id that is a service, a door without its output, a local device not configured', () => {
    assert.throws(
      () =>
        loadConfig({
          overrides: {
            machines: {
              devices: {
                reporter: { kind: 'door' },
                side: { kind: 'door', doorOutput: 'strike', outputs: { bolt: { driver: 'simulated' } } },
                tiny: { kind: 'vending', outputs: { slot: { driver: 'gpio', chip: 'chip0', line: 1 } } },
              },
              local: ['back-door'],
            },
          },
        }),
      (error: Error) =>
        /machines\.devices\.reporter": a device id is its bus client name/.test(error.message) &&
        /machines\.devices\.side\.outputs": a door needs its doorOutput "strike"/.test(error.message) &&
        /machines\.devices\.tiny\.outputs\.slot\.chip": expected gpiochipN/.test(error.message) &&
        /machines\.local": "back-door" is not in machines\.devices/.test(error.message),
    );
  });

  test('precedence: flags beat env vars beat the file', () => {
    const file = join(tempDir(), 'dctrl.config.json');
    writeFileSync(file, JSON.stringify({ dataDir: '/from-file', broker: { port: 1000 }, bus: { freshnessWindowMs: 1 } }));
    const config = loadConfig({
      file,
      env: { DCTRL_BROKER__PORT: '2000', DCTRL_BUS__FRESHNESS_WINDOW_MS: '30000', PATH: '/bin' },
      overrides: { 'broker.port': 3000 },
    });
    assert.equal(config.dataDir, '/from-file');
    assert.equal(config.bus.freshnessWindowMs, 30_000);
    assert.equal(config.broker.port, 3000);
  });

  test('every bad value is named with what is allowed, in one error', () => {
    assert.throws(
      () =>
        loadConfig({
          overrides: {
            'broker.port': 70_000,
            'eventLogger.fsync': 'sometimes',
            services: ['vault', 'coffee-maker'],
            'broker.url': 'http://x',
          },
        }),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'CORE_CONFIG_INVALID');
        assert.match(error.message, /"broker\.port": Too big: expected number to be <=65535/);
        assert.match(error.message, /"eventLogger\.fsync": Invalid option: expected one of "always"\|"interval"\|"never"/);
        assert.match(error.message, /"services\.1": Invalid option/);
        assert.match(error.message, /"broker\.url": expected mqtt:\/\/, mqtts:\/\/, ws:\/\/ or wss:\/\//);
        return true;
      },
    );
  });

  test('unknown keys and unknown DCTRL_ variables are refused, secret variables are not config', () => {
    assert.throws(() => loadConfig({ overrides: { 'broker.prot': 1 } }), /unknown key "broker\.prot"/);
    assert.throws(() => loadConfig({ env: { DCTRL_BORKER__PORT: '1' } }), /unknown environment variable DCTRL_BORKER__PORT/);
    assert.doesNotThrow(() => loadConfig({ env: { DCTRL_VAULT_PASSPHRASE: 'x', DCTRL_VAULT_KEY_FILE: '/k' } }));
  });

  test('a config file that is not JSON names the file', () => {
    const file = join(tempDir(), 'bad.json');
    writeFileSync(file, '{ broker: ');
    assert.throws(
      () => loadConfig({ file }),
      (error: Error & { code?: string }) => error.code === 'CORE_CONFIG_FILE_UNREADABLE' && error.message.includes(file),
    );
    assert.throws(() => loadConfig({ file: '/nonexistent/dctrl.json' }), { code: 'CORE_CONFIG_FILE_UNREADABLE' });
  });

  test('text from env vars and flags is read as the key type: lists by comma, strings stay strings', () => {
    const config = loadConfig({ env: { DCTRL_SERVICES: 'vault, event-logger', DCTRL_DATA_DIR: '2024' }, overrides: {} });
    assert.deepEqual(config.services, ['vault', 'event-logger']);
    assert.equal(config.dataDir, '2024');
    assert.deepEqual(loadConfig({ env: { DCTRL_SERVICES: '["vault"]' } }).services, ['vault']);
    assert.equal(loadConfig({ env: { DCTRL_BUS__VERIFY_THREADS: 'auto' } }).bus.verifyThreads, 'auto');
    assert.equal(loadConfig({ env: { DCTRL_BUS__VERIFY_THREADS: '0' } }).bus.verifyThreads, 0);
  });

  test('settings that would make receivers drop the key directory are refused', () => {
    assert.throws(
      () => loadConfig({ overrides: { 'bus.maxStateTtlMs': 3_600_000 } }),
      /"vault\.directoryTtlSeconds": must be at most bus\.maxStateTtlMs/,
    );
    assert.throws(
      () =>
        loadConfig({
          overrides: { 'bus.maxStateTtlMs': 3_600_000, 'vault.directoryTtlSeconds': 3_600, 'bus.heartbeatMs': 2_000_000 },
        }),
      /"bus\.heartbeatMs": three heartbeats/,
    );
  });

  test('env var names follow the key paths', () => {
    assert.equal(envNameFor(['broker', 'tls', 'certFile']), 'DCTRL_BROKER__TLS__CERT_FILE');
    assert.ok(configKeyPaths().some((path) => path.join('.') === 'eventLogger.fsyncIntervalMs'));
  });
});

test('a fixed demo rate on mainnet is refused, naming the key', () => {
  assert.throws(
    () => loadConfig({ overrides: { chain: { network: 'mainnet' } } }),
    (error: Error) => /priceNotifier\.sources/.test(error.message) && /mainnet/.test(error.message),
  );
});
