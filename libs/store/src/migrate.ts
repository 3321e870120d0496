import { createHash } from 'node:crypto';
import { assertMigrationList, migrationChecksum, type Migration } from './migration.js';
import { assertSchemaName } from './schema-name.js';
import type { SqlClient, SqlExecutor } from './sql-client.js';

/** A migration found applied in the database. */
interface AppliedRow {
  [key: string]: unknown;
  version: number;
  name: string;
  checksum: string;
}

/** A migration this run applied. */
export interface AppliedMigration {
  version: number;
  name: string;
  /** How long its SQL ran, in milliseconds. */
  durationMs: number;
}

/** What {@link migrate} did. */
export interface MigrationReport {
  schema: string;
  /** Applied by this call, in order (empty when the schema was up to date). */
  applied: AppliedMigration[];
  /** The schema's version afterwards (0 when there are no migrations). */
  version: number;
}

/** A migration history in the database that this code cannot accept. */
export class MigrationConflictError extends Error {
  override readonly name = 'MigrationConflictError';
}

/** First key of the two-int advisory lock: "Lath" in ASCII, to keep clear of other lock users. */
const LOCK_CLASS = 0x4c617468;

/** Second key: the schema's name hashed to an int4, so schemas migrate independently. */
function lockKey(schema: string): number {
  return createHash('sha256').update(schema).digest().readInt32BE(0);
}

/**
 * Brings `schema` up to date with `migrations`, forward only.
 *
 * Each pending migration runs in its own transaction, together with its row in
 * `<schema>.schema_migrations` (version, name, checksum, applied_at, duration_ms), after taking a
 * transaction-scoped advisory lock for the schema. Replicas starting together therefore queue on
 * the lock, and each one re-reads the history once it holds it: every migration runs exactly once.
 *
 * Refuses, with a {@link MigrationConflictError} naming the migration, when an applied migration's
 * name or checksum differs from the code's (it was edited after it ran), when the database holds a
 * version the code lacks (an older build against a newer schema), or when a new migration was
 * inserted below one already applied.
 *
 * DDL that cannot run inside a transaction (`CREATE INDEX CONCURRENTLY`) is not supported.
 */
export async function migrate(
  client: SqlClient,
  migrations: readonly Migration[],
): Promise<MigrationReport> {
  const schema = assertSchemaName(client.schema);
  assertMigrationList(migrations);
  const applied: AppliedMigration[] = [];
  for (;;) {
    const step = await client.transaction((tx) => applyNext(tx, schema, migrations));
    if (step.next === undefined) return { schema, applied, version: step.version };
    applied.push(step.next);
  }
}

async function applyNext(
  tx: SqlExecutor,
  schema: string,
  migrations: readonly Migration[],
): Promise<{ next?: AppliedMigration; version: number }> {
  await tx.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, lockKey(schema)]);
  // Under the lock, so that two replicas never race on CREATE SCHEMA either.
  await tx.execute(
    `CREATE SCHEMA IF NOT EXISTS ${schema};
     CREATE TABLE IF NOT EXISTS ${schema}.schema_migrations (
       version integer PRIMARY KEY,
       name text NOT NULL,
       checksum text NOT NULL,
       applied_at timestamptz NOT NULL DEFAULT now(),
       duration_ms integer NOT NULL
     )`,
  );
  const { rows } = await tx.query<AppliedRow>(
    `SELECT version, name, checksum FROM ${schema}.schema_migrations ORDER BY version`,
  );
  checkHistory(schema, rows, migrations);
  const next = migrations[rows.length];
  if (next === undefined) return { version: rows.at(-1)?.version ?? 0 };

  // The migration's unqualified names land in the service's schema whatever the connection's
  // search_path; LOCAL ends with this transaction.
  await tx.execute(`SET LOCAL search_path TO ${schema}`);
  const started = performance.now();
  await tx.execute(next.sql);
  const durationMs = Math.round(performance.now() - started);
  await tx.query(
    `INSERT INTO ${schema}.schema_migrations (version, name, checksum, duration_ms) VALUES ($1, $2, $3, $4)`,
    [next.version, next.name, migrationChecksum(next.sql), durationMs],
  );
  return { next: { version: next.version, name: next.name, durationMs }, version: next.version };
}

/** The applied history must be exactly the first entries of the code's list, unchanged. */
function checkHistory(
  schema: string,
  rows: readonly AppliedRow[],
  migrations: readonly Migration[],
): void {
  for (const [index, row] of rows.entries()) {
    const known = migrations[index];
    if (known === undefined || known.version > row.version) {
      throw new MigrationConflictError(
        `schema "${schema}" has migration ${row.version} "${row.name}" applied, which this code does not know; ` +
          `refusing to run an older build against a newer schema`,
      );
    }
    if (known.version < row.version) {
      throw new MigrationConflictError(
        `schema "${schema}": migration ${known.version} "${known.name}" is new but migration ${row.version} is already applied; ` +
          `migrations are forward-only, add new ones after the last applied version`,
      );
    }
    const checksum = migrationChecksum(known.sql);
    if (known.name !== row.name || checksum !== row.checksum) {
      throw new MigrationConflictError(
        `schema "${schema}": migration ${row.version} "${row.name}" was changed after it was applied ` +
          `(recorded name "${row.name}", checksum ${row.checksum.slice(0, 12)}; code has "${known.name}", ${checksum.slice(0, 12)}); ` +
          `add a new migration instead of editing an applied one`,
      );
    }
  }
}
