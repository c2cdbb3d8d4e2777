// `dctrl tls init`: the hub's CA and the broker's certificate, checked with node:crypto and a real TLS handshake; and
// the command line refusing to send its token in plaintext off this machine, before it connects anywhere.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { connect, createServer } from 'node:tls';
import { test } from 'node:test';
import { assertTokenStaysPrivate } from '../../src/cli/broker-trust.js';
import { initBrokerTls } from '../../src/cli/tls.js';
import { brokerTlsPaths } from '../../src/core/broker-tls.js';
import { systemClock } from '../../src/core/clock.js';
import { dctrl } from '../helpers/cli.js';
import { tempDir } from '../helpers/harness.js';

/** A real TLS server with the broker's files; resolves with the client's verdict for the name it dials. */
async function handshake(paths: ReturnType<typeof brokerTlsPaths>, ca: string, servername: string): Promise<string> {
  const server = createServer({ cert: readFileSync(paths.serverCert), key: readFileSync(paths.serverKey) }, (socket) =>
    socket.end(),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, ca, servername, rejectUnauthorized: true });
      socket.once('secureConnect', () => {
        socket.destroy();
        resolve('authorized');
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

test('tls init makes a CA and a broker certificate that chains to it, for this machine and the names given, keys 0600', async () => {
  const dataDir = tempDir();
  const result = await initBrokerTls(dataDir, { hosts: ['Hub.Example'], ips: ['192.0.2.7'] }, systemClock);
  const paths = brokerTlsPaths(dataDir);
  assert.equal(result.caCreated, true);
  const ca = new X509Certificate(readFileSync(paths.caCert));
  const server = new X509Certificate(readFileSync(paths.serverCert));
  assert.equal(ca.ca, true, 'the CA is a CA');
  assert.equal(server.ca, false, 'the broker certificate signs nothing');
  assert.ok(ca.verify(ca.publicKey), 'the CA is self-signed');
  assert.ok(server.verify(ca.publicKey), 'the broker certificate is signed by the CA');
  assert.ok(server.checkIssued(ca));
  assert.equal(result.caFingerprint, ca.fingerprint256);
  const names = server.subjectAltName!.split(', ');
  for (const name of [
    'DNS:localhost',
    `DNS:${hostname().toLowerCase()}`,
    'DNS:hub.example',
    'IP Address:127.0.0.1',
    'IP Address:0:0:0:0:0:0:0:1',
    'IP Address:192.0.2.7',
  ])
    assert.ok(names.includes(name), `${name} in ${server.subjectAltName}`);
  assert.ok(server.checkHost('hub.example') && server.checkIP('::1') && !server.checkHost('other.example'));
  for (const key of [paths.caKey, paths.serverKey]) assert.equal(statSync(key).mode & 0o777, 0o600, key);
  assert.equal(statSync(paths.dir).mode & 0o077, 0, 'the folder is private');

  const pem = readFileSync(paths.caCert, 'utf8');
  assert.equal(await handshake(paths, pem, 'hub.example'), 'authorized');
  assert.equal(await handshake(paths, pem, 'other.example'), 'ERR_TLS_CERT_ALTNAME_INVALID');
  const stranger = tempDir();
  await initBrokerTls(stranger, {}, systemClock);
  assert.equal(
    await handshake(paths, readFileSync(brokerTlsPaths(stranger).caCert, 'utf8'), 'hub.example'),
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'another CA does not vouch for it',
  );
});

test('running it again keeps the CA devices pin and issues a new broker certificate for the new names', async () => {
  const dataDir = tempDir();
  const paths = brokerTlsPaths(dataDir);
  const first = await initBrokerTls(dataDir, {}, systemClock);
  const firstServer = new X509Certificate(readFileSync(paths.serverCert));
  const second = await initBrokerTls(dataDir, { hosts: ['door-net.lan'] }, systemClock);
  const secondServer = new X509Certificate(readFileSync(paths.serverCert));
  assert.equal(second.caCreated, false);
  assert.equal(second.caFingerprint, first.caFingerprint);
  assert.notEqual(secondServer.serialNumber, firstServer.serialNumber);
  assert.ok(secondServer.checkHost('door-net.lan') && !firstServer.checkHost('door-net.lan'));
  assert.ok(secondServer.verify(new X509Certificate(readFileSync(paths.caCert)).publicKey));
});

test('tls init refuses a name that is neither a DNS name nor an address, and writes nothing', () => {
  const dataDir = tempDir();
  const bad = dctrl(['tls', 'init', '--host', 'hub example', '--data-dir', dataDir]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /CLI_OPTION_INVALID: --host expects a DNS name/);
  const badIp = dctrl(['tls', 'init', '--ip', '300.1.1.1', '--data-dir', dataDir]);
  assert.match(badIp.stderr, /CLI_OPTION_INVALID: --ip expects/);
  assert.throws(() => statSync(brokerTlsPaths(dataDir).dir), { code: 'ENOENT' });
});

test('the token goes in plaintext only to this machine: loopback names pass, any other host needs the flag', () => {
  for (const url of [
    'mqtt://127.0.0.1:1883',
    'mqtt://127.8.9.10:1883',
    'mqtt://[::1]:1883',
    'ws://localhost:8080',
    'mqtt://LOCALHOST',
  ])
    assert.doesNotThrow(() => assertTokenStaysPrivate(url, false), url);
  for (const url of ['mqtts://hub.example:8883', 'wss://192.0.2.1:443'])
    assert.doesNotThrow(() => assertTokenStaysPrivate(url, false));
  for (const url of ['mqtt://192.0.2.1:1883', 'mqtt://hub:1883', 'ws://[2001:db8::1]:8080', 'mqtt://localhost.example.org'])
    assert.throws(() => assertTokenStaysPrivate(url, false), { code: 'CLI_PLAINTEXT_REFUSED' }, url);
  assert.doesNotThrow(() => assertTokenStaysPrivate('mqtt://192.0.2.1:1883', true));
});

test('the command line refuses plaintext to another host before it opens the vault or connects; --allow-plaintext lets it by', () => {
  // No vault here and a documentation-only address (TEST-NET-1): the refusal must come before either matters.
  const dataDir = tempDir();
  const refused = dctrl(['member', 'list', '--data-dir', dataDir, '--set', 'broker.url=mqtt://192.0.2.1:1883']);
  assert.equal(refused.status, 1);
  assert.match(
    refused.stderr,
    /CLI_PLAINTEXT_REFUSED: broker\.url mqtt:\/\/192\.0\.2\.1:1883 is plaintext to a host that is not this machine's loopback/,
  );
  // With the flag it goes on to the next check, the missing vault, still without connecting.
  const allowed = dctrl([
    'member',
    'list',
    '--allow-plaintext',
    '--data-dir',
    dataDir,
    '--set',
    'broker.url=mqtt://192.0.2.1:1883',
  ]);
  assert.equal(allowed.status, 1);
  assert.match(allowed.stderr, /CLI_NO_VAULT/);
});
