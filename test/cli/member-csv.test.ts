// The members CSV that `dctrl member import` reads: every row keeps its line, and every malformed file is named by line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readMemberCsv } from '../../src/cli/commands/member-csv.js';

const read = (text: string) => readMemberCsv(Buffer.from(text));
const refusedAt = (text: string, message: RegExp) =>
  assert.throws(
    () => read(text),
    (error: Error & { code?: string }) => {
      assert.equal(error.code, 'CLI_FAILED');
      assert.match(error.message, message);
      return true;
    },
  );

test('rows keep the line they stand on, through blank lines, quoted commas and a field that spans lines', () => {
  const rows = read(
    [
      '\uFEFFName, Email ,TIER,fob',
      'Ada Lovelace,ada@example.org,member,0004231337',
      '',
      '"Hopper, Grace",grace@example.org,student,',
      '"Bob',
      'the Builder",bob@example.org,member,',
      'Zoë,zoe@example.org,member,1111111111',
      '',
    ].join('\r\n'),
  );
  assert.deepEqual(rows, [
    { line: 2, name: 'Ada Lovelace', email: 'ada@example.org', tier: 'member', fobNumber: '0004231337' },
    { line: 4, name: 'Hopper, Grace', email: 'grace@example.org', tier: 'student' },
    { line: 5, name: 'Bob\r\nthe Builder', email: 'bob@example.org', tier: 'member' },
    { line: 7, name: 'Zoë', email: 'zoe@example.org', tier: 'member', fobNumber: '1111111111' },
  ]);
});

test('the columns may come in any order, and fob may be left out', () => {
  assert.deepEqual(read('tier,email,name\nmember,ada@example.org,Ada\n'), [
    { line: 2, name: 'Ada', email: 'ada@example.org', tier: 'member' },
  ]);
});

test('an unclosed quote is named by the line where it opens', () => {
  refusedAt(
    'name,email,tier\nAda,ada@example.org,member\n"Zoë,zoe@example.org,member\nCy,cy@example.org,member\n',
    /^line 3: a quoted field is never closed/,
  );
  refusedAt(
    'name,email,tier\nAda,ada@example.org,member\n\n\n"Bob,bob@example.org,member\n',
    /^line 5: a quoted field is never closed/,
  );
});

test('a row with more or fewer fields than the header is named by its line', () => {
  refusedAt('name,email,tier\nAda,ada@example.org,member\nBob,bob@example.org\n', /^line 3: 2 fields where the header row has 3/);
  refusedAt('name,email,tier\nAda,ada@example.org,member\nSmith, Bob,bob@example.org,member\n', /^line 3: 4 fields .*"quotes"/);
});

test('a header without a required column, with an unknown or doubled column, or no header at all, is refused at line 1', () => {
  refusedAt('name,email\nAda,ada@example.org\n', /^line 1: the header row has no tier column/);
  refusedAt('name,email,tier,phone\nAda,ada@example.org,member,555\n', /^line 1: "phone" is not a column; the header row names/);
  refusedAt('name,email,tier,Email\nAda,ada@example.org,member,a@b.org\n', /^line 1: the column "email" appears twice/);
  refusedAt('Ada,ada@example.org,member\n', /^line 1: "Ada" is not a column/);
});

test('a stray quote inside a field is named by its line; an empty file or a header alone is refused', () => {
  refusedAt('name,email,tier\nAda,ada@example.org,member\nAd"a,ada2@example.org,member\n', /^line 3: not valid CSV/);
  refusedAt('', /the file is empty/);
  refusedAt('name,email,tier\n', /no members below it/);
});
