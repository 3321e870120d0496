import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import {
  isUniqueViolation,
  migrate,
  MigrationConflictError,
  SqlError,
  type Migration,
  type SqlClient,
} from '../src/index.js';

/** Opens a client bound to `schema` on the database under test. */
export type ClientFactory = (schema: string) => Promise<SqlClient>;

/** A schema name no other test uses. */
export function freshSchema(): string {
  return `t_${randomBytes(5).toString('hex')}`;
}

/** A small service history: a table, an index with data backfill, a column. */
export const serviceMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'create_datasets',
    sql: `CREATE TABLE datasets (id bigserial PRIMARY KEY, name text NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT now());
          CREATE TABLE ddl_runs (migration int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
          INSERT INTO ddl_runs (migration) VALUES (1);`,
  },
  {
    version: 2,
    name: 'add_versions',
    sql: `CREATE TABLE versions (dataset_id bigint NOT NULL REFERENCES datasets(id), version int NOT NULL, digest text NOT NULL, PRIMARY KEY (dataset_id, version));
          INSERT INTO ddl_runs (migration) VALUES (2);`,
  },
  {
    version: 5,
    name: 'add_description',
    sql: `ALTER TABLE datasets ADD COLUMN description text NOT NULL DEFAULT '';
          INSERT INTO ddl_runs (migration) VALUES (5);`,
  },
];

/**
 * The behaviour services rely on, run unchanged against PGlite and PostgreSQL: the same
 * migrations and statements must give the same results on both.
 */
