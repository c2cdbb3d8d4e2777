// The pure rules: door verdicts, which product a tap buys, how many an invoice paid for, allow-list content.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DateTime } from 'luxon';
import type { CachedMember, Product, SpacePolicies } from '../../src/business-mgr/cache.js';
import { MemberCache } from '../../src/business-mgr/cache.js';
import { allowListContent, decideDoor, productForTap } from '../../src/business-mgr/rules.js';
import { unitsPaid } from '../../src/core/invoice-units.js';

const ZONE = 'America/Vancouver';
const at = (iso: string) => DateTime.fromISO(iso, { zone: ZONE }).toMillis();
const policies: SpacePolicies = {
  doorHours: {
    members: [{ days: [1, 2, 3, 4, 5], from: '08:00', to: '22:00' }],
    woodshop: [{ days: [6], from: '10:00', to: '16:00' }],
  },
  keyholderGroups: ['keyholders'],
  creditLimitCents: 0,
  timezone: ZONE,
  currency: 'CAD',
};
const member = (memberId: string, groups: string[], fields: Partial<CachedMember> = {}): CachedMember => ({
  memberId,
  active: true,
  left: false,
  balanceCents: 0,
  groups,
  fobs: [{ hash: memberId[0]!.repeat(64), lastDigits: '123' }],
  ...fields,
});
// 2026-12-02 is a Wednesday.
const wednesdayNoon = at('2026-12-02T12:00');

test('door verdicts: each reason in its order', () => {
  const cases: [string, CachedMember | undefined, readonly string[] | undefined, number, string][] = [
    ['no member', undefined, undefined, wednesdayNoon, 'unknown-fob'],
    ['left before inactive', member('a', ['members'], { left: true, active: false }), undefined, wednesdayNoon, 'left'],
    ['inactive', member('a', ['members'], { active: false }), undefined, wednesdayNoon, 'inactive'],
    ['keyholder at 03:00', member('k', ['members', 'keyholders']), undefined, at('2026-12-02T03:00'), 'keyholder'],
    ['member in hours', member('a', ['members']), undefined, wednesdayNoon, 'member-active'],
    ['member at 22:00 sharp', member('a', ['members']), undefined, at('2026-12-02T22:00'), 'outside-hours'],
    ['member on Sunday', member('a', ['members']), undefined, at('2026-12-06T12:00'), 'outside-hours'],
    ['door for woodshop only', member('a', ['members']), ['woodshop'], wednesdayNoon, 'not-allowed-here'],
    ['woodshop member on a weekday', member('w', ['members', 'woodshop']), ['woodshop'], wednesdayNoon, 'outside-hours'],
    ['woodshop member on Saturday', member('w', ['woodshop']), ['woodshop'], at('2026-12-05T11:00'), 'member-active'],
  ];
  for (const [name, who, doorGroups, when, reason] of cases) {
    assert.equal(decideDoor(who, policies, doorGroups, when).reason, reason, name);
  }
});

test('the product a tap buys: the button pressed within 30 s, else the only one, else none', () => {
  const product = (output: string, fields: Partial<Product> = {}): Product => ({
    name: output,
    priceCents: 250,
    machine: 'vending',
    output,
    active: true,
    ...fields,
  });
  const two = new Map([
    ['mate', product('mate')],
    ['cola', product('cola')],
    ['elsewhere', product('mate', { machine: 'other' })],
  ]);
  const tapAt = 1_000_000;
  assert.equal(productForTap(two, 'vending', { input: 'cola', at: tapAt - 30_000 }, tapAt)?.key, 'cola');
  assert.equal(productForTap(two, 'vending', { input: 'cola', at: tapAt - 30_001 }, tapAt), undefined, 'too long ago');
  assert.equal(productForTap(two, 'vending', { input: 'cola', at: tapAt + 1 }, tapAt), undefined, 'after the tap');
  assert.equal(productForTap(two, 'vending', undefined, tapAt), undefined, 'two products, no button');
  const one = new Map([
    ['mate', product('mate')],
    ['old', product('old', { active: false })],
  ]);
  assert.equal(productForTap(one, 'vending', undefined, tapAt)?.key, 'mate');
  assert.equal(productForTap(one, 'vending', { input: 'old', at: tapAt }, tapAt)?.key, 'mate', 'an inactive product is not sold');
});

test('an invoice buys the units its payment covers: at least one, at most twenty, exact for large amounts', () => {
  const rate = 10_000_000; // 100 000.00 a bitcoin
  assert.equal(unitsPaid(5_000, rate, 250), 2);
  assert.equal(unitsPaid(4_999, rate, 250), 1);
  assert.equal(unitsPaid(100, rate, 250), 1, 'settled a little short: still one');
  assert.equal(unitsPaid(2_100_000_000_000_000, 9_000_000_000_000, 250), 20, 'far beyond 2^53 in the product');
  assert.equal(unitsPaid(7_499, rate, 250), 2);
  assert.equal(unitsPaid(7_500, rate, 250), 3);
});

test('allow-list content: keyholders -1, one schedule per distinct set of windows, lapsed and never-allowed left out', () => {
  const cache = new MemberCache();
  const facts = (memberId: string, groups: string[], status: 'member' | 'left' = 'member') => ({
    memberId,
    tier: 'member',
    exempt: false,
    status,
    fobs: [{ fobHash: memberId[0]!.repeat(64), lastDigits: '123' }],
    groups,
    badges: [],
  });
  cache.load(
    [
      facts('ada', []),
      facts('bob', []),
      facts('kay', ['keyholders']),
      facts('ina', []),
      facts('lee', [], 'left'),
      facts('wes', ['woodshop']),
    ],
    ['ada', 'bob', 'kay', 'lee', 'wes'].map((memberId) => ({ memberId, status: 'active' as const, balanceCents: 0, groups: [] })),
  );
  for (const id of ['ada', 'bob', 'kay', 'wes']) {
    const line = cache.member(id)!;
    cache.applyStatus(
      id,
      true,
      0,
      id === 'kay' ? ['members', 'keyholders'] : id === 'wes' ? ['members', 'woodshop'] : ['members'],
    );
    assert.ok(line.active);
  }
  const content = allowListContent(cache.members(), policies, undefined);
  assert.deepEqual(content.schedules, [
    policies.doorHours['members'],
    [...policies.doorHours['members']!, ...policies.doorHours['woodshop']!],
  ]);
  assert.deepEqual(content.entries, [
    ['a'.repeat(32), 0],
    ['b'.repeat(32), 0],
    ['k'.repeat(32), -1],
    ['w'.repeat(32), 1],
  ]);
  const woodshopDoor = allowListContent(cache.members(), policies, ['woodshop']);
  assert.deepEqual(woodshopDoor.entries, [
    ['k'.repeat(32), -1],
    ['w'.repeat(32), 0],
  ]);
  assert.equal(cache.byFob('l'.repeat(64))?.left, true, 'a leaver is known by their fob, never listed');
});
