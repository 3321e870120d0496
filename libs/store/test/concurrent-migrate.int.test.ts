import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from '@lathe/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MigrationReport } from '../src/index.js';
import { slowMigrations } from './fixtures/slow-migrations.js';

const replicaScript = fileURLToPath(new URL('./fixtures/migrate-replica.ts', import.meta.url));

interface Replica {
  child: ChildProcessWithoutNullStreams;
  ready: Promise<void>;
  result: Promise<{ pid: number; report: MigrationReport }>;
}

function startReplica(url: string, schema: string): Replica {
  const child = spawn(process.execPath, ['--import', 'tsx', replicaScript], {
    env: { ...process.env, DATABASE_URL: url, STORE_SCHEMA: schema },
  });
  let out = '';
  let err = '';
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (out.startsWith('ready\n')) markReady();
  });
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const result = new Promise<{ pid: number; report: MigrationReport }>((resolve, reject) => {
    child.once('exit', (code) => {
      const last = out.trim().split('\n').at(-1) ?? '';
      if (code === 0) resolve(JSON.parse(last) as { pid: number; report: MigrationReport });
      else reject(new Error(`replica exited with ${String(code)}: ${err}`));
    });
  });
  // A replica that dies before "ready" must fail the test, not hang it.
  void result.catch(() => markReady());
  return { child, ready, result };
}

describe('two processes starting against an empty database', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.close();
  });

  it('apply each migration exactly once', async () => {
    const schema = 'datasets';
    const replicas = [startReplica(db.url, schema), startReplica(db.url, schema)];
    await Promise.all(replicas.map((r) => r.ready));
    for (const r of replicas) r.child.stdin.end('go\n');
    const results = await Promise.all(replicas.map((r) => r.result));

    // Between them the replicas applied every migration, and no migration twice.
    const appliedVersions = results.flatMap((r) => r.report.applied.map((m) => m.version)).sort();
    expect(appliedVersions).toEqual([1, 2, 3]);
    expect(results.map((r) => r.report.version)).toEqual([3, 3]);

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const history = await client.query<{ version: number; name: string }>(
        `SELECT version, name FROM ${schema}.schema_migrations ORDER BY version`,
      );
      expect(history.rows).toEqual(
        slowMigrations.map((m) => ({ version: m.version, name: m.name })),
      );
      // The DDL itself ran once per migration (a second run would also have failed on CREATE TABLE).
      const runs = await client.query<{ migration: number; app: string }>(
        `SELECT migration, app FROM ${schema}.ddl_runs ORDER BY migration`,
      );
      expect(runs.rows.map((r) => r.migration)).toEqual([1, 2, 3]);
      // Each run's application_name names the replica that ran it, matching its own report.
      for (const { pid, report } of results) {
        const mine = runs.rows.filter((r) => r.app === `replica-${pid}`).map((r) => r.migration);
        expect(mine).toEqual(report.applied.map((m) => m.version));
      }
    } finally {
      await client.end();
    }
  });
});
