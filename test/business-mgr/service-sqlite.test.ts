// BusinessMgr with its neighbours on SQLite.
import { sqliteFactory } from '../helpers/databases.js';
import { runBusinessMgrCases } from './service-cases.js';

runBusinessMgrCases('SQLite', sqliteFactory());
