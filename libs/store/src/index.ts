// The metadata store's door: one SqlClient on PostgreSQL or PGlite, forward-only migrations.
export type { SqlClient, SqlExecutor, SqlRow, SqlValue, QueryResult } from './sql-client.js';
export { SqlError, SqlState, isUniqueViolation } from './sql-error.js';
export { createPostgresClient, type PostgresClientOptions } from './postgres-client.js';
export {
  createPgliteClient,
  openPgliteDatabase,
  type PgliteClientOptions,
  type PgliteDatabase,
  type PgliteDatabaseOptions,
} from './pglite-client.js';
export { assertSchemaName } from './schema-name.js';
export { migrationChecksum, assertMigrationList, type Migration } from './migration.js';
export {
  migrate,
  MigrationConflictError,
  type MigrationReport,
  type AppliedMigration,
} from './migrate.js';
export { loadMigrations } from './load-migrations.js';
export { packageMigrationsDir } from './package-migrations-dir.js';
export { parseStoreBackend, type StoreBackend } from './store-backend.js';
export { openStore, type OpenStoreOptions, type OpenedStore } from './open-store.js';
