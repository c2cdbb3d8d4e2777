// The two databases every storage-backed suite runs against: a SQLite file in a temp folder, a real PostgreSQL.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase, type DatabaseHandle } from '../../src/core/storage/index.js';
import { tempDir } from './harness.js';
import { startPostgres, type Postgres } from './postgres.js';

export interface DatabaseFactory {
  create(): Promise<DatabaseHandle>;
  cleanup(): Promise<void>;
}

export function sqliteFactory(): DatabaseFactory {
  const dir = tempDir('dctrl-sqlite-');
  return {
    create: () => openDatabase({ sqliteFile: join(dir, 'data', 'dctrl.db') }),
    cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  };
}

export function postgresFactory(): DatabaseFactory {
  let server: Postgres | undefined;
  return {
    create: async () => {
      server = await startPostgres();
      return openDatabase({ url: await server.createDatabase(), sqliteFile: 'unused' });
    },
    cleanup: async () => server?.stop(),
  };
}
