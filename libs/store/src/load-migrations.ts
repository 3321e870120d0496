import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Migration } from './migration.js';

const FILE_NAME = /^(\d{4,})_([a-z0-9][a-z0-9_]*)\.sql$/;

/**
 * Reads migrations from `dir`: every `*.sql` file must be named `<version>_<name>.sql` with a
 * zero-padded version (`0001_create_datasets.sql`); other `.sql` names are an error rather than
 * skipped, so a misnamed migration never silently goes missing. Files that are not `.sql` are
 * ignored (a README may sit beside them).
 */
export async function loadMigrations(dir: string): Promise<Migration[]> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.sql'));
  const migrations: Migration[] = [];
  for (const file of names) {
    const match = FILE_NAME.exec(file);
    if (match === null || match[1] === undefined || match[2] === undefined) {
      throw new Error(
        `migration file "${join(dir, file)}" must be named <version>_<name>.sql, e.g. 0001_create_jobs.sql`,
      );
    }
    migrations.push({
      version: Number(match[1]),
      name: match[2],
      sql: await readFile(join(dir, file), 'utf8'),
    });
  }
  // By number, not by text: 10000_x comes after 9999_y.
  return migrations.sort((a, b) => a.version - b.version);
}
