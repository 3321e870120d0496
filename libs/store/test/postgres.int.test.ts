import { createTestDatabase, type TestDatabase } from '@lathe/testkit';
import { afterAll, beforeAll, describe } from 'vitest';
import { createPostgresClient } from '../src/index.js';
import { sqlClientSuite } from './sql-client-suite.js';

describe('SqlClient on PostgreSQL', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.close();
  });

  sqlClientSuite((schema) =>
    Promise.resolve(createPostgresClient({ url: db.url, schema, maxConnections: 4 })),
  );
});