export function sqlClientSuite(open: ClientFactory): void {
  async function withClient(fn: (client: SqlClient) => Promise<void>): Promise<void> {
    const client = await open(freshSchema());
    try {
      await fn(client);
    } finally {
      await client.close();
    }
  }

  it('applies migrations in order into the service schema, once', () =>
    withClient(async (client) => {
      const first = await migrate(client, serviceMigrations);
      expect(first.applied.map((m) => m.version)).toEqual([1, 2, 5]);
      expect(first.version).toBe(5);
      const again = await migrate(client, serviceMigrations);
      expect(again).toEqual({ schema: client.schema, applied: [], version: 5 });
      const { rows } = await client.query<{ version: number; name: string; checksum: string }>(
        'SELECT version, name, checksum FROM schema_migrations ORDER BY version',
      );
      expect(rows.map((r) => [r.version, r.name])).toEqual([
        [1, 'create_datasets'],
        [2, 'add_versions'],
        [5, 'add_description'],
      ]);
      expect(rows.every((r) => /^[0-9a-f]{64}$/.test(r.checksum))).toBe(true);
      const runs = await client.query<{ migration: number }>(
        'SELECT migration FROM ddl_runs ORDER BY migration',
      );
      expect(runs.rows.map((r) => r.migration)).toEqual([1, 2, 5]);
      const tables = await client.query<{ table_schema: string }>(
        "SELECT DISTINCT table_schema FROM information_schema.tables WHERE table_name = 'datasets' AND table_schema = $1",
        [client.schema],
      );
      expect(tables.rowCount).toBe(1);
    }));

  it('applies only the new migrations of a later build', () =>
    withClient(async (client) => {
      await migrate(client, serviceMigrations.slice(0, 2));
      const report = await migrate(client, serviceMigrations);
      expect(report.applied.map((m) => m.name)).toEqual(['add_description']);
    }));

  it('refuses an applied migration that was edited, naming it', () =>
    withClient(async (client) => {
      await migrate(client, serviceMigrations);
      const edited = serviceMigrations.map((m) =>
        m.version === 2 ? { ...m, sql: m.sql.replace('digest text', 'digest varchar') } : m,
      );
      const attempt = migrate(client, edited);
      await expect(attempt).rejects.toBeInstanceOf(MigrationConflictError);
      await expect(attempt).rejects.toThrow(
        /migration 2 "add_versions" was changed after it was applied/,
      );
    }));

  it('refuses to run an older build against a newer schema, and a migration slipped below an applied one', () =>
    withClient(async (client) => {
      await migrate(client, serviceMigrations);
      await expect(migrate(client, serviceMigrations.slice(0, 2))).rejects.toThrow(
        /migration 5 "add_description" applied, which this code does not know/,
      );
      const slipped = [
        ...serviceMigrations.slice(0, 2),
        { version: 3, name: 'late', sql: 'SELECT 1' },
        serviceMigrations[2]!,
      ];
      await expect(migrate(client, slipped)).rejects.toThrow(
        /migration 3 "late" is new but migration 5 is already applied/,
      );
    }));

  it('rolls back a failing migration entirely and keeps the ones before it', () =>
    withClient(async (client) => {
      const broken: Migration[] = [
        serviceMigrations[0]!,
        {
          version: 2,
          name: 'half_broken',
          sql: 'CREATE TABLE half (x int); SELECT * FROM no_such_table;',
        },
      ];
      await expect(migrate(client, broken)).rejects.toThrow(/no_such_table/);
      const { rows } = await client.query<{ version: number }>(
        'SELECT version FROM schema_migrations',
      );
      expect(rows).toEqual([{ version: 1 }]);
      const half = await client.query(
        "SELECT 1 FROM information_schema.tables WHERE table_name = 'half' AND table_schema = $1",
        [client.schema],
      );
      expect(half.rowCount).toBe(0);
    }));

  it('commits a transaction and rolls back every row when the body throws', () =>
    withClient(async (client) => {
      await migrate(client, serviceMigrations);
      await client.transaction(async (tx) => {
        await tx.query('INSERT INTO datasets (name) VALUES ($1), ($2)', ['a', 'b']);
      });
      const failure = new Error('stop halfway');
      await expect(
        client.transaction(async (tx) => {
          await tx.query('INSERT INTO datasets (name) VALUES ($1)', ['c']);
          await tx.query('UPDATE datasets SET description = $1', ['changed']);
          throw failure;
        }),
      ).rejects.toBe(failure);
      const { rows } = await client.query<{ name: string; description: string }>(
        'SELECT name, description FROM datasets ORDER BY name',
      );
      expect(rows).toEqual([
        { name: 'a', description: '' },
        { name: 'b', description: '' },
      ]);
    }));

  it('rolls back when a statement fails and reports its SQLSTATE', () =>
    withClient(async (client) => {
      await migrate(client, serviceMigrations);
      await client.query("INSERT INTO datasets (name) VALUES ('dup')");
      const attempt = client.transaction(async (tx) => {
        await tx.query("INSERT INTO datasets (name) VALUES ('fresh')");
        await tx.query("INSERT INTO datasets (name) VALUES ('dup')");
      });
      const error = await attempt.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(SqlError);
      expect(isUniqueViolation(error)).toBe(true);
      expect((error as SqlError).message).toMatch(/INSERT INTO datasets/);
      expect((await client.query('SELECT 1 FROM datasets')).rowCount).toBe(1);
    }));

  it('refuses a transaction handle used after the transaction ended', () =>
    withClient(async (client) => {
      let leaked: { query: (sql: string) => Promise<unknown> } | undefined;
      await client.transaction((tx) => {
        leaked = tx;
        return Promise.resolve();
      });
      await expect(Promise.resolve().then(() => leaked!.query('SELECT 1'))).rejects.toThrow(
        /transaction already finished/,
      );
    }));

  it('returns the same JS types for the same values', () =>
    withClient(async (client) => {
      const big = 9_007_199_254_740_993n; // 2^53 + 1: not representable as a number
      const { rows } = await client.query(
        `SELECT $1::int8 AS big, $2::int8[] AS bigs, 7::int4 AS small, 1.25::float8 AS float, 12.50::numeric AS exact,
                $3::bytea AS bytes, $4::jsonb AS doc, $5::timestamptz AS at, true AS flag, NULL::text AS nothing,
                ARRAY['x','y']::text[] AS words, $6::jsonb AS obj, $7::text[] AS texts`,
        [
          big,
          [big, -1n],
          new Uint8Array([0, 1, 255]),
          JSON.stringify({ k: [1, 'two'] }),
          new Date('2026-01-02T03:04:05.678Z'),
          { nested: { ok: true } },
          ['a', 'b'],
        ],
      );
      const row = rows[0]!;
      expect(row['big']).toBe(big);
      expect(row['bigs']).toEqual([big, -1n]);
      expect(row['small']).toBe(7);
      expect(row['float']).toBe(1.25);
      expect(row['exact']).toBe('12.50');
      expect(row['bytes']).toBeInstanceOf(Uint8Array);
      expect([...(row['bytes'] as Uint8Array)]).toEqual([0, 1, 255]);
      expect(row['doc']).toEqual({ k: [1, 'two'] });
      expect(row['at']).toEqual(new Date('2026-01-02T03:04:05.678Z'));
      expect(row['flag']).toBe(true);
      expect(row['nothing']).toBeNull();
      expect(row['words']).toEqual(['x', 'y']);
      expect(row['obj']).toEqual({ nested: { ok: true } }); // objects go in as JSON
      expect(row['texts']).toEqual(['a', 'b']); // arrays go in as arrays
    }));

  it('keeps schemas apart: unqualified names resolve in the client schema only', async () => {
    const a = await open(freshSchema());
    const b = await open(freshSchema());
    try {
      await migrate(a, serviceMigrations);
      await migrate(b, serviceMigrations.slice(0, 1));
      await a.query("INSERT INTO datasets (name) VALUES ('only-in-a')");
      expect((await b.query('SELECT name FROM datasets')).rows).toEqual([]);
      expect((await a.query('SELECT name FROM datasets')).rows).toEqual([{ name: 'only-in-a' }]);
      expect((await b.query('SELECT max(version) AS v FROM schema_migrations')).rows).toEqual([
        { v: 1 },
      ]);
    } finally {
      await a.close();
      await b.close();
    }
  });
}
