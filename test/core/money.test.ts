// Money as integers: decimal text and JSON numbers to cents, exactly, with no float rounding on the way.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decimalToCents } from '../../src/core/money.js';

test('decimal text becomes cents exactly, rounding half a cent up', () => {
  const cases: [string, number][] = [
    ['65432.10', 6_543_210],
    ['65432.1', 6_543_210],
    ['65432', 6_543_200],
    ['0.01', 1],
    ['0.004', 0],
    ['0.005', 1],
    ['131245.60499', 13_124_560],
    ['131245.60500', 13_124_561],
    ['131245.999', 13_124_600],
    ['000123.45', 12_345],
    // Floats would get these wrong: 1.005 * 100 is 100.49999999999999, and 0.29 * 100 is 28.999999999999996.
    ['1.005', 101],
    ['0.29', 29],
    ['9999999999999.99', 999_999_999_999_999],
  ];
  for (const [text, cents] of cases) assert.equal(decimalToCents(text), cents, text);
});

test('JSON numbers go through their decimal text, not float arithmetic', () => {
  assert.equal(decimalToCents(131260.45), 13_126_045);
  assert.equal(decimalToCents(0.29), 29);
  assert.equal(decimalToCents(1.005), 101);
  assert.equal(decimalToCents(131260), 13_126_000);
});

test('anything that is not a plain non-negative decimal is refused, never guessed', () => {
  const refused: (string | number)[] = [
    '',
    ' ',
    '-1',
    '+1',
    '1e5',
    '1.3E5',
    'NaN',
    'Infinity',
    '0x10',
    '1,000.00',
    '1 000',
    '.5',
    '5.',
    '١٢٣',
    '12345678901234',
    Number.NaN,
    Number.POSITIVE_INFINITY,
    -5,
    1e-7,
    1e21,
    1e300,
  ];
  for (const value of refused) assert.equal(decimalToCents(value), undefined, String(value));
});
