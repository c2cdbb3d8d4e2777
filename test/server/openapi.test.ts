// The OpenAPI document the Server serves: valid OpenAPI 3.0 (checked with the ajv Fastify validates requests with,
// against the rules in openapi-3.0.ts, and the few a schema cannot say), naming every route the app registers;
// and real replies of the routes, from the real services over HTTP, valid against the reply schemas it declares.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import type { BusClient } from '../../src/auth-proxy/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { InvoiceCreate } from '../../src/core/messages-chain.js';
import { MachineStatus, MachineTap } from '../../src/core/messages-machine.js';
import { doorStatus } from './door-status.js';
import { LedgerRecord, MemberCommand } from '../../src/core/messages.js';
import type { Service } from '../../src/core/service.js';
import { createPriceNotifier } from '../../src/price-notifier/index.js';
import { createDeviceBoard } from '../../src/server/devices.js';
import { APP_PARTS, buildApp, type AppDeps, type AppPart } from '../../src/server/index.js';
import { createLiveFeed } from '../../src/server/live.js';
import { createServerMetrics } from '../../src/server/metrics.js';
import { createSpaceApi } from '../../src/server/spaceapi.js';
import { OPENAPI_3_0_SUBSET } from './openapi-3.0.js';
import { startServerHub, type ServerHub } from './hub.js';

type Validate = ((data: unknown) => boolean) & { errors?: unknown[] | null };
interface Ajv {
  compile(schema: object): Validate;
}

/** Fastify's own ajv (8), which it validates requests with; the one at the top of node_modules is ESLint's (6). */
function fastifyAjv(options: object): Ajv {
  const fromFastify = createRequire(createRequire(import.meta.url).resolve('@fastify/ajv-compiler'));
  const { default: AjvClass } = fromFastify('ajv') as { default: new (options: object) => Ajv };
  return new AjvClass(options);
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
}
interface Operation {
  parameters?: Parameter[];
  operationId?: string;
  responses: Record<string, { content?: Record<string, { schema: object }> }>;
}
type PathItem = Partial<Record<(typeof METHODS)[number], Operation>>;
interface Document {
  openapi: string;
  paths: Record<string, PathItem>;
}

/** Fastify's `/a/:id` as OpenAPI's `/a/{id}`. */
const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** Every route the app registers after login (the parts), as "METHOD /path", except HEAD and hidden ones. */
async function registeredRoutes(hub: ServerHub): Promise<string[]> {
  const routes: string[] = [];
  const collect: AppPart = (app) => {
    app.addHook('onRoute', (route) => {
      if (route.schema?.hide) return;
      for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push(`${method} ${openApiPath(route.url)}`);
    });
  };
  // Nothing here is started or asked: the parts only need what they hold on to while registering.
  const bus = {
    on() {},
    onAny() {},
    subscribe: () => Promise.resolve(),
    listen: () => Promise.resolve(),
  } as unknown as BusClient;
  const { config, clock } = hub.h;
  const deps: AppDeps = {
    config,
    clock,
    logger: silentLogger,
    ask: () => Promise.reject(new Error('not asked while registering')),
    store: hub.store,
    rootPublicKey: hub.h.keeper.root.publicKeyB64,
    isRevoked: () => false,
    live: createLiveFeed({ bus, clock, bufferSize: 10 }),
    metrics: createServerMetrics({ bus, clock, defaultMetrics: false }),
    spaceApi: createSpaceApi({ bus, clock, options: config.server.spaceApi }),
    devices: createDeviceBoard({ bus, clock, devices: config.machines.devices }),
    space: () => Promise.reject(new Error('not asked while registering')),
  };
  const app = await buildApp(deps, [collect, ...APP_PARTS]);
  await app.close();
  return routes;
}

/** Every string `pattern` anywhere in the document. */
function patterns(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) for (const item of node) patterns(item, found);
  else if (typeof node === 'object' && node !== null) {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'pattern' && typeof value === 'string') found.push(value);
      else patterns(value, found);
    }
  }
  return found;
}

