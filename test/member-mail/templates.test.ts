// MemberMail's templates: the built-in ones render every kind, overrides replace them file by file, and a template
// that does not compile or uses a variable its mail lacks fails at load naming the file, the line and the variable.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { DateTime } from 'luxon';
import { MAIL_KINDS } from '../../src/core/messages-mail.js';
import { sampleContexts, type MailContext } from '../../src/member-mail/mail-kinds.js';
import {
  builtInTemplatesDir,
  formatBtc,
  formatDate,
  formatDateTime,
  formatMoney,
  formatMonth,
  loadTemplates,
} from '../../src/member-mail/templates.js';
import { tempDir } from '../helpers/harness.js';

const builtIn = loadTemplates();

/** A fresh override folder holding the given files (`welcome/html.hbs` → source). */
function overrides(files: Record<string, string>): string {
  const dir = tempDir('dctrl-mail-templates-');
  for (const [file, source] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), source);
  }
  return dir;
}

/** The coded error loading these overrides throws; fails the test when it loads. */
function loadFailure(files: Record<string, string>): { code: string; message: string } {
  try {
    loadTemplates({ overrideDir: overrides(files) });
  } catch (error) {
    return error as { code: string; message: string };
  }
  assert.fail(`templates with ${Object.keys(files).join(', ')} loaded`);
}

const full = <K extends keyof MailContext>(kind: K): MailContext[K] => sampleContexts(kind)[0];
const sparse = <K extends keyof MailContext>(kind: K): MailContext[K] => sampleContexts(kind)[1];

