// The Reporter on SQLite.
import { sqliteFactory } from '../helpers/databases.js';
import { runReporterCases } from './reporter-cases.js';

runReporterCases('SQLite', sqliteFactory());
