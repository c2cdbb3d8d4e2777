// SpaceAPI on a real bus: open and closed from door openings, a door contact and a key switch, times from the clock.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ulid } from 'ulid';
import type { BusClient } from '../../src/auth-proxy/index.js';
import type { Envelope } from '../../src/core/envelope.js';
import { ManualClock } from '../../src/core/clock.js';
import { MachineActuation, MachineInput, MachineStatus } from '../../src/core/messages-machine.js';
import { doorStatus } from './door-status.js';
import { createSpaceApi, type SpaceApi, type SpaceApiOptions } from '../../src/server/spaceapi.js';
import { eventually, startHarness, type Harness } from '../helpers/harness.js';

/** Top-level properties SpaceAPI v15 defines (schema 15.json); anything else is a typo or another version's field. */
const V15_PROPERTIES = new Set([
  'api_compatibility',
  'space',
  'logo',
  'url',
  'location',
  'spacefed',
  'cam',
  'state',
  'events',
  'contact',
  'sensors',
  'feeds',
  'projects',
  'links',
  'membership_plans',
  'linked_spaces',
]);

/**
 * The checks of the SpaceAPI v15 schema (https://schema.spaceapi.io/15.json) on the fields this endpoint fills:
 * required api_compatibility containing "15", space, logo, url and contact; location with at least one property and
 * lat and lon together; state.open boolean, lastchange a number of seconds, message a string.
 */
function assertSpaceApiV15(document: unknown): void {
  assert.ok(typeof document === 'object' && document !== null && !Array.isArray(document), 'the document is an object');
  const doc = document as Record<string, unknown>;
  for (const key of ['api_compatibility', 'space', 'logo', 'url', 'contact'])
    assert.ok(key in doc, `required property ${key} is present`);
  for (const key of Object.keys(doc)) assert.ok(V15_PROPERTIES.has(key), `${key} is a v15 property`);
  assert.ok(Array.isArray(doc.api_compatibility), 'api_compatibility is an array');
  assert.ok(
    doc.api_compatibility.every((version) => typeof version === 'string'),
    'api_compatibility holds strings',
  );
  assert.ok(doc.api_compatibility.includes('15'), 'api_compatibility contains "15"');
  for (const key of ['space', 'logo', 'url']) assert.equal(typeof doc[key], 'string', `${key} is a string`);
  assert.ok(typeof doc.contact === 'object' && doc.contact !== null, 'contact is an object');
  for (const [key, value] of Object.entries(doc.contact)) assert.equal(typeof value, 'string', `contact.${key} is a string`);
  if ('location' in doc) {
    const location = doc.location as Record<string, unknown>;
    assert.ok(Object.keys(location).length >= 1, 'location has at least one property');
    assert.equal('lat' in location, 'lon' in location, 'lat and lon come together');
    if ('lat' in location) assert.ok(typeof location.lat === 'number' && typeof location.lon === 'number', 'lat, lon numbers');
    if ('address' in location) assert.equal(typeof location.address, 'string');
  }
  if ('state' in doc) {
    const state = doc.state as Record<string, unknown>;
    assert.ok(typeof state === 'object' && state !== null, 'state is an object');
    if ('open' in state) assert.equal(typeof state.open, 'boolean', 'state.open is a boolean (never null in v15)');
    if ('lastchange' in state) {
      assert.equal(typeof state.lastchange, 'number');
      assert.ok(Number.isInteger(state.lastchange) && (state.lastchange as number) < 1e11, 'lastchange is in seconds');
    }
    if ('message' in state) assert.equal(typeof state.message, 'string');
  }
}

const clock = new ManualClock(Date.now());
let h: Harness;
let server: BusClient;
const clients: Record<string, BusClient> = {};
/** Ids of the machine messages the Server's client handed to its handlers (after the SpaceAPI's own). */
const heard = new Set<string>();