describe('built-in templates', () => {
  for (const kind of MAIL_KINDS) {
    for (const [name, context] of [
      ['full', full(kind)],
      ['sparse', sparse(kind)],
    ] as const) {
      test(`${kind} renders the ${name} sample`, () => {
        const mail = builtIn.render(kind, context);
        assert.match(mail.subject, /^\S.*\S$/, 'a subject');
        assert.doesNotMatch(mail.subject, /[\r\n]/);
        assert.ok(mail.text.includes(`Hi ${context.member.name},`), mail.text);
        assert.ok(mail.text.endsWith('\n') && !mail.text.includes('\n\n\n'), 'tidy text');
        assert.doesNotMatch(mail.text, /\[object Object\]|undefined|null|NaN/);
        assert.match(mail.html, /^<!DOCTYPE html>/);
        assert.ok(mail.html.includes('Ada Lovelace') && mail.html.includes('DCTRL'));
        assert.doesNotMatch(mail.html, /\[object Object\]|undefined|NaN/);
        // Nothing a mail client would fetch: no remote images, style sheets or scripts.
        assert.doesNotMatch(mail.html, /(src|href)="(https?:)?\/\/|<link|<script|<style|url\(/i);
      });
    }
  }

  test('nothing comes from an override folder when there is none', () => {
    assert.deepEqual(builtIn.overridden, []);
  });

  test('a hostile member name is escaped in HTML and left as written in the text and subject', () => {
    const hostile = '<script>alert("x")</script> & Co';
    const context = { ...full('welcome'), member: { ...full('welcome').member, name: hostile } };
    const mail = builtIn.render('welcome', context);
    assert.ok(!mail.html.includes('<script>'), 'no live script tag');
    assert.ok(mail.html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co'));
    assert.ok(mail.text.includes(`Hi ${hostile},`), 'text is not HTML-escaped');
    assert.ok(mail.subject.endsWith(hostile), 'the subject is not HTML-escaped');
  });

  test('an & in the space name stays an & in subject and text', () => {
    const context = { ...full('deactivation'), space: { ...full('deactivation').space, name: 'Bits & Bytes' } };
    const mail = builtIn.render('deactivation', context);
    assert.equal(mail.subject, 'Your door access at Bits & Bytes is paused');
    assert.ok(mail.text.includes('member of Bits & Bytes.'));
    assert.ok(mail.html.includes('Bits &amp; Bytes') && !mail.html.includes('Bits & Bytes'));
  });

  test('a subject is one line, whatever the name holds', () => {
    const context = { ...full('welcome'), member: { ...full('welcome').member, name: 'Ada\r\nBcc: all@example.org\n' } };
    assert.equal(builtIn.render('welcome', context).subject, 'Welcome back to DCTRL, Ada Bcc: all@example.org');
  });

  test('the welcome mail shows the deposit QR code, address and BIP21 link only when there is a deposit address', () => {
    const withDeposit = builtIn.render('welcome', full('welcome'));
    assert.ok(withDeposit.html.includes('<img src="cid:deposit-qr@dctrl"'), withDeposit.html);
    assert.ok(withDeposit.html.includes('href="bitcoin:bcrt1qf9y3sputrfa8pnr60wcjvwdltahs7rtmt4z6pg?label&#x3D;DCTRL'));
    assert.ok(withDeposit.text.includes('bitcoin:bcrt1qf9y3sputrfa8pnr60wcjvwdltahs7rtmt4z6pg?label=DCTRL'));
    assert.ok(withDeposit.text.includes('75.00 CAD a month'));
    const without = builtIn.render('welcome', sparse('welcome'));
    assert.ok(!without.html.includes('cid:') && !without.html.includes('bcrt1'), 'no QR code without an address');
    assert.ok(!without.text.includes('bcrt1'));
    assert.ok(without.text.includes('Cash: hand it to a treasurer'), 'cash is always a way to pay');
  });

  test('a receipt shows sats, rate and txid for bitcoin and none of them for cash', () => {
    const bitcoin = builtIn.render('receipt', full('receipt'));
    for (const part of ['0.00108344 BTC', '92298.42 CAD', '6f1c2e9d8b7a', '25.00 CAD', '12 October 2026, 20:58']) {
      assert.ok(bitcoin.text.includes(part) && bitcoin.html.includes(part), part);
    }
    assert.ok(bitcoin.text.includes('Balance now:      25.00 CAD'), bitcoin.text);
    const cash = builtIn.render('receipt', sparse('receipt'));
    assert.ok(cash.text.includes('Paid in:          cash'));
    assert.ok(!cash.text.includes('BTC') && !cash.html.includes('BTC') && !cash.html.includes('Transaction'));
  });

  test('a statement lists its entries and says how many more there are', () => {
    const mail = builtIn.render('statement', full('statement'));
    assert.equal(mail.subject, 'Your DCTRL statement for October 2026');
    assert.ok(mail.text.includes('1 October 2026  Dues for October 2026'), mail.text);
    assert.ok(mail.text.includes('...and 4 more not shown here.'));
    assert.ok(mail.html.includes('2 cans of Club-Mate') && mail.html.includes('and 4 more not shown here'));
    assert.ok(mail.html.includes('cid:deposit-qr@dctrl'));
    const quiet = builtIn.render('statement', sparse('statement'));
    assert.ok(quiet.text.includes('Nothing happened on your account this month.'));
    assert.ok(!quiet.text.includes('more not shown') && !quiet.html.includes('more not shown') && !quiet.html.includes('cid:'));
  });

  test('a reminder and a deactivation notice say what is owed and until when', () => {
    const reminder = builtIn.render('reminder', full('reminder'));
    assert.equal(reminder.subject, 'Friendly reminder: 75.00 CAD in dues, by 10 November 2026');
    assert.ok(reminder.text.includes('(days left: 5)'));
    const notice = builtIn.render('deactivation', sparse('deactivation'));
    assert.ok(notice.text.includes('150.00 CAD still open') && notice.text.includes('no longer opens the door'), notice.text);
  });

  test('a payout notice shows the amount, sats, address and txid', () => {
    const mail = builtIn.render('payout', full('payout'));
    for (const part of [
      '42.50 CAD',
      '0.00046046 BTC',
      'bcrt1qgpkctejk6ekyat4fe8nu5u5revuc79v80nkeuj',
      'a3b4c5d6e7f8',
      'filament',
    ]) {
      assert.ok(mail.text.includes(part) && mail.html.includes(part), part);
    }
  });

  test('facts that do not fit the helpers fail at render naming the file, not with a raw TypeError', () => {
    const context = full('receipt');
    context.payment.sats = 1.5;
    assert.throws(
      () => builtIn.render('receipt', context),
      (error: Error & { code?: string }) =>
        error.code === 'MEMBER_MAIL_TEMPLATE_INVALID' &&
        error.message === 'receipt/text.hbs: {{btc}} expects whole satoshis, got 1.5',
    );
  });
});

describe('override folder', () => {
  test('replacing one file keeps every other one built in', () => {
    const dir = overrides({ 'welcome/subject.hbs': 'Hello {{member.name}} & welcome\n' });
    const templates = loadTemplates({ overrideDir: dir });
    assert.deepEqual(templates.overridden, ['welcome/subject.hbs']);
    const mail = templates.render('welcome', full('welcome'));
    assert.equal(mail.subject, 'Hello Ada Lovelace & welcome');
    const standard = builtIn.render('welcome', full('welcome'));
    assert.equal(mail.text, standard.text);
    assert.equal(mail.html, standard.html);
    assert.deepEqual(templates.render('payout', full('payout')), builtIn.render('payout', full('payout')));
  });

  test('a partial can be replaced, and a new one added and used', () => {
    const templates = loadTemplates({
      overrideDir: overrides({
        'partials/footer.hbs': '-- \n{{> signature}}\n',
        'partials/signature.hbs': 'The {{space.name}} board\n',
      }),
    });
    assert.deepEqual(templates.overridden, ['partials/footer.hbs', 'partials/signature.hbs']);
    for (const kind of MAIL_KINDS) {
      const mail = templates.render(kind, full(kind));
      assert.ok(mail.text.endsWith('-- \nThe DCTRL board\n'), mail.text);
      assert.equal(mail.html, builtIn.render(kind, full(kind)).html);
    }
  });

  test('the same folder laid out with files that are not kinds or parts is refused, naming them', () => {
    const kind = loadFailure({ 'welcom/html.hbs': '<p>hi</p>' });
    assert.equal(kind.code, 'MEMBER_MAIL_TEMPLATE_INVALID');
    assert.match(kind.message, /welcom\/ .* is not used: the kinds of mail are welcome, receipt/);
    const part = loadFailure({ 'welcome/body.hbs': 'hi' });
    assert.equal(part.code, 'MEMBER_MAIL_TEMPLATE_INVALID');
    assert.match(part.message, /welcome\/body\.hbs .* a welcome mail has subject\.hbs, text\.hbs, html\.hbs/);
  });

  test('an override folder that does not exist is a missing template', () => {
    assert.throws(
      () => loadTemplates({ overrideDir: join(tempDir(), 'nowhere') }),
      (error: Error & { code?: string }) =>
        error.code === 'MEMBER_MAIL_TEMPLATE_MISSING' && /nowhere is not a folder/.test(error.message),
    );
  });
});

describe('a template file missing from the built-in set', () => {
  test('fails at load naming it and both places looked', () => {
    const copy = join(tempDir(), 'templates');
    cpSync(builtInTemplatesDir(), copy, { recursive: true });
    rmSync(join(copy, 'statement', 'html.hbs'));
    assert.throws(
      () => loadTemplates({ builtInDir: copy }),
      (error: Error & { code?: string }) =>
        error.code === 'MEMBER_MAIL_TEMPLATE_MISSING' && error.message.includes('statement/html.hbs is missing'),
    );
    // An override of exactly that file completes the set.
    const templates = loadTemplates({
      builtInDir: copy,
      overrideDir: overrides({ 'statement/html.hbs': '<p>{{member.name}}</p>' }),
    });
    assert.equal(templates.render('statement', full('statement')).html, '<p>Ada Lovelace</p>');
  });

  test('a partial no folder has fails at load naming the partial', () => {
    const failure = loadFailure({ 'welcome/text.hbs': 'Hi {{member.name}}\n\n{{> signature}}\n' });
    assert.equal(failure.code, 'MEMBER_MAIL_TEMPLATE_INVALID');
    assert.match(failure.message, /^welcome\/text\.hbs uses the partial "signature", but there is no partials\/signature\.hbs/);
  });
});

describe('a variable a mail does not have fails at load, naming the file and the variable', () => {
  const cases: { name: string; files: Record<string, string>; message: RegExp }[] = [
    {
      name: 'in the HTML, only inside {{#if deposit}} (caught by the full sample)',
      files: { 'welcome/html.hbs': '<p>Hi {{member.name}}</p>\n{{#if deposit}}\n<img src="cid:{{deposit.qrCdi}}">\n{{/if}}\n' },
      message: /^welcome\/html\.hbs line 3 uses the variable "deposit\.qrCdi", which a welcome mail does not have .*full sample/,
    },
    {
      name: 'inside {{#each entries}}',
      files: { 'statement/text.hbs': 'Hi {{member.name}}\n{{#each entries}}\n{{date at}} {{descrption}}\n{{/each}}\n' },
      message: /^statement\/text\.hbs line 3 uses the variable "descrption", which a statement mail does not have here/,
    },
    {
      name: 'handed to a helper inside {{#each entries}}',
      files: { 'statement/html.hbs': '<p>{{member.name}}</p>\n{{#each entries}}\n<p>{{money centz}}</p>\n{{/each}}\n' },
      message:
        /^statement\/html\.hbs line 3 uses the variable "centz" \(looked up in entries\[0\]\), which a statement mail does not have/,
    },
    {
      name: 'a misspelt {{#if}}, which Handlebars alone would take as false',
      files: { 'receipt/text.hbs': 'Hi\n{{#if payment.txd}}\n{{payment.txid}}\n{{/if}}\n' },
      message: /^receipt\/text\.hbs line 2 uses the variable "txd" \(looked up in payment\), which a receipt mail does not have/,
    },
    {
      name: 'an optional fact used outside its {{#if}} (caught by the sparse sample)',
      files: { 'reminder/text.hbs': 'Hi {{member.name}}\n\nPay to {{deposit.address}}\n' },
      message: /^reminder\/text\.hbs line 3 reads "deposit\.address", but "deposit" is null in this reminder mail.*sparse sample/,
    },
    {
      name: 'a null handed to a helper (caught by the sparse sample)',
      files: { 'receipt/subject.hbs': 'Paid {{btc payment.sats}}' },
      message: /^receipt\/subject\.hbs: \{\{btc\}\} expects whole satoshis, got null .*sparse sample/,
    },
    {
      name: 'in a partial, which is named rather than the mail that uses it',
      files: { 'partials/footer.hbs': '-- \n{{space.nmae}}\n' },
      message: /^partials\/footer\.hbs line 2 uses the variable "space\.nmae"/,
    },
    {
      name: 'inside the block a mail hands the layout, which is the mail’s and not the layout’s',
      files: { 'payout/html.hbs': '{{#> layout}}\n<p>{{payout.amount}}</p>\n{{/layout}}\n' },
      message: /^payout\/html\.hbs line 2 uses the variable "payout\.amount", which a payout mail does not have/,
    },
    {
      name: 'in the layout itself',
      files: { 'partials/layout.hbs': '<html>\n<title>{{space.title}}</title>\n{{> @partial-block}}\n</html>\n' },
      message: /^partials\/layout\.hbs line 2 uses the variable "space\.title"/,
    },
    {
      name: 'a helper called without its value',
      files: { 'deactivation/text.hbs': 'You owe {{money}}\n' },
      message: /^deactivation\/text\.hbs: \{\{money\}\} takes one value, like \{\{money payment\.cents\}\}; it got 0/,
    },
  ];
  for (const { name, files, message } of cases) {
    test(name, () => {
      const failure = loadFailure(files);
      assert.equal(failure.code, 'MEMBER_MAIL_TEMPLATE_INVALID');
      assert.match(failure.message, message);
    });
  }
});

describe('a template that does not compile fails at load, naming the file and the line', () => {
  const cases: { name: string; source: string; message: RegExp }[] = [
    {
      name: 'a mustache left open',
      source: '<p>\n\n{{#if deposit}\n',
      message: /^statement\/html\.hbs line 3 does not compile: Expecting /,
    },
    {
      name: 'a block never closed',
      source: '<p>\n{{#if deposit}}\n<p>\n',
      message: /^statement\/html\.hbs line 2 does not compile: \{\{#if\}\} is never closed \(no \{\{\/if\}\}\)/,
    },
    {
      name: 'a block closed by another',
      source: '<p>\n{{#if deposit}}\n{{/each}}\n',
      message: /^statement\/html\.hbs line 2 does not compile: if doesn't match each/,
    },
    {
      name: 'an unknown helper',
      source: '<p>\n\n\n{{shout member.name}}</p>\n',
      message: /^statement\/html\.hbs line 4 does not compile: You specified knownHelpersOnly, but used the unknown helper shout/,
    },
  ];
  for (const { name, source, message } of cases) {
    test(name, () => {
      const failure = loadFailure({ 'statement/html.hbs': source });
      assert.equal(failure.code, 'MEMBER_MAIL_TEMPLATE_INVALID');
      assert.match(failure.message, message);
    });
  }

  test('an unused partial that does not compile fails too', () => {
    const failure = loadFailure({ 'partials/unused.hbs': 'one\ntwo {{#each}}\n' });
    assert.equal(failure.code, 'MEMBER_MAIL_TEMPLATE_INVALID');
    assert.match(failure.message, /^partials\/unused\.hbs line 2 does not compile/);
  });
});

describe('helpers', () => {
  test('money: cents in the space currency, negative ones too', () => {
    assert.equal(formatMoney(7_500, 'CAD'), '75.00 CAD');
    assert.equal(formatMoney(-250, 'CAD'), '-2.50 CAD');
    assert.equal(formatMoney(-5, 'EUR'), '-0.05 EUR');
    assert.equal(formatMoney(0, 'CAD'), '0.00 CAD');
  });

  test('btc: satoshis as BTC with eight decimals, exact up to all 21 million', () => {
    assert.equal(formatBtc(1), '0.00000001 BTC');
    assert.equal(formatBtc(0), '0.00000000 BTC');
    assert.equal(formatBtc(123_456_789), '1.23456789 BTC');
    assert.equal(formatBtc(100_000_000), '1.00000000 BTC');
    assert.equal(formatBtc(2_100_000_000_000_000), '21000000.00000000 BTC');
    assert.equal(formatBtc(2_099_999_997_690_000), '20999999.97690000 BTC');
    assert.equal(formatBtc(-12_345), '-0.00012345 BTC');
  });

  test('date and datetime: the day in the space time zone, not in UTC', () => {
    // 06:30 UTC on 1 November is still 31 October in Vancouver (UTC-7), already 1 November in Berlin.
    const lateEvening = Date.UTC(2026, 10, 1, 6, 30);
    assert.equal(formatDate(lateEvening, 'America/Vancouver'), '31 October 2026');
    assert.equal(formatDateTime(lateEvening, 'America/Vancouver'), '31 October 2026, 23:30');
    assert.equal(formatDate(lateEvening, 'Europe/Berlin'), '1 November 2026');
    assert.equal(formatDateTime(lateEvening, 'Europe/Berlin'), '1 November 2026, 07:30');
    const midnight = DateTime.fromISO('2026-11-27T00:00', { zone: 'America/Vancouver' }).toMillis();
    assert.equal(formatDate(midnight, 'America/Vancouver'), '27 November 2026');
    assert.equal(formatDate(midnight - 1, 'America/Vancouver'), '26 November 2026');
    assert.equal(formatDateTime(Date.UTC(2026, 10, 27, 22, 5), 'America/Vancouver'), '27 November 2026, 14:05');
  });

  test('month: a YYYY-MM month by name', () => {
    assert.equal(formatMonth('2026-10'), 'October 2026');
    assert.equal(formatMonth('2027-01'), 'January 2027');
  });

  test('in a template, dates follow space.timezone', () => {
    const at = Date.UTC(2026, 10, 1, 6, 30);
    const receipt = full('receipt');
    receipt.payment.at = at;
    assert.ok(builtIn.render('receipt', receipt).text.includes('on 31 October 2026, 23:30.'));
    receipt.space.timezone = 'Europe/Berlin';
    assert.ok(builtIn.render('receipt', receipt).text.includes('on 1 November 2026, 07:30.'));
    receipt.space.timezone = 'Mars/Olympus_Mons';
    assert.throws(
      () => builtIn.render('receipt', receipt),
      (error: Error & { code?: string }) =>
        error.code === 'MEMBER_MAIL_TEMPLATE_INVALID' && error.message.includes('"Mars/Olympus_Mons" is not a time zone'),
    );
  });

  test('a fraction of a cent is refused, never rounded', () => {
    const receipt = full('receipt');
    receipt.balanceAfterCents = 2_500.5;
    assert.throws(
      () => builtIn.render('receipt', receipt),
      (error: Error & { code?: string }) =>
        error.code === 'MEMBER_MAIL_TEMPLATE_INVALID' && error.message.includes('{{money}} expects whole cents, got 2500.5'),
    );
  });
});
