// The invoice rules alone: amounts in integers, the BIP21 URI, and what payments make of an invoice at a moment.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { btcAmountText, ledgerAcceptsBitcoin, satsFor } from '../../src/chain-notifier/amounts.js';
import { assessInvoice, bip21Uri, type InvoiceOutput, type InvoiceTerms } from '../../src/chain-notifier/invoice-rules.js';

const MINUTE = 60_000;
const CREATED = Date.UTC(2026, 10, 27, 12);
const EXPIRES = CREATED + 15 * MINUTE;
const WATCH_UNTIL = EXPIRES + 24 * 60 * MINUTE;
const SATS = 100_000;

const terms = (changes: Partial<InvoiceTerms> = {}): InvoiceTerms => ({
  sats: SATS,
  expiresAt: EXPIRES,
  watchUntil: WATCH_UNTIL,
  paidTolerancePerMille: 0,
  credited: false,
  cover: [],
  reversible: true,
  keepsLeftovers: true,
  ...changes,
});
let outputNumber = 0;
const paid = (sats: number, changes: Partial<InvoiceOutput> = {}): InvoiceOutput => ({
  outpoint: `${'a'.repeat(64)}:${outputNumber++}`,
  sats,
  state: 'seen',
  firstSeenAt: CREATED + MINUTE,
  confirmations: 0,
  credited: false,
  ...changes,
});
/** Small payments need none, larger ones one confirmation. */
const policy = (sats: number) => (sats <= 150_000 ? 0 : 1);
const assess = (invoiceTerms: InvoiceTerms, outputs: InvoiceOutput[], now = CREATED + 2 * MINUTE) =>
  assessInvoice(invoiceTerms, outputs, now, policy);

describe('amounts', () => {
  test('an invoice asks for its cents at the rate rounded up to the sat, never through a float', () => {
    // 100.00 CAD at 135,000.00 CAD per bitcoin is 74,074.07… sats.
    assert.equal(satsFor(10_000, 13_500_000), 74_075);
    assert.equal(satsFor(13_500_000, 13_500_000), 100_000_000);
    assert.equal(satsFor(1, 13_500_000), 8);
    assert.equal(satsFor(1_000_000_000, 1), 100_000_000_000_000_000 / 1);
  });

  test('BIP21 amounts are decimal BTC with at most 8 places and no trailing zeros', () => {
    const cases: [number, string][] = [
      [74_075, '0.00074075'],
      [1, '0.00000001'],
      [100_000_000, '1'],
      [150_000_000, '1.5'],
      [2_100_000_000_000_000, '21000000'],
      [123_456_789, '1.23456789'],
    ];
    for (const [sats, text] of cases) assert.equal(btcAmountText(sats), text, `${sats} sats`);
  });

  test('the Reporter’s 1% rule: amounts worth a few cents round too far to be recorded', () => {
    assert.equal(ledgerAcceptsBitcoin(10_000, 74_075, 13_500_000), true);
    assert.equal(ledgerAcceptsBitcoin(1, 8, 13_500_000), true);
    assert.equal(ledgerAcceptsBitcoin(0, 3, 13_500_000), false);
    assert.equal(ledgerAcceptsBitcoin(1, 10, 13_500_000), false);
  });
});

describe('BIP21 URI', () => {
  test('address, amount from integer sats, label and message percent-encoded', () => {
    assert.equal(
      bip21Uri('bcrt1qexample', 74_075, 'Hack Space', 'Club-Mate & chips: 100% #1'),
      'bitcoin:bcrt1qexample?amount=0.00074075&label=Hack%20Space&message=Club-Mate%20%26%20chips%3A%20100%25%20%231',
    );
  });
});

