// The dashboard's files and the hackerspace conventions over real HTTP: the built UI at / with page addresses
// falling back to it, path traversal never leaving the folder, the live stream (server-sent events) for staff
// only and without fob hashes or emails, Prometheus metrics, and the SpaceAPI document following the door.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MachineActuation, MachineStatus, MachineTap } from '../../src/core/messages-machine.js';
import { doorStatus } from './door-status.js';
import { tempDir } from '../helpers/harness.js';
import { startServerHub, type ServerHub } from './hub.js';

describe('server: dashboard files, live stream, metrics and SpaceAPI', () => {
  let hub: ServerHub;
  let staff: string;
  let member: string;
  const publicDir = join(tempDir('dctrl-ui-'), 'public');

  before(async () => {
    const built = spawnSync(process.execPath, ['scripts/build-ui.mjs', publicDir], { encoding: 'utf8' });
    assert.equal(built.status, 0, built.stderr);
    hub = await startServerHub({
      config: {
        server: { port: 0, publicDir, liveKeepaliveSeconds: 1, spaceApi: { space: 'Test Space', openForMinutesAfterEntry: 30 } },
        machines: { devices: { 'front-door': { kind: 'door' } } },
      },
    });
    const ada = await hub.join('Ada Lovelace', 'ada@example.org');
    await hub.user('root', 'admin');
    await hub.user('ada', 'member', ada);
    staff = await hub.login('root');
    member = await hub.login('ada');
  });
  after(async () => {
    await hub.stop();
  });

  test('the built dashboard is served at /, and a page address opens it; API misses stay JSON 404s', async () => {
    const index = await hub.call('/');
    assert.equal(index.status, 200);
    const html = await index.text();
    assert.match(html, /<script[^>]+src="\/app\.js\?v=[0-9a-f]{12}"/);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    const script = await hub.call('/app.js');
    assert.equal(script.status, 200);
    assert.match(script.headers.get('content-type') ?? '', /javascript/);
    const page = await hub.call('/members/01ABCDEF');
    assert.equal(page.status, 200);
    assert.equal(await page.text(), html);
    const api = await hub.call('/api/v1/nothing-here');
    assert.equal(api.status, 404);
    assert.equal(((await api.json()) as { code: string }).code, 'SERVER_NOT_FOUND');
    assert.equal((await hub.call('/missing.js')).status, 404);
  });

  test('path traversal in file routes never leaves the dashboard folder', async () => {
    const secret = readFileSync('package.json', 'utf8').slice(0, 40);
    for (const path of [
      '/../package.json',
      '/%2e%2e/package.json',
      '/%2e%2e%2fpackage.json',
      '/..%2f..%2fpackage.json',
      '/app.js/../../package.json',
      '/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/..%5c..%5cpackage.json',
      '/.%2e/.%2e/package.json',
    ]) {
      const response = await fetch(`${hub.base}${path}`);
      const body = await response.text();
      assert.ok(!body.includes(secret) && !body.includes('root:x:0:0'), `${path} leaked a file (${response.status})`);
      assert.ok(
        response.status === 404 || response.status === 403 || response.status === 400 || /<html/i.test(body),
        `${path}: ${response.status}`,
      );
    }
  });

  test('the live stream sends bus events as they happen, without fob hashes or emails; a member may not open it', async () => {
    assert.equal((await hub.call('/api/v1/live', { cookie: member })).status, 403);
    const controller = new AbortController();
    const response = await fetch(`${hub.base}/api/v1/live?replay=0`, { headers: { cookie: staff }, signal: controller.signal });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const reader = response.body!.getReader();
    let text = '';
    const door = await hub.h.client('front-door');
    const fobHash = 'f'.repeat(64);
    await door.publish(MachineTap, {
      device: 'front-door',
      fob: { hash: fobHash, lastDigits: '042' },
      at: hub.h.clock.now(),
      reader: 'simulated',
    });
    const deadline = Date.now() + 5_000;
    while (!text.includes('"machine.tap"') && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value as Uint8Array);
    }
    controller.abort();
    assert.match(text, /^id: \S+\ndata: \{.*"type":"machine\.tap".*\}\n\n/m);
    assert.match(text, /"lastDigits":"042"/);
    assert.ok(!text.includes(fobHash), 'no fob hash in the stream');
    assert.ok(!text.includes('ada@example.org'), 'no email in the stream');
  });

  test('a live stream ends once its login does; one left open does not hold up the server’s stop', async () => {
    const cookie = await hub.login('root');
    const response = await fetch(`${hub.base}/api/v1/live?replay=0`, { headers: { cookie } });
    assert.equal(response.status, 200);
    await hub.call('/api/v1/session', { cookie, method: 'DELETE' });
    const reader = response.body!.getReader();
    const deadline = Date.now() + 5_000;
    let ended = false;
    while (!ended && Date.now() < deadline) ended = (await reader.read()).done;
    assert.ok(ended, 'the stream ended after the logout');
    // Left open for the hub's stop in after(): it must not wait for it.
    void fetch(`${hub.base}/api/v1/live?replay=0`, { headers: { cookie: staff } }).catch(() => undefined);
  });

  test('Prometheus metrics count what crossed the bus and say which devices are up', async () => {
    const door = await hub.h.client('front-door', { instance: 'status' });
    const now = hub.h.clock.now();
    await door.publish(MachineStatus, doorStatus(now), { expiresInMs: 60_000 });
    let text = '';
    const deadline = Date.now() + 5_000;
    while (!/dctrl_device_up\{device="front-door"\} 1/.test(text) && Date.now() < deadline) {
      text = await (await hub.call('/metrics')).text();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.match(text, /# TYPE dctrl_bus_messages_total counter/);
    assert.match(text, /dctrl_bus_messages_total\{type="machine\.tap"\} [1-9]/);
    assert.match(text, /dctrl_device_up\{device="front-door"\} 1/);
    assert.match(text, /process_cpu_user_seconds_total/);
  });

  test('the SpaceAPI document says open after the door opened, for anyone, from any origin', async () => {
    const door = await hub.h.client('front-door', { instance: 'actuation' });
    const now = hub.h.clock.now();
    await door.publish(MachineActuation, {
      device: 'front-door',
      commandId: null,
      decisionId: null,
      action: 'open',
      output: 'door',
      sequence: 1,
      outcome: 'actuated',
      driver: 'simulated',
      latencyMs: null,
      startedAt: now,
      finishedAt: now,
    });
    let document: { space: string; api_compatibility: string[]; state?: { open?: boolean } } = {
      space: '',
      api_compatibility: [],
    };
    const deadline = Date.now() + 5_000;
    while (document.state?.open !== true && Date.now() < deadline) {
      const response = await hub.call('/spaceapi.json');
      assert.equal(response.headers.get('access-control-allow-origin'), '*');
      document = (await response.json()) as typeof document;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(document.space, 'Test Space');
    assert.deepEqual(document.api_compatibility, ['15']);
    assert.equal(document.state?.open, true);
  });
});
