import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPgliteClient,
  migrate,
  MigrationConflictError,
  openStore,
  openPgliteDatabase,
  type PgliteDatabase,
} from '../src/index.js';
import { serviceMigrations, sqlClientSuite } from './sql-client-suite.js';

describe('SqlClient on PGlite', () => {
  // One embedded database for the file (starting PGlite takes ~2 s), one schema per test.
  let database: PgliteDatabase;
  beforeAll(async () => {
    database = await openPgliteDatabase();
  });
  afterAll(async () => {
    await database.close();
  });

  sqlClientSuite((schema) => Promise.resolve(database.client(schema)));

  it('reports a statement sent through the client from inside its own transaction instead of hanging', async () => {
    const client = database.client('inside_tx');
    await expect(client.transaction(() => client.query('SELECT 1'))).rejects.toThrow(
      /inside a transaction on the same PGlite database/,
    );
    expect((await client.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('openStore migrates each service of one process in its own schema of a shared database', async () => {
    const backend = { kind: 'pglite-shared', database } as const;
    const datasets = await openStore({
      backend,
      schema: 'svc_datasets',
      migrations: serviceMigrations,
    });
    const training = await openStore({
      backend,
      schema: 'svc_training',
      migrations: serviceMigrations.slice(0, 1),
    });
    expect(datasets.migration.version).toBe(5);
    expect(training.migration.version).toBe(1);
    await datasets.client.query("INSERT INTO datasets (name) VALUES ('mine')");
    expect((await training.client.query('SELECT name FROM datasets')).rows).toEqual([]);
    // A conflicting history fails the start and says why.
    const edited = [{ ...serviceMigrations[0]!, sql: 'CREATE TABLE other (x int)' }];
    await expect(
      openStore({ backend, schema: 'svc_datasets', migrations: edited }),
    ).rejects.toBeInstanceOf(MigrationConflictError);
  });

  it('persists to a data directory across restarts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lathe-store-pglite-'));
    try {
      const first = await createPgliteClient({ dataDir: dir, schema: 'datasets' });
      await migrate(first, serviceMigrations);
      await first.query("INSERT INTO datasets (name) VALUES ('kept')");
      await first.close();
      const second = await createPgliteClient({ dataDir: dir, schema: 'datasets' });
      expect((await migrate(second, serviceMigrations)).applied).toEqual([]);
      expect((await second.query('SELECT name FROM datasets')).rows).toEqual([{ name: 'kept' }]);
      await second.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
