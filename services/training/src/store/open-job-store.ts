import { loadMigrations, openStore, packageMigrationsDir, parseStoreBackend } from '@lathe/store';
import type { SqlClient, StoreBackend } from '@lathe/store';
import { JobStore } from './job-store.js';

/** Name of the training service's Postgres schema. */
export const TRAINING_SCHEMA = 'training';

/** An opened training store and the SQL client under it. */
export interface OpenedJobStore {
  readonly store: JobStore;
  readonly sql: SqlClient;
  /** Closes the SQL client. */
  close(): Promise<void>;
}

/**
 * Opens schema `training` on `location` (`postgres://...`, `pglite:memory`, `pglite:<dir>`, or a
 * parsed backend such as one shared PGlite database), applying the package's migrations first.
 */
export async function openJobStore(
  location: string | StoreBackend,
  applicationName = 'lathe-training',
): Promise<OpenedJobStore> {
  const { client } = await openStore({
    backend: typeof location === 'string' ? parseStoreBackend(location) : location,
    schema: TRAINING_SCHEMA,
    migrations: await loadMigrations(packageMigrationsDir(import.meta.url)),
    applicationName,
  });
  return { store: new JobStore(client), sql: client, close: () => client.close() };
}
