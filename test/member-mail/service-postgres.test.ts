// MemberMail with its neighbours on PostgreSQL.
import { postgresFactory } from '../helpers/databases.js';
import { runMemberMailCases } from './service-cases.js';

runMemberMailCases('PostgreSQL', postgresFactory());
