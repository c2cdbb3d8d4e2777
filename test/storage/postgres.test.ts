// The storage conformance suite against a real PostgreSQL server started for the test.
import { openDatabase } from '../../src/core/storage/index.js';
import { startPostgres, type Postgres } from '../helpers/postgres.js';
import { runStorageConformance } from './conformance.js';

let server: Postgres | undefined;
runStorageConformance('PostgreSQL', {
  create: async () => {
    server = await startPostgres();
    return openDatabase({ url: await server.createDatabase(), sqliteFile: 'unused' });
  },
  cleanup: async () => server?.stop(),
});
