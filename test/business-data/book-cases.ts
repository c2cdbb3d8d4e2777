// BusinessData's versioned book, written once and run against SQLite and a real PostgreSQL.
import assert from 'node:assert/strict';
import type { DatabaseFactory } from '../helpers/databases.js';
import { after, before, describe, test } from 'node:test';
import { BusinessBook } from '../../src/business-data/book.js';
import { ManualClock } from '../../src/core/clock.js';
import type { DatabaseHandle } from '../../src/core/storage/index.js';

export function runBookCases(name: string, factory: DatabaseFactory): void {
  describe(`business data book: ${name}`, () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 27, 12));
    let handle: DatabaseHandle;
    let book: BusinessBook;
    before(async () => {
      handle = await factory.create();
      book = await BusinessBook.open(handle, clock);
    });
    after(async () => {
      await handle.close();
      await factory.cleanup();
    });

    test('defaults: one tier at 75 CAD a month, ten grace days, in force from the beginning', async () => {
      const now = await book.inForce('2026-11-27');
      assert.deepEqual(now.tiers, { member: { name: 'Member', monthlyDuesCents: 7_500, active: true } });
      assert.equal(now.policies.graceDays, 10);
      assert.equal(now.policies.currency, 'CAD');
      assert.equal(now.policies.timezone, 'America/Vancouver');
      assert.deepEqual((await book.inForce('1970-01-01')).tiers.member?.monthlyDuesCents, 7_500);
    });

    test('opening the book again adds no second set of defaults', async () => {
      const again = await BusinessBook.open(handle, clock);
      assert.equal((await again.history('tier', 'member')).length, 1);
    });

    test('a price change takes effect on its day; the day before keeps the old price; the history stays', async () => {
      clock.advance(1_000);
      await book.set(
        { kind: 'tier', key: 'member', value: { name: 'Member', monthlyDuesCents: 8_000 }, effectiveFrom: '2027-01-01' },
        'cli',
      );
      assert.equal((await book.inForce('2026-12-31')).tiers.member?.monthlyDuesCents, 7_500);
      assert.equal((await book.inForce('2027-01-01')).tiers.member?.monthlyDuesCents, 8_000);
      const history = await book.history('tier', 'member');
      assert.deepEqual(
        history.map((c) => c.effectiveFrom),
        ['1970-01-01', '2027-01-01'],
      );
      assert.equal(history[1]!.recordedBy, 'cli');
    });

    test('a correction for the same day wins over the change it corrects', async () => {
      clock.advance(1_000);
      await book.set(
        {
          kind: 'tier',
          key: 'member',
          value: { name: 'Member', monthlyDuesCents: 7_900 },
          effectiveFrom: '2027-01-01',
          note: 'typo',
        },
        'cli',
      );
      assert.equal((await book.inForce('2027-02-01')).tiers.member?.monthlyDuesCents, 7_900);
    });

    test('products and policies follow the same rule', async () => {
      clock.advance(1_000);
      await book.set(
        {
          kind: 'product',
          key: 'club-mate',
          value: { name: 'Club-Mate', priceCents: 350, machine: 'vending-1', output: 'gpiochip0:17' },
          effectiveFrom: '2026-11-01',
        },
        'cli',
      );
      await book.set({ kind: 'policy', key: 'graceDays', value: 14, effectiveFrom: '2026-12-01' }, 'cli');
      const december = await book.inForce('2026-12-15');
      assert.equal(december.products['club-mate']?.priceCents, 350);
      assert.equal(december.policies.graceDays, 14);
      assert.equal((await book.inForce('2026-11-30')).policies.graceDays, 10);
    });

    const bad: [string, Parameters<BusinessBook['set']>[0], string][] = [
      [
        'negative price',
        {
          kind: 'product',
          key: 'mate',
          value: { name: 'M', priceCents: -3, machine: 'v', output: 'o' },
          effectiveFrom: '2026-12-01',
        },
        'BUSINESS_DATA_VALUE_INVALID',
      ],
      [
        'fractional cents',
        { kind: 'tier', key: 'student', value: { name: 'S', monthlyDuesCents: 37.5 }, effectiveFrom: '2026-12-01' },
        'BUSINESS_DATA_VALUE_INVALID',
      ],
      ['month 13', { kind: 'policy', key: 'graceDays', value: 5, effectiveFrom: '2026-13-01' }, 'BUSINESS_DATA_DATE_INVALID'],
      ['February 30', { kind: 'policy', key: 'graceDays', value: 5, effectiveFrom: '2026-02-30' }, 'BUSINESS_DATA_DATE_INVALID'],
      ['unpadded date', { kind: 'policy', key: 'graceDays', value: 5, effectiveFrom: '2026-1-1' }, 'BUSINESS_DATA_DATE_INVALID'],
      [
        'unknown policy',
        { kind: 'policy', key: 'freeBeer', value: true, effectiveFrom: '2026-12-01' },
        'BUSINESS_DATA_UNKNOWN_POLICY',
      ],
      [
        'bad key',
        { kind: 'tier', key: 'Student Tier', value: { name: 'S', monthlyDuesCents: 100 }, effectiveFrom: '2026-12-01' },
        'BUSINESS_DATA_KEY_INVALID',
      ],
      [
        'not a time zone',
        { kind: 'policy', key: 'timezone', value: 'Mars/Olympus', effectiveFrom: '2026-12-01' },
        'BUSINESS_DATA_VALUE_INVALID',
      ],
      [
        'confirmations that leave amounts uncovered',
        {
          kind: 'policy',
          key: 'confirmationsByAmount',
          value: [{ upToSats: 1000, confirmations: 1 }],
          effectiveFrom: '2026-12-01',
        },
        'BUSINESS_DATA_VALUE_INVALID',
      ],
    ];
    for (const [what, change, code] of bad) {
      test(`bad input: ${what} → ${code}, and nothing recorded`, async () => {
        const before = await book.inForce('2030-01-01');
        await assert.rejects(
          book.set(change, 'cli'),
          (error: Error & { code?: string }) => error.code === code && error.message.length > 10,
        );
        assert.deepEqual(await book.inForce('2030-01-01'), before);
      });
    }
  });
}
