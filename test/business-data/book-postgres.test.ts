// BusinessData's book on a real PostgreSQL.
import { openDatabase } from '../../src/core/storage/index.js';
import { startPostgres, type Postgres } from '../helpers/postgres.js';
import { runBookCases } from './book-cases.js';

let server: Postgres | undefined;
runBookCases('PostgreSQL', {
  create: async () => {
    server = await startPostgres();
    return openDatabase({ url: await server.createDatabase(), sqliteFile: 'unused' });
  },
  cleanup: async () => server?.stop(),
});
