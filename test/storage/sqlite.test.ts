// The storage conformance suite against SQLite (better-sqlite3), as embedded mode runs it.
import { sqliteFactory } from '../helpers/databases.js';
import { runStorageConformance } from './conformance.js';

runStorageConformance('SQLite', sqliteFactory());
