// The Reporter on a real PostgreSQL.
import { postgresFactory } from '../helpers/databases.js';
import { runReporterCases } from './reporter-cases.js';

runReporterCases('PostgreSQL', postgresFactory());
