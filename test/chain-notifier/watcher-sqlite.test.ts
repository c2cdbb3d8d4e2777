// The ChainWatcher on SQLite.
import { sqliteFactory } from '../helpers/databases.js';
import { runWatcherCases } from './watcher-cases.js';

runWatcherCases('SQLite', sqliteFactory());
