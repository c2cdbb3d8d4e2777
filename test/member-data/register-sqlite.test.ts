// MemberData's register on SQLite.
import { sqliteFactory } from '../helpers/databases.js';
import { runRegisterCases } from './register-cases.js';

runRegisterCases('SQLite', sqliteFactory());