before(async () => {
  h = await startHarness({ clock });
  server = await h.client('server');
  for (const name of ['front-door', 'back-door', 'vending', 'keybox']) clients[name] = await h.client(name);
});
after(async () => h.stop());

function options(overrides: Partial<SpaceApiOptions> = {}): SpaceApiOptions {
  return {
    space: 'Test Space',
    url: 'https://space.example/',
    logo: 'https://space.example/logo.svg',
    location: { lat: 49.2827, lon: -123.1207, address: '1 Main St, Vancouver, Canada' },
    contact: { email: 'hello@space.example', irc: 'ircs://irc.example/#space', matrix: '#space:example.org' },
    door: { device: 'front-door', input: null, openValue: 0 },
    switch: null,
    openForMinutesAfterEntry: 5,
    ...overrides,
  };
}

async function started(api: SpaceApi, bus: BusClient = server): Promise<SpaceApi> {
  await api.start();
  const note = (_: unknown, envelope: Envelope) => void heard.add(envelope.id);
  bus.on(MachineInput, note);
  bus.on(MachineActuation, note);
  bus.on(MachineStatus, note);
  return api;
}

/** Publishes and waits until the Server has handled it, so what it did not change can be asserted. */
async function delivered(sent: Promise<Envelope>): Promise<void> {
  const envelope = await sent;
  await eventually(() => heard.has(envelope.id), `message ${envelope.type} ${envelope.id} handled`);
}

const actuation = (device: string, action: 'open' | 'vend', outcome: 'actuated' | 'failed' = 'actuated') =>
  clients[device]!.publish(MachineActuation, {
    device,
    commandId: ulid(),
    decisionId: ulid(),
    action,
    output: action === 'open' ? 'door' : 'club-mate',
    sequence: 1,
    outcome,
    driver: 'simulated',
    latencyMs: 5,
    startedAt: clock.now(),
    finishedAt: clock.now(),
    ...(outcome === 'failed' ? { error: { code: 'MACHINE_MGR_GPIO', message: 'pin stuck' } } : {}),
  });

const input = (publisher: string, device: string, name: string, value: 0 | 1) =>
  clients[publisher]!.publish(MachineInput, { device, input: name, kind: 'sensor', value, at: clock.now() });

const seconds = (ms: number) => Math.floor(ms / 1000);

test('the document has every v15 required field and the configured identity', () => {
  const api = createSpaceApi({ bus: server, clock, options: options() });
  const document = api.document();
  assertSpaceApiV15(document);
  assert.deepEqual(document.api_compatibility, ['15']);
  assert.equal(document.space, 'Test Space');
  assert.deepEqual(document.location, { lat: 49.2827, lon: -123.1207, address: '1 Main St, Vancouver, Canada' });
  assert.deepEqual(document.contact, {
    email: 'hello@space.example',
    irc: 'ircs://irc.example/#space',
    matrix: '#space:example.org',
  });
  const placeless = createSpaceApi({ bus: server, clock, options: options({ location: null, contact: {} }) }).document();
  assertSpaceApiV15(placeless);
  assert.equal('location' in placeless, false);
  assert.throws(
    () => assertSpaceApiV15({ ...document, api: '0.13' }),
    /api is a v15 property/,
    'the check catches a stray field',
  );
  assert.throws(() => assertSpaceApiV15({ ...document, api_compatibility: ['14'] }), /contains "15"/);
});

