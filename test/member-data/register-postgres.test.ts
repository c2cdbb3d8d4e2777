// MemberData's register on a real PostgreSQL.
import { postgresFactory } from '../helpers/databases.js';
import { runRegisterCases } from './register-cases.js';

runRegisterCases('PostgreSQL', postgresFactory());
