// `dctrl user …` against a data folder: logins are written to the hub's database with a memory-hard hash, never
// a password in the clear; bad roles, a member login without its member and short passwords are refused.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDatabase } from '../../src/core/storage/index.js';
import { ServerStore } from '../../src/server/index.js';
import { dctrl } from '../helpers/cli.js';
import { tempDir } from '../helpers/harness.js';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

test('logins are added, listed, changed and removed; passwords are checked, stored hashed and shown once', async () => {
  const dataDir = tempDir();
  const args = (...rest: string[]) => [...rest, '--data-dir', dataDir];
  const added = dctrl(args('user', 'add', 'root', '--role', 'admin'));
  assert.equal(added.status, 0, added.stderr);
  const password = /^password: (\S+)/m.exec(added.stdout)?.[1];
  assert.ok(password && password.length >= 12, added.stdout);

  const piped = spawnSync(
    process.execPath,
    ['--import', 'tsx', MAIN, ...args('user', 'add', 'ada', '--role', 'member', '--member', '01ADA', '--password-stdin')],
    {
      input: 'a long enough passphrase\n',
      encoding: 'utf8',
    },
  );
  assert.equal(piped.status, 0, piped.stderr);
  assert.doesNotMatch(piped.stdout, /password:/);

  const listed = dctrl(args('user', 'list'));
  assert.match(listed.stdout, /^ada\s+member\s+01ADA$/m);
  assert.match(listed.stdout, /^root\s+admin$/m);

  const database = await openDatabase({ sqliteFile: join(dataDir, 'dctrl.db') });
  try {
    const store = await ServerStore.open(database);
    assert.equal((await store.checkPassword('root', password))?.role, 'admin');
    assert.equal((await store.checkPassword('ada', 'a long enough passphrase'))?.memberId, '01ADA');
    assert.equal(await store.checkPassword('ada', 'a wrong passphrase'), undefined);
    const rows = JSON.stringify(
      await database.db
        .selectFrom('server_users' as never)
        .selectAll()
        .execute(),
    );
    assert.ok(!rows.includes(password) && !rows.includes('a long enough passphrase'), 'no password in the clear');
    assert.match(rows, /scrypt\$32768\$8\$1\$/);
  } finally {
    await database.close();
  }

  const badRole = dctrl(args('user', 'add', 'eve', '--role', 'owner'));
  assert.equal(badRole.status, 1);
  assert.match(badRole.stderr, /--role expects one of admin, treasurer, member; got "owner"/);
  const memberWithout = dctrl(args('user', 'add', 'bob', '--role', 'member'));
  assert.notEqual(memberWithout.status, 0);
  assert.match(memberWithout.stderr, /SERVER_USER_INVALID: a member login names its member/);
  const short = spawnSync(
    process.execPath,
    ['--import', 'tsx', MAIN, ...args('user', 'add', 'tess', '--role', 'treasurer', '--password-stdin')],
    {
      input: 'short\n',
      encoding: 'utf8',
    },
  );
  assert.notEqual(short.status, 0);
  assert.match(short.stderr, /at least 12 are needed/);

  assert.equal(dctrl(args('user', 'remove', 'ada')).status, 0);
  assert.doesNotMatch(dctrl(args('user', 'list')).stdout, /ada/);
  const missing = dctrl(args('user', 'remove', 'ada'));
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /there is no login "ada"/);
});
