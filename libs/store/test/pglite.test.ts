import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPgliteClient,
  migrate,
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
