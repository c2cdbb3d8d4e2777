// MemberMail with its neighbours on SQLite.
import { sqliteFactory } from '../helpers/databases.js';
import { runMemberMailCases } from './service-cases.js';

runMemberMailCases('SQLite', sqliteFactory());
