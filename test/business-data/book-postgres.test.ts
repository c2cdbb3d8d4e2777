// BusinessData's book on a real PostgreSQL.
import { postgresFactory } from '../helpers/databases.js';
import { runBookCases } from './book-cases.js';

runBookCases('PostgreSQL', postgresFactory());
