// The payout wallet on a real PostgreSQL.
import { postgresFactory } from '../helpers/databases.js';
import { runWalletCases } from './wallet-cases.js';

runWalletCases('PostgreSQL', postgresFactory());
