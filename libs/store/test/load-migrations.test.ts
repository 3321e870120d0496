import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { assertMigrationList, loadMigrations, parseStoreBackend } from '../src/index.js';

describe('loadMigrations', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lathe-migrations-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads NNNN_name.sql files in numeric order and ignores other files', async () => {
    await writeFile(join(dir, '10000_late.sql'), 'SELECT 3;');
    await writeFile(join(dir, '0002_add_index.sql'), 'SELECT 2;');
    await writeFile(join(dir, '0001_create_jobs.sql'), 'SELECT 1;');
    await writeFile(join(dir, 'README.md'), 'notes');
    expect(await loadMigrations(dir)).toEqual([
      { version: 1, name: 'create_jobs', sql: 'SELECT 1;' },
      { version: 2, name: 'add_index', sql: 'SELECT 2;' },
      { version: 10000, name: 'late', sql: 'SELECT 3;' },
    ]);
  });

  it('refuses a misnamed .sql file instead of skipping it', async () => {
    await writeFile(join(dir, '0001_create_jobs.sql'), 'SELECT 1;');
    await writeFile(join(dir, '2-Add Index.sql'), 'SELECT 2;');
    await expect(loadMigrations(dir)).rejects.toThrow(
      /2-Add Index\.sql" must be named <version>_<name>\.sql/,
    );
  });
});

describe('assertMigrationList', () => {
  it('names the entry that is out of order, duplicated or empty', () => {
    expect(() =>
      assertMigrationList([
        { version: 2, name: 'b', sql: 'x' },
        { version: 1, name: 'a', sql: 'x' },
      ]),
    ).toThrow(
      /migration #2 \(version 1, "a"\): versions must strictly increase, but it follows version 2/,
    );
    expect(() => assertMigrationList([{ version: 0, name: 'a', sql: 'x' }])).toThrow(
      /version must be a positive integer/,
    );
    expect(() => assertMigrationList([{ version: 1, name: 'Bad-Name', sql: 'x' }])).toThrow(
      /name must be snake_case/,
    );
    expect(() => assertMigrationList([{ version: 1, name: 'a', sql: '  ' }])).toThrow(
      /SQL is empty/,
    );
  });
});

describe('parseStoreBackend', () => {
  it('reads server URLs and embedded locations', () => {
    expect(parseStoreBackend('postgres://u@h:5432/db')).toEqual({
      kind: 'postgres',
      url: 'postgres://u@h:5432/db',
    });
    expect(parseStoreBackend('postgresql://h/db')).toEqual({
      kind: 'postgres',
      url: 'postgresql://h/db',
    });
    expect(parseStoreBackend('pglite:memory')).toEqual({ kind: 'pglite' });
    expect(parseStoreBackend('pglite:/var/lib/lathe/pg')).toEqual({
      kind: 'pglite',
      dataDir: '/var/lib/lathe/pg',
    });
    expect(() => parseStoreBackend('mysql://h/db')).toThrow(
      /store location "mysql:\/\/h\/db" is not understood/,
    );
    expect(() => parseStoreBackend('pglite:')).toThrow(/not understood/);
  });
});
