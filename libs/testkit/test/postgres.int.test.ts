import { hostname } from 'node:os';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, TestServerUnavailableError, type TestDatabase } from '../src/index.js';

async function databaseExists(adminUrl: string, name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return rowCount === 1;
  } finally {
    await client.end();
  }
}

describe('createTestDatabase', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.close();
  });

  it('gives each test file a fresh empty database it can write to', async () => {
    expect(db.database).toMatch(/^lathe_test_[0-9a-f]{12}$/);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ db: string; tables: string }>(
        "SELECT current_database() AS db, (SELECT count(*) FROM pg_tables WHERE schemaname = 'public')::text AS tables",
      );
      expect(rows[0]).toEqual({ db: db.database, tables: '0' });
      await client.query('CREATE TABLE t (x int)');
    } finally {
      await client.end();
    }
  });

  it('close() drops the database even with a connection still open', async () => {
    const other = await createTestDatabase();
    const client = new pg.Client({ connectionString: other.url });
    client.on('error', () => undefined); // the forced drop terminates it
    await client.connect();
    await other.close();
    expect(await databaseExists(other.adminUrl, other.database)).toBe(false);
    await client.end().catch(() => undefined);
  });

  it('drops databases left behind by a test process that died', async () => {
    const admin = new pg.Client({ connectionString: db.adminUrl });
    await admin.connect();
    const orphan = `lathe_test_dead${Date.now().toString(16)}`;
    try {
      await admin.query(`CREATE DATABASE "${orphan}"`);
      // Linux pids never exceed 2^22 (PID_MAX_LIMIT), so no process can own pid 2^22 + 1.
      const note = JSON.stringify({ host: hostname(), pid: 4_194_305 });
      await admin.query(`COMMENT ON DATABASE "${orphan}" IS ${pg.escapeLiteral(note)}`);
    } finally {
      await admin.end();
    }
    const next = await createTestDatabase();
    await next.close();
    expect(await databaseExists(db.adminUrl, orphan)).toBe(false);
  });

  it('names DATABASE_URL when the configured server does not answer', async () => {
    const attempt = createTestDatabase({
      env: { DATABASE_URL: 'postgres://postgres:secret@127.0.0.1:1/postgres' },
    });
    await expect(attempt).rejects.toBeInstanceOf(TestServerUnavailableError);
    await expect(attempt).rejects.toThrow(/set DATABASE_URL[\s\S]*postgres:\*\*\*@127\.0\.0\.1:1/);
  });
});
