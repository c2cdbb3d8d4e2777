// The storage conformance suite against SQLite (better-sqlite3), as embedded mode runs it.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../../src/core/storage/index.js';
import { tempDir } from '../helpers/harness.js';
import { runStorageConformance } from './conformance.js';

const dir = tempDir('dctrl-sqlite-');
runStorageConformance('SQLite', {
  create: () => openDatabase({ sqliteFile: join(dir, 'data', 'dctrl.db') }),
  cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
});