describe('server: the OpenAPI document', () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 2, 18));
  let hub: ServerHub;
  let prices: Service;
  let admin: string;
  let document: Document;
  let ada: string;
  let invoiceId: string;

  before(async () => {
    hub = await startServerHub({
      clock,
      config: { vault: { tokenTtlSeconds: 7 * 86_400, directoryTtlSeconds: 7 * 86_400 } },
    });
    hub.h.keeper.ensureClient('price-notifier');
    await hub.h.vault.publishChanges();
    prices = createPriceNotifier(await hub.h.context('price-notifier'));
    await prices.start();
    ada = await hub.join('Ada Lovelace', 'ada@example.org');
    await hub.join('Ken Thompson', 'ken@example.org');
    const fob = { hash: 'b2'.repeat(32), lastDigits: '222' };
    await hub.cli.request(MemberCommand, { action: 'issue-fob', memberId: ada, fob });
    await hub.cli.request(LedgerRecord, { kind: 'payment', memberId: ada, cents: 2_500, method: 'cash', causedBy: 'receipt-9' });
    const { invoice } = (await hub.cli.request(InvoiceCreate, { cents: 700, memberId: ada })) as { invoice: { id: string } };
    invoiceId = invoice.id;
    await hub.user('root', 'admin');
    admin = await hub.login('root');
    const door = await hub.h.client('front-door');
    await door.publish(
      MachineStatus,
      doorStatus(clock.now(), { allowList: { version: 2, expiresAt: clock.now() + 3_600_000, entries: 1 } }),
      { expiresInMs: 60_000 },
    );
    // A decision to list: BusinessMgr may still be warming its cache, so tap until it has decided one for Ada.
    for (let tries = 0; tries < 50; tries++) {
      const response = await hub.call(`/api/v1/decisions?memberId=${ada}`, { cookie: admin });
      if (((await response.json()) as { decisions: unknown[] }).decisions.length > 0) break;
      await door.publish(MachineTap, { device: 'front-door', fob, at: clock.now(), reader: 'simulated' });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    document = (await (await hub.call('/api/openapi.json')).json()) as Document;
  });
  after(async () => {
    await prices?.stop();
    await hub?.stop();
  });

  test('is an OpenAPI 3.0 document by the rules a schema can check', () => {
    // strictRequired would want each `required` beside its `properties`, which the spec's either-or rules are not.
    const validate = fastifyAjv({ allErrors: true, strict: true, strictRequired: false }).compile(OPENAPI_3_0_SUBSET);
    const valid = validate(document);
    assert.ok(valid, JSON.stringify(validate.errors?.slice(0, 10), null, 2));
    assert.equal(document.openapi, '3.0.3');
  });

  test('the rules refuse what OpenAPI 3.0 does not allow (draft 7 habits among them)', () => {
    const validate = fastifyAjv({ allErrors: true, strict: true, strictRequired: false }).compile(OPENAPI_3_0_SUBSET);
    const json = (at: Document) => at.paths['/api/v1/members']!.get!.responses['200']!.content!['application/json']!;
    const hostile: [string, (copy: Document) => void][] = [
      ['openapi 3.1', (copy) => void (copy.openapi = '3.1.0')],
      ['a "null" type', (copy) => void (json(copy).schema = { type: 'null' })],
      ['a list of types', (copy) => void (json(copy).schema = { type: ['string', 'null'] })],
      ['const', (copy) => void (json(copy).schema = { type: 'string', const: 'x' })],
      ['a numeric exclusiveMinimum', (copy) => void (json(copy).schema = { type: 'integer', exclusiveMinimum: 0 })],
      ['an array without items', (copy) => void (json(copy).schema = { type: 'array' })],
      [
        'an operation without responses',
        (copy) => void delete (copy.paths['/api/v1/ledger']!.get as Partial<Operation>).responses,
      ],
      ['a response without a description', (copy) => void (copy.paths['/api/v1/ledger']!.get!.responses['200'] = {})],
      [
        'an optional path parameter',
        (copy) => void (copy.paths['/api/v1/members/{memberId}']!.get!.parameters![0]!.required = false),
      ],
      [
        'a parameter without a schema',
        (copy) => void delete (copy.paths['/api/v1/ledger']!.get!.parameters![0] as { schema?: unknown }).schema,
      ],
    ];
    assert.ok(validate(document), 'the document itself passes');
    for (const [what, spoil] of hostile) {
      const copy = structuredClone(document);
      spoil(copy);
      assert.equal(validate(copy), false, what);
    }
  });

  test('and by those it cannot: path templates, unique parameters and ids, ECMA 262 patterns', () => {
    const operationIds: string[] = [];
    for (const [path, item] of Object.entries(document.paths)) {
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]);
      for (const method of METHODS) {
        const operation = item[method];
        if (!operation) continue;
        const where = `${method.toUpperCase()} ${path}`;
        const parameters = operation.parameters ?? [];
        // "Each template expression in the path MUST correspond to a path parameter", and no path parameter else.
        assert.deepEqual(
          parameters
            .filter((parameter) => parameter.in === 'path')
            .map((parameter) => parameter.name)
            .sort(),
          [...templated].sort(),
          `${where}: path parameters`,
        );
        // "A unique parameter is defined by a combination of a name and location."
        const keys = parameters.map((parameter) => `${parameter.in}:${parameter.name}`);
        assert.equal(new Set(keys).size, keys.length, `${where}: parameters repeat`);
        if (operation.operationId !== undefined) operationIds.push(operation.operationId);
      }
    }
    assert.equal(new Set(operationIds).size, operationIds.length, 'operationIds are unique');
    for (const pattern of patterns(document.paths)) assert.doesNotThrow(() => new RegExp(pattern, 'u'), pattern);
  });

  test('names every route the app registers, and only those', async () => {
    const documented = Object.entries(document.paths).flatMap(([path, item]) =>
      METHODS.filter((method) => item[method]).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const registered = await registeredRoutes(hub);
    assert.ok(registered.includes('GET /api/v1/ledger'), 'the collector saw the parts');
    // Login and logout are registered before the parts.
    const session = ['POST /api/v1/session', 'GET /api/v1/session', 'DELETE /api/v1/session'];
    assert.deepEqual([...documented].sort(), [...registered, ...session].sort());
  });

  test('declares what staff routes reply, as JSON and as CSV where they have it', () => {
    for (const path of [
      '/api/v1/members',
      '/api/v1/members/{memberId}/statement',
      '/api/v1/reports/income',
      '/api/v1/reports/balances',
      '/api/v1/ledger',
    ]) {
      const content = document.paths[path]?.get?.responses['200']?.content ?? {};
      assert.deepEqual(Object.keys(content).sort(), ['application/json', 'text/csv'], path);
    }
    for (const path of ['/api/v1/reports/balances', '/api/v1/ledger']) {
      const reply = document.paths[path]?.get?.responses['200'] as { headers?: Record<string, unknown> } | undefined;
      assert.ok(reply?.headers?.['x-next'], `${path} names the header that leads to the next CSV page`);
    }
  });

  test('real replies validate against the reply schemas it declares', async () => {
    const ajv = fastifyAjv({ allErrors: true, strict: true });
    const templates = Object.keys(document.paths).map((path) => ({
      path,
      match: new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}$`),
    }));
    const checked: [string, (body: Record<string, unknown>) => boolean][] = [
      ['/api/v1/members', (body) => (body.members as unknown[]).length === 2],
      [`/api/v1/members/${ada}/statement`, (body) => (body.entries as unknown[]).length > 0],
      ['/api/v1/reports/income?month=2026-11', (body) => (body.lines as unknown[]).length > 0],
      ['/api/v1/reports/balances', (body) => (body.balances as unknown[]).length > 0],
      ['/api/v1/reports/income-by-month?months=2', (body) => (body.months as unknown[]).length === 2],
      ['/api/v1/ledger', (body) => (body.entries as unknown[]).length > 0],
      ['/api/v1/invoices', (body) => (body.invoices as unknown[]).length === 1],
      [`/api/v1/invoices/${invoiceId}`, (body) => typeof body.qrSvg === 'string'],
      ['/api/v1/devices', (body) => (body.devices as { detail: unknown }[]).some((device) => device.detail !== null)],
      ['/api/v1/decisions', (body) => (body.decisions as unknown[]).length > 0],
      ['/api/v1/events?limit=200', (body) => (body.events as unknown[]).length > 0],
    ];
    for (const [url, hasData] of checked) {
      const path = url.split('?')[0]!;
      const template = templates.find((candidate) => candidate.match.test(path));
      assert.ok(template, `${path} is documented`);
      const schema = document.paths[template.path]?.get?.responses['200']?.content?.['application/json']?.schema;
      assert.ok(schema, `${template.path} declares its JSON reply`);
      const response = await hub.call(url, { cookie: admin });
      assert.equal(response.status, 200, url);
      const body = (await response.json()) as Record<string, unknown>;
      assert.ok(hasData(body), `${url} has data to check: ${JSON.stringify(body).slice(0, 300)}`);
      const validate = ajv.compile(schema);
      assert.ok(validate(body), `${url}: ${JSON.stringify(validate.errors?.slice(0, 5))}`);
    }
  });
});
