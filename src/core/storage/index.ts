// The storage layer every data service uses: open a database, migrate it, map driver errors.
export { integerSum, openDatabase, type DatabaseHandle, type DatabaseTarget, type DialectName } from './database.js';
export { migrate, type Migration, type MigrationList } from './migrations.js';
export { StorageError, StorageErrorCodes, translateDriverError } from './errors.js';
