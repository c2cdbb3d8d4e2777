// MemberData's register on a real PostgreSQL.
import { openDatabase } from '../../src/core/storage/index.js';
import { startPostgres, type Postgres } from '../helpers/postgres.js';
import { runRegisterCases } from './register-cases.js';

let server: Postgres | undefined;
runRegisterCases('PostgreSQL', {
  create: async () => {
    server = await startPostgres();
    return openDatabase({ url: await server.createDatabase(), sqliteFile: 'unused' });
  },
  cleanup: async () => server?.stop(),
});
