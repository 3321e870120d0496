import { setTimeout as sleep } from 'node:timers/promises';
import { createTestDatabase, type TestDatabase } from '@lathe/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresClient } from '../src/index.js';

describe('PostgreSQL ending a session inside a transaction', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.close();
  });

  it('fails that transaction, leaves the process and the pool working (idle_in_transaction_session_timeout)', async () => {
    // What a trainer paused (SIGSTOP) inside a store write meets when it wakes: the server has
    // ended its session. Unhandled, the checked-out connection's 'error' event crashed the worker.
    const client = createPostgresClient({ url: db.url, schema: 'session_end', maxConnections: 2 });
    try {
      await client.execute('CREATE SCHEMA IF NOT EXISTS session_end');
      await client.execute('CREATE TABLE IF NOT EXISTS t (n integer)');
      const outcome = await client
        .transaction(async (tx) => {
          await tx.query("SET LOCAL idle_in_transaction_session_timeout = '100ms'");
          await tx.query('INSERT INTO t VALUES (1)');
          await sleep(1500); // idle inside the transaction: the server ends the session
          await tx.query('INSERT INTO t VALUES (2)');
          return 'committed';
        })
        .catch((error: unknown) => (error instanceof Error ? error.message : String(error)));
      expect(outcome).not.toBe('committed');
      // Nothing of the ended transaction is stored, and the pool serves new work.
      const rows = await client.query<{ n: number }>('SELECT n FROM t');
      expect(rows.rows).toEqual([]);
      await client.transaction(async (tx) => {
        await tx.query('INSERT INTO t VALUES (3)');
      });
      expect((await client.query<{ n: number }>('SELECT n FROM t')).rows).toEqual([{ n: 3 }]);
    } finally {
      await client.close();
    }
  }, 20_000);
});
