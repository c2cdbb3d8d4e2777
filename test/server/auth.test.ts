// Logging in to the dashboard and what each role may see, over real HTTP against the real services: wrong
// passwords slowed (the rest in login-throttle.test.ts), sessions that expire, a member's login on a staff route, a
// member reading another member's data, Vault tokens for machines, malformed queries and oversized bodies.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { createBusClient } from '../../src/auth-proxy/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { startServerHub, type ServerHub } from './hub.js';

describe('server: login, sessions and roles', () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 2, 18));
  let hub: ServerHub;
  let ada: string;
  let ken: string;

  before(async () => {
    hub = await startServerHub({
      clock,
      config: {
        server: {
          port: 0,
          sessionIdleMinutes: 30,
          loginMaxFailures: 3,
          loginWindowMinutes: 10,
          apiClients: { 'door-display': 'treasurer' },
        },
        vault: { tokenTtlSeconds: 7 * 86_400, directoryTtlSeconds: 7 * 86_400 },
      },
    });
    ada = await hub.join('Ada Lovelace', 'ada@example.org');
    ken = await hub.join('Ken Thompson', 'ken@example.org');
    await hub.user('root', 'admin');
    await hub.user('tess', 'treasurer');
    await hub.user('ada', 'member', ada);
  });
  after(async () => {
    await hub.stop();
  });

  const bearer = (token: string) => hub.call('/api/v1/members', { headers: { authorization: `Bearer ${token}` } });

  /** The MQTT password a real bus client sends to a broker that is not ours: a listener that only reads CONNECT. */
  const passwordSentToForeignBroker = async (client: string): Promise<string> => {
    const sockets = new Set<Socket>();
    let heard: (password: string) => void = () => undefined;
    const password = new Promise<string>((resolve) => (heard = resolve));
    const foreign = createServer((socket) => {
      sockets.add(socket);
      const parser = mqttPacket.parser({ protocolVersion: 4 });
      parser.on('packet', (packet) => {
        if (packet.cmd === 'connect' && packet.password) heard(packet.password.toString('utf8'));
      });
      socket.on('data', (chunk) => parser.parse(chunk));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve));
    const { port } = foreign.address() as AddressInfo;
    const bus = createBusClient(await hub.h.context(client), { brokerUrl: `mqtt://127.0.0.1:${port}` });
    // start() never finishes: this broker never answers; stop() below ends the attempt.
    void bus.start().catch(() => undefined);
    try {
      return await password;
    } finally {
      await bus.stop();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => foreign.close(resolve));
    }
  };

  test('an operator logs in, sees who they are and the member list; logging out ends the session', async () => {
    const cookie = await hub.login('root');
    const me = await hub.call('/api/v1/session', { cookie });
    assert.deepEqual(await me.json(), { name: 'root', role: 'admin', memberId: null, timezone: 'America/Vancouver' });
    const members = await hub.call('/api/v1/members', { cookie });
    assert.equal(members.status, 200);
    const body = (await members.json()) as { members: { name: string; status: string }[] };
    assert.deepEqual(
      body.members.map((member) => member.name),
      ['Ada Lovelace', 'Ken Thompson'],
    );
    assert.equal((await hub.call('/api/v1/session', { cookie, method: 'DELETE' })).status, 204);
    const after = await hub.call('/api/v1/members', { cookie });
    assert.equal(after.status, 401);
    assert.equal(((await after.json()) as { code: string }).code, 'SERVER_NOT_LOGGED_IN');
  });

  test('the session cookie is HttpOnly and SameSite=Strict, and only a hash of it is stored', async () => {
    const response = await hub.call('/api/v1/session', { body: { name: 'tess', password: 'tess-password-123' } });
    const cookie = response.headers.get('set-cookie') ?? '';
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const token = /dctrl_session=([^;]+)/.exec(cookie)![1]!;
    const rows = await hub.database.db
      .selectFrom('server_sessions' as never)
      .selectAll()
      .execute();
    assert.ok(!JSON.stringify(rows).includes(token));
  });

  test('a wrong password is refused without saying which half was wrong, then slowed with Retry-After', async () => {
    const wrong = () => hub.call('/api/v1/session', { body: { name: 'tess', password: 'not-the-password' } });
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const response = await wrong();
      assert.equal(response.status, 401);
      assert.deepEqual(await response.json(), { code: 'SERVER_LOGIN_FAILED', message: 'wrong name or password' });
    }
    const limited = await wrong();
    assert.equal(limited.status, 429);
    assert.equal(((await limited.json()) as { code: string }).code, 'SERVER_LOGIN_RATE_LIMITED');
    assert.equal(limited.headers.get('retry-after'), '1');
    // Even the right password waits from the guessing address: a guesser learns nothing from it.
    const right = await hub.call('/api/v1/session', { body: { name: 'tess', password: 'tess-password-123' } });
    assert.equal(right.status, 429);
    clock.advance(1_000);
    assert.equal((await hub.call('/api/v1/session', { body: { name: 'tess', password: 'tess-password-123' } })).status, 200);
    const unknown = await hub.call('/api/v1/session', { body: { name: 'nobody', password: 'whatever-it-is' } });
    assert.equal(unknown.status, 401);
  });

  test('a burst of parallel guesses gets no more tries than the limit', async () => {
    await hub.user('pat', 'treasurer');
    clock.advance(10 * 60_000 + 1); // the earlier tests' failures from this address have passed
    const answers = await Promise.all(
      Array.from({ length: 12 }, () => hub.call('/api/v1/session', { body: { name: 'pat', password: 'guess-guess-guess' } })),
    );
    const statuses = answers.map((response) => response.status).sort();
    assert.equal(statuses.filter((status) => status === 401).length, 3, statuses.join(' '));
    assert.equal(statuses.filter((status) => status === 429).length, 9);
    clock.advance(10 * 60_000 + 1);
  });

  test('a session unused for longer than the idle time has expired', async () => {
    const cookie = await hub.login('root');
    clock.advance(29 * 60_000);
    assert.equal((await hub.call('/api/v1/session', { cookie })).status, 200, 'used within the idle time');
    clock.advance(31 * 60_000);
    const expired = await hub.call('/api/v1/session', { cookie });
    assert.equal(expired.status, 401);
    assert.equal(((await expired.json()) as { code: string }).code, 'SERVER_SESSION_EXPIRED');
  });

  test('a member sees their own data and never another member’s, nor a staff route', async () => {
    const cookie = await hub.login('ada');
    assert.equal((await hub.call(`/api/v1/members/${ada}`, { cookie })).status, 200);
    assert.equal((await hub.call(`/api/v1/members/${ada}/statement`, { cookie })).status, 200);
    for (const path of [
      `/api/v1/members/${ken}`,
      `/api/v1/members/${ken}/statement`,
      `/api/v1/members/${ken}/deposit`,
      '/api/v1/members',
    ]) {
      const response = await hub.call(path, { cookie });
      assert.equal(response.status, 403, path);
      assert.equal(((await response.json()) as { code: string }).code, 'SERVER_FORBIDDEN');
    }
    const own = (await (await hub.call(`/api/v1/members/${ada}`, { cookie })).json()) as {
      member: { name: string; fobs: unknown[] };
    };
    assert.equal(own.member.name, 'Ada Lovelace');
  });

  test('a machine calls the API with a Vault API token mapped to a role; an unmapped or revoked token is refused', async () => {
    const issued = await hub.h.apiToken('door-display');
    assert.equal((await bearer(issued.token)).status, 200);
    const other = await hub.h.apiToken('stranger');
    assert.equal((await bearer(other.token)).status, 403);
    assert.equal((await bearer('not.a.token')).status, 401);
    hub.h.keeper.revokeToken(issued.tokenId, 'stolen');
    await hub.h.vault.publishChanges();
    // The server learns of revocations on the bus; ask until it has (each try is one real round trip).
    for (let tries = 0; (await bearer(issued.token)).status !== 401; tries++) {
      assert.ok(tries < 500, 'the server never learned of the revocation');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const refused = await bearer(issued.token);
    assert.match(((await refused.json()) as { message: string }).message, /revoked/);
  });

  test('a bus token captured at CONNECT, as a foreign broker sees it, is refused by the REST API', async () => {
    const captured = await passwordSentToForeignBroker('door-display');
    const refused = await bearer(captured);
    assert.equal(refused.status, 401);
    const body = (await refused.json()) as { code: string; message: string };
    assert.equal(body.code, 'SERVER_TOKEN_WRONG_AUDIENCE');
    assert.match(body.message, /dctrl token issue <client> --api/);
  });

  test('the broker refuses an API token at CONNECT', async () => {
    const issued = await hub.h.apiToken('door-display');
    const connection = mqtt.connect(hub.h.brokerUrl, {
      clientId: 'door-display',
      username: 'door-display',
      password: issued.token,
      reconnectPeriod: 0,
    });
    const error = await new Promise<Error & { code?: number }>((resolve) => connection.once('error', resolve));
    connection.end(true);
    assert.equal(error.code, 4, 'CONNACK 4: bad user name or password');
  });

  test('malformed query parameters and path values are refused naming what was wrong', async () => {
    const cookie = await hub.login('root');
    const badLimit = await hub.call('/api/v1/members?limit=0', { cookie });
    assert.equal(badLimit.status, 400);
    const body = (await badLimit.json()) as { code: string; message: string };
    assert.equal(body.code, 'SERVER_BAD_REQUEST');
    assert.match(body.message, /limit/);
    assert.equal((await hub.call('/api/v1/members?limit=many', { cookie })).status, 400);
    const extra = await hub.call('/api/v1/members?colour=blue', { cookie });
    assert.equal(extra.status, 400);
    assert.match(((await extra.json()) as { message: string }).message, /"colour" is not a parameter of this route/);
    assert.equal((await hub.call(`/api/v1/members/${ada}/statement?month=2026-13`, { cookie })).status, 400);
    assert.equal((await hub.call('/api/v1/members/not%20an%20id', { cookie })).status, 400);
    const unknown = await hub.call('/api/v1/members/01ZZZZZZZZZZZZZZZZZZZZZZZZ', { cookie });
    assert.equal(unknown.status, 404);
  });

  test('an oversized body is refused with 413 before it is read', async () => {
    const response = await hub.call('/api/v1/session', { body: { name: 'root', password: 'x'.repeat(70_000) } });
    assert.equal(response.status, 413);
    assert.equal(((await response.json()) as { code: string }).code, 'SERVER_BODY_TOO_LARGE');
  });

  test('the OpenAPI document describes the routes', async () => {
    const response = await hub.call('/api/openapi.json');
    const document = (await response.json()) as { openapi: string; paths: Record<string, unknown> };
    assert.equal(document.openapi, '3.0.3');
    assert.ok(document.paths['/api/v1/members/{memberId}/statement']);
  });
});
