// MemberData's register on SQLite.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../../src/core/storage/index.js';
import { tempDir } from '../helpers/harness.js';
import { runRegisterCases } from './register-cases.js';

const dir = tempDir('dctrl-register-');
runRegisterCases('SQLite', {
  create: () => openDatabase({ sqliteFile: join(dir, 'dctrl.db') }),
  cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
});
