// The ChainWatcher on a real PostgreSQL.
import { postgresFactory } from '../helpers/databases.js';
import { runWatcherCases } from './watcher-cases.js';

runWatcherCases('PostgreSQL', postgresFactory());
