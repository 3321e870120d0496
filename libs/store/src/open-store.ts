import { createPgliteClient } from './pglite-client.js';
import { createPostgresClient } from './postgres-client.js';
import { migrate, type MigrationReport } from './migrate.js';
import type { Migration } from './migration.js';
import type { SqlClient } from './sql-client.js';
import type { StoreBackend } from './store-backend.js';

/** Options for {@link openStore}. */
export interface OpenStoreOptions {
  /** Server or embedded database. Required. */
  backend: StoreBackend;
  /** The service's schema (`datasets`, `training`, ...). Required. */
  schema: string;
  /** The service's migrations, in order. Required (may be empty). */
  migrations: readonly Migration[];
  /** Pool size on PostgreSQL. Default 10. */
  maxConnections?: number;
  /** `application_name` on PostgreSQL. Default `lathe`. */
  applicationName?: string;
}

function openClient(options: OpenStoreOptions): Promise<SqlClient> {
  const { backend, schema } = options;
  switch (backend.kind) {
    case 'postgres':
      return Promise.resolve(
        createPostgresClient({
          url: backend.url,
          schema,
          ...(options.maxConnections === undefined
            ? {}
            : { maxConnections: options.maxConnections }),
          ...(options.applicationName === undefined
            ? {}
            : { applicationName: options.applicationName }),
        }),
      );
    case 'pglite':
      return createPgliteClient({
        schema,
        ...(backend.dataDir === undefined ? {} : { dataDir: backend.dataDir }),
      });
    case 'pglite-shared':
      return Promise.resolve(backend.database.client(schema));
  }
}

/** An open metadata store whose schema is up to date. */
export interface OpenedStore {
  client: SqlClient;
  /** What migration did at start. */
  migration: MigrationReport;
}

/**
 * Opens a service's metadata store and applies its pending migrations before returning, so the
 * service never serves against an old schema. Closes the client again if migration fails.
 */
export async function openStore(options: OpenStoreOptions): Promise<OpenedStore> {
  const client = await openClient(options);
  try {
    return { client, migration: await migrate(client, options.migrations) };
  } catch (error) {
    await client.close().catch(() => undefined);
    throw error;
  }
}
