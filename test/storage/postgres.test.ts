// The storage conformance suite against a real PostgreSQL server started for the test.
import { postgresFactory } from '../helpers/databases.js';
import { runStorageConformance } from './conformance.js';

runStorageConformance('PostgreSQL', postgresFactory());
