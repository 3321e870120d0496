import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The `migrations/` folder of the package that `moduleUrl` belongs to: the nearest folder above
 * the module holding a `package.json`, joined with `migrations`. The same call works from the
 * TypeScript sources (`src/x.ts`, tests) and from the build (`dist/src/x.js`), which sit at
 * different depths.
 *
 * @param moduleUrl the caller's `import.meta.url`
 * @throws Error naming the module when no package, or no `migrations/` in it, is found
 */
export function packageMigrationsDir(moduleUrl: string): string {
  const start = dirname(fileURLToPath(moduleUrl));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) {
      const migrations = join(dir, 'migrations');
      if (!existsSync(migrations)) throw new Error(`${dir} has no migrations/ folder`);
      return migrations;
    }
    if (dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}
