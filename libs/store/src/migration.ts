import { createHash } from 'node:crypto';

/** One forward-only schema change. */
export interface Migration {
  /** Position in the history: positive integers, strictly increasing. Never reused. */
  version: number;
  /** Short description in snake_case, recorded with the version (`create_datasets`). */
  name: string;
  /** The SQL script; unqualified names resolve in the service's schema. */
  sql: string;
}

const MIGRATION_NAME = /^[a-z0-9][a-z0-9_]{0,99}$/;

/**
 * The checksum recorded when a migration is applied: sha256 of its SQL with line endings
 * normalised, so a checkout with CRLF line endings does not look like an edited migration.
 */
export function migrationChecksum(sql: string): string {
  return createHash('sha256').update(sql.replace(/\r\n/g, '\n'), 'utf8').digest('hex');
}

/** Rejects a migration list that is out of order, duplicated or malformed, naming the entry. */
export function assertMigrationList(migrations: readonly Migration[]): void {
  let previous = 0;
  for (const [index, migration] of migrations.entries()) {
    const where = `migration #${index + 1} (version ${migration.version}, "${migration.name}")`;
    if (!Number.isSafeInteger(migration.version) || migration.version <= 0) {
      throw new Error(`${where}: version must be a positive integer`);
    }
    if (migration.version <= previous) {
      throw new Error(
        `${where}: versions must strictly increase, but it follows version ${previous}`,
      );
    }
    if (!MIGRATION_NAME.test(migration.name)) {
      throw new Error(`${where}: name must be snake_case [a-z0-9_], at most 100 characters`);
    }
    if (migration.sql.trim() === '') throw new Error(`${where}: SQL is empty`);
    previous = migration.version;
  }
}
