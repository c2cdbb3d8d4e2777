// The broker's optional listeners: MQTT over TLS (a real certificate made by openssl) and MQTT over WebSocket.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Ping } from '../../src/core/messages.js';
import { createSubscriptionMgr } from '../../src/subscription-mgr/index.js';
import { eventually, startHarness, tempDir, type Harness } from '../helpers/harness.js';

let h: Harness;
const certDir = tempDir('dctrl-tls-');
const certFile = join(certDir, 'cert.pem');
const keyFile = join(certDir, 'key.pem');

before(async () => {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
  h = await startHarness({
    config: {
      broker: {
        port: 0,
        caFile: certFile,
        tls: { enabled: true, host: '127.0.0.1', port: 0, certFile, keyFile },
        websocket: { enabled: true, port: 0 },
      },
    },
  });
});
after(async () => h.stop());

test('clients reach each other through the TLS and the WebSocket listeners', async () => {
  const urls = h.broker.urls;
  const tlsUrl = urls.find((url) => url.startsWith('mqtts://'))!;
  const wsUrl = urls.find((url) => url.startsWith('ws://'))!;
  assert.ok(tlsUrl && wsUrl, `listeners: ${urls.join(', ')}`);
  const overTls = await h.client('door', { brokerUrl: tlsUrl });
  const overWs = await h.client('dashboard', { brokerUrl: wsUrl, extra: { sub: ['dctrl/v1/door/ping'] } });
  const seen: number[] = [];
  await overWs.listen(Ping, (payload) => void seen.push(payload.seq), 'dctrl/v1/door/ping');
  await overTls.publish(Ping, { seq: 42, sentAtNs: '0', pad: '' });
  await eventually(() => seen.includes(42), 'ping from TLS to WebSocket');
});

test('TLS enabled without certificate files is a clear start error', async () => {
  const context = await h.context('subscription-mgr');
  const broken = createSubscriptionMgr({
    ...context,
    config: { ...context.config, broker: { ...context.config.broker, tls: { enabled: true, host: '127.0.0.1', port: 0 } } },
  });
  await assert.rejects(broken.start(), { code: 'SUBSCRIPTION_MGR_TLS_FILES_MISSING' });
  await broken.stop();
});