test('without a door contact: open for N minutes after the door opened, closed after, unknown at first', async () => {
  const api = await started(createSpaceApi({ bus: server, clock, options: options() }));
  assert.equal('open' in api.document().state, false, 'nothing heard yet: open is left out');
  assertSpaceApiV15(api.document());

  await delivered(actuation('front-door', 'open', 'failed'));
  await delivered(actuation('vending', 'vend'));
  await delivered(actuation('back-door', 'open'));
  assert.equal('open' in api.document().state, false, 'a failed opening, a vend and another door do not open the space');

  const firstEntry = clock.now();
  await delivered(actuation('front-door', 'open'));
  assert.deepEqual(api.document().state, {
    open: true,
    lastchange: seconds(firstEntry),
    message: 'someone came in within the last 5 minutes',
  });
  assertSpaceApiV15(api.document());

  clock.advance(4 * 60_000);
  const secondEntry = clock.now();
  await delivered(actuation('front-door', 'open'));
  clock.advance(4 * 60_000);
  assert.equal(api.document().state.open, true, 'a second entry keeps it open');
  assert.equal(api.document().state.lastchange, seconds(firstEntry), 'open since the first entry');

  clock.advance(60_000);
  assert.deepEqual(api.document().state, {
    open: false,
    lastchange: seconds(secondEntry + 5 * 60_000),
    message: 'nobody came in for 5 minutes',
  });
  assertSpaceApiV15(api.document());
  api.stop();
});

test('nobody came in since the Server listened for a whole window: closed, with no lastchange', async () => {
  const api = await started(createSpaceApi({ bus: server, clock, options: options() }));
  clock.advance(5 * 60_000);
  assert.deepEqual(api.document().state, { open: false, message: 'nobody came in for 5 minutes' });
  api.stop();
});

test('a door contact decides; a key switch, once heard, decides over it; a device cannot speak for another', async () => {
  const api = await started(
    createSpaceApi({
      bus: server,
      clock,
      options: options({
        door: { device: 'front-door', input: 'contact', openValue: 0 },
        switch: { device: 'keybox', input: 'key', openValue: 1 },
      }),
    }),
  );
  assert.deepEqual(api.document().state, { message: 'not known yet: no reading from the door' });

  const openedAt = clock.now();
  await delivered(input('front-door', 'front-door', 'contact', 0));
  assert.deepEqual(api.document().state, { open: true, lastchange: seconds(openedAt), message: 'door open' });
  clock.advance(30_000);
  await delivered(input('front-door', 'front-door', 'contact', 0));
  assert.equal(api.document().state.lastchange, seconds(openedAt), 'the same value again is no change');

  clock.advance(30_000);
  const closedAt = clock.now();
  await delivered(input('front-door', 'front-door', 'contact', 1));
  assert.deepEqual(api.document().state, { open: false, lastchange: seconds(closedAt), message: 'door closed' });

  clock.advance(10_000);
  await delivered(input('vending', 'front-door', 'contact', 0));
  await delivered(input('front-door', 'front-door', 'light', 0));
  await delivered(actuation('front-door', 'open'));
  assert.equal(api.document().state.open, false, 'another device’s word, another input and an opening change nothing');

  const switchedAt = clock.now();
  await delivered(input('keybox', 'keybox', 'key', 1));
  assert.deepEqual(api.document().state, { open: true, lastchange: seconds(switchedAt), message: 'switched open' });
  clock.advance(60_000);
  await delivered(input('front-door', 'front-door', 'contact', 1));
  assert.equal(api.document().state.open, true, 'the door closing does not close a space switched open');
  await delivered(input('keybox', 'keybox', 'key', 0));
  assert.deepEqual(api.document().state, { open: false, lastchange: seconds(clock.now()), message: 'switched closed' });
  assertSpaceApiV15(api.document());
  api.stop();
});

test('a door opened just before the Server started counts, from its retained heartbeat', async () => {
  const openedAt = clock.now() - 60_000;
  await clients['front-door']!.publish(MachineStatus, doorStatus(clock.now(), { lastActuationAt: openedAt }), {
    expiresInMs: 90_000,
  });
  const fresh = await h.client('server', { instance: 'restarted' });
  const api = await started(createSpaceApi({ bus: fresh, clock, options: options() }), fresh);
  await eventually(() => api.document().state.open === true, 'open from the retained status');
  assert.equal(api.document().state.lastchange, seconds(openedAt));
  clock.advance(4 * 60_000 + 1);
  assert.equal(api.document().state.open, false, 'five minutes after that opening');
  api.stop();
});
