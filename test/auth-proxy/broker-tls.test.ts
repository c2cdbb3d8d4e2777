// A client pins the hub's CA from its credentials bundle: over mqtts:// it talks only to a broker with a certificate from
// that CA, and refuses any other with AUTH_PROXY_BROKER_UNTRUSTED. Real broker, real TLS; certificates from `dctrl tls init`.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:tls';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createBusClient } from '../../src/auth-proxy/index.js';
import { readCredentialsBundle, writeCredentialsBundle } from '../../src/cli/credentials.js';
import { initBrokerTls } from '../../src/cli/tls.js';
import { brokerTlsPaths } from '../../src/core/broker-tls.js';
import { systemClock } from '../../src/core/clock.js';
import { Ping } from '../../src/core/messages.js';
import type { Credentials } from '../../src/core/service.js';
import { eventually, startHarness, tempDir, type Harness } from '../helpers/harness.js';

let h: Harness;
const hubTls = brokerTlsPaths(tempDir());
const strangerTls = brokerTlsPaths(tempDir());
let hubCa: string;
let strangerCa: string;

before(async () => {
  await initBrokerTls(join(hubTls.dir, '..'), {}, systemClock);
  await initBrokerTls(join(strangerTls.dir, '..'), {}, systemClock);
  hubCa = readFileSync(hubTls.caCert, 'utf8');
  strangerCa = readFileSync(strangerTls.caCert, 'utf8');
  h = await startHarness({
    config: {
      broker: {
        // Asked for every interface: with TLS on, plain MQTT must still stay on loopback.
        host: '0.0.0.0',
        tls: { enabled: true, host: '127.0.0.1', port: 0, certFile: hubTls.serverCert, keyFile: hubTls.serverKey },
      },
    },
  });
});
after(async () => h?.stop());

const tlsUrl = (host: string) => h.broker.urls.find((url) => url.startsWith('mqtts://'))!.replace('127.0.0.1', host);

/** A bus client as a device builds it from its bundle: written, read back, then started. */
async function deviceClient(client: string, brokerUrl: string, brokerCa: string | undefined) {
  const file = join(tempDir(), `${client}.creds.json`);
  const issued: Credentials = await h.credentials(client);
  await h.vault.publishChanges();
  writeCredentialsBundle(file, issued.rootPublicKey, [issued], brokerCa);
  const credentials = readCredentialsBundle(file).get(client)!;
  assert.equal(credentials.brokerCa, brokerCa, 'the bundle carries the CA, or none');
  const context = await h.context(client);
  return createBusClient({ ...context, credentials }, { brokerUrl });
}

test('with TLS on, plain MQTT listens on loopback only even when broker.host is every interface', () => {
  const [plain, secure] = h.broker.urls;
  assert.match(plain!, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
  assert.match(secure!, /^mqtts:\/\/127\.0\.0\.1:\d+$/);
});

test('a device that pins the hub’s CA works over mqtts://, by name and by address', async () => {
  for (const host of ['localhost', '127.0.0.1']) {
    const door = await deviceClient('door', tlsUrl(host), hubCa);
    await door.start();
    const listener = await h.client('dashboard', { extra: { sub: ['dctrl/v1/door/ping'] } });
    const seen: number[] = [];
    await listener.listen(Ping, (payload) => void seen.push(payload.seq), 'dctrl/v1/door/ping');
    await door.publish(Ping, { seq: 7, sentAtNs: '0', pad: '' });
    await eventually(() => seen.includes(7), `ping over mqtts://${host}`);
    await door.stop();
    await listener.stop();
  }
});

test('a device refuses a broker whose certificate is from another CA, with a coded error', async () => {
  const door = await deviceClient('door', tlsUrl('localhost'), strangerCa);
  await assert.rejects(door.start(), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'AUTH_PROXY_BROKER_UNTRUSTED');
    assert.match(error.message, /did not prove it is the hub \(UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    return true;
  });
  // A bundle with no CA trusts only the system's roots, which never issued the hub's certificate.
  const unpinned = await deviceClient('door', tlsUrl('localhost'), undefined);
  await assert.rejects(unpinned.start(), { code: 'AUTH_PROXY_BROKER_UNTRUSTED' });
});

test('a certificate from the hub’s CA that does not name the host dialled is refused too', async () => {
  // Signed by the right CA, but for another name only: the hostname check, not the chain, must refuse it.
  const dir = tempDir();
  const [key, csr, cert, ext] = ['key.pem', 'req.csr', 'cert.pem', 'ext.cnf'].map((name) => join(dir, name));
  writeFileSync(ext!, 'subjectAltName=DNS:elsewhere.example\n');
  execFileSync(
    'openssl',
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      '/CN=elsewhere.example',
      '-keyout',
      key!,
      '-out',
      csr!,
    ],
    { stdio: 'ignore' },
  );
  execFileSync(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      csr!,
      '-CA',
      hubTls.caCert,
      '-CAkey',
      hubTls.caKey,
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      ext!,
      '-out',
      cert!,
    ],
    { stdio: 'ignore' },
  );
  const impostor = createServer({ cert: readFileSync(cert!), key: readFileSync(key!) }, (socket) => socket.destroy());
  await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
  try {
    const door = await deviceClient('door', `mqtts://localhost:${(impostor.address() as AddressInfo).port}`, hubCa);
    await assert.rejects(door.start(), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'AUTH_PROXY_BROKER_UNTRUSTED');
      assert.match(error.message, /ERR_TLS_CERT_ALTNAME_INVALID/);
      return true;
    });
  } finally {
    await new Promise((resolve) => impostor.close(resolve));
  }
});

test('a bundle without a CA still works over plain MQTT on loopback', async () => {
  const door = await deviceClient('door', h.broker.urls[0]!, undefined);
  await door.start();
  assert.ok(door.directoryVersion > 0);
  await door.stop();
});

test('a renewed token written back keeps the CA in the bundle', async () => {
  const file = join(tempDir(), 'door.creds.json');
  const issued = await h.credentials('door');
  writeCredentialsBundle(file, issued.rootPublicKey, [issued], hubCa);
  readCredentialsBundle(file).get('door')!.saveToken!('token-2');
  const again = readCredentialsBundle(file).get('door')!;
  assert.equal(again.token, 'token-2');
  assert.equal(again.brokerCa, hubCa);
});
