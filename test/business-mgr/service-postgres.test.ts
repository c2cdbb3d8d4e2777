// BusinessMgr with its neighbours on a real PostgreSQL.
import { postgresFactory } from '../helpers/databases.js';
import { runBusinessMgrCases } from './service-cases.js';

runBusinessMgrCases('PostgreSQL', postgresFactory());
