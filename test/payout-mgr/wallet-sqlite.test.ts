// The payout wallet on SQLite.
import { sqliteFactory } from '../helpers/databases.js';
import { runWalletCases } from './wallet-cases.js';

runWalletCases('SQLite', sqliteFactory());
