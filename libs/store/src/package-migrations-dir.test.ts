import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, expect, test } from 'vitest';
import { packageMigrationsDir } from './package-migrations-dir.js';

const root = mkdtempSync(join(tmpdir(), 'lathe-migrations-dir-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

test('finds migrations/ beside package.json from the sources and from the build', () => {
  const pkg = join(root, 'svc');
  mkdirSync(join(pkg, 'migrations'), { recursive: true });
  mkdirSync(join(pkg, 'dist', 'src'), { recursive: true });
  writeFileSync(join(pkg, 'package.json'), '{}');
  const fromSource = pathToFileURL(join(pkg, 'src', 'store.ts')).href;
  const fromBuild = pathToFileURL(join(pkg, 'dist', 'src', 'store.js')).href;
  expect(packageMigrationsDir(fromSource)).toBe(join(pkg, 'migrations'));
  expect(packageMigrationsDir(fromBuild)).toBe(join(pkg, 'migrations'));
});

test('a package without migrations/ is named', () => {
  const pkg = join(root, 'bare');
  mkdirSync(join(pkg, 'src'), { recursive: true });
  writeFileSync(join(pkg, 'package.json'), '{}');
  expect(() => packageMigrationsDir(pathToFileURL(join(pkg, 'src', 'x.ts')).href)).toThrow(
    `${pkg} has no migrations/ folder`,
  );
});