describe('assessing an invoice', () => {
  test('nothing paid: new, then expired at expiresAt', () => {
    assert.equal(assess(terms(), []).state, 'new');
    assert.equal(assess(terms(), [], EXPIRES).state, 'expired');
    assert.equal(assess(terms(), [], EXPIRES).closed, false, 'still watched for late payments');
    assert.equal(assess(terms(), [], WATCH_UNTIL).closed, true);
  });

  test('paid exactly with the confirmations the amount needs: settles, covering that payment', () => {
    const payment = paid(SATS);
    const result = assess(terms(), [payment]);
    assert.equal(result.state, 'settled');
    assert.deepEqual(result.settleWith, [payment.outpoint]);
    assert.deepEqual(result.flags, { partial: false, over: false, late: false });
  });

  test('a larger amount waits in processing until confirmed', () => {
    const big = terms({ sats: 200_000 });
    assert.equal(assess(big, [paid(200_000)]).state, 'processing');
    assert.equal(assess(big, [paid(200_000)], EXPIRES + MINUTE).state, 'processing', 'paid in time: expiry does not apply');
    assert.equal(assess(big, [paid(200_000, { state: 'confirmed', confirmations: 1 })]).state, 'settled');
  });

  test('partly paid: processing and partial until it expires; still settles late when topped up in the watch window', () => {
    const half = paid(SATS / 2);
    assert.equal(assess(terms(), [half]).state, 'processing');
    assert.equal(assess(terms(), [half]).flags.partial, true);
    const expired = assess(terms(), [half], EXPIRES + MINUTE);
    assert.equal(expired.state, 'expired');
    assert.equal(expired.settleWith, null);
    const rest = paid(SATS / 2, { firstSeenAt: EXPIRES + 2 * MINUTE });
    const late = assess(terms(), [half, rest], EXPIRES + 3 * MINUTE);
    assert.equal(late.state, 'settled');
    assert.deepEqual(late.flags, { partial: false, over: false, late: true });
    assert.deepEqual(late.settleWith, [half.outpoint, rest.outpoint]);
  });

  test('a partial payment left when the watch ends is credited on its own for a member, alarmed for a product', () => {
    const half = paid(SATS / 2);
    const member = assess(terms(), [half], WATCH_UNTIL);
    assert.equal(member.state, 'expired');
    assert.deepEqual(member.creditAlone, [half.outpoint]);
    assert.equal(member.closed, false, 'closed once the credit is recorded');
    const product = assess(terms({ reversible: false, keepsLeftovers: false }), [half], WATCH_UNTIL);
    assert.deepEqual(product.creditAlone, []);
    assert.match(product.problems.join(), /buy nothing: refund/);
    assert.equal(product.closed, true);
  });

  test('paid within the tolerance counts as paid, flagged partial', () => {
    const short = paid(SATS - 100);
    assert.equal(assess(terms(), [short]).state, 'processing');
    const tolerant = assess(terms({ paidTolerancePerMille: 1 }), [short]);
    assert.equal(tolerant.state, 'settled');
    assert.equal(tolerant.flags.partial, true);
  });

  test('paid twice at once: one settling credit covers both once their total has its confirmations, flagged over', () => {
    const first = paid(SATS);
    const second = paid(SATS);
    assert.equal(assess(terms(), [first, second]).state, 'processing', '200,000 sats need a confirmation');
    const mined = { state: 'confirmed', confirmations: 1 } as const;
    const result = assess(terms(), [
      { ...first, ...mined },
      { ...second, ...mined },
    ]);
    assert.deepEqual(result.settleWith, [first.outpoint, second.outpoint]);
    assert.equal(result.flags.over, true);
    assert.equal(result.paidSats, 2 * SATS);
  });

  test('paid again after it settled: the second payment is credited on its own, once', () => {
    const first = paid(SATS, { credited: true });
    const second = paid(SATS);
    const settled = terms({ credited: true, cover: [first.outpoint] });
    const result = assess(settled, [first, second]);
    assert.equal(result.state, 'settled');
    assert.equal(result.settleWith, null);
    assert.deepEqual(result.creditAlone, [second.outpoint]);
    assert.deepEqual(assess(settled, [first, { ...second, credited: true }]).creditAlone, []);
  });

  test('its payment double spent: a member’s credit is taken back and the invoice is invalid', () => {
    const payment = paid(SATS, { state: 'replaced', credited: true });
    const result = assess(terms({ credited: true, cover: [payment.outpoint] }), [payment]);
    assert.equal(result.reverse, true);
    assert.equal(result.state, 'invalid');
    assert.equal(result.paidSats, 0);
  });

  test('a sale’s payment double spent cannot be taken back: invalid, with the problem named', () => {
    const payment = paid(SATS, { state: 'replaced', credited: true });
    const result = assess(terms({ credited: true, cover: [payment.outpoint], reversible: false, keepsLeftovers: false }), [
      payment,
    ]);
    assert.equal(result.reverse, false);
    assert.equal(result.state, 'invalid');
    assert.match(result.problems.join(), /cannot be taken back/);
  });

  test('paid after the watch ended: counts for nothing, invalid, and named as a problem', () => {
    const stray = paid(SATS, { firstSeenAt: WATCH_UNTIL + MINUTE });
    const result = assess(terms(), [stray], WATCH_UNTIL + 2 * MINUTE);
    assert.equal(result.state, 'invalid');
    assert.equal(result.paidSats, 0);
    assert.equal(result.settleWith, null);
    assert.deepEqual(result.strays, [stray.outpoint]);
    assert.match(result.problems.join(), /after the watch ended/);
  });

  test('a payment credited on its own that leaves the chain is taken back', () => {
    const first = paid(SATS, { credited: true });
    const extra = paid(SATS, { credited: true, state: 'reorged' });
    const result = assess(terms({ credited: true, cover: [first.outpoint] }), [first, extra]);
    assert.equal(result.state, 'settled');
    assert.deepEqual(result.reverseAlone, [extra.outpoint]);
  });
});
