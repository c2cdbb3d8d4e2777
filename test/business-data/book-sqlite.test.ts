// BusinessData's book on SQLite.
import { sqliteFactory } from '../helpers/databases.js';
import { runBookCases } from './book-cases.js';

runBookCases('SQLite', sqliteFactory());
