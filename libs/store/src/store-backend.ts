import type { PgliteDatabase } from './pglite-client.js';

/** Where a service keeps its metadata. */
export type StoreBackend =
  /** A PostgreSQL server (production). */
  | { kind: 'postgres'; url: string }
  /** PGlite in this process (embedded default); no `dataDir` means in memory. */
  | { kind: 'pglite'; dataDir?: string }
  /** A PGlite database already open and shared by the services of this process. */
  | { kind: 'pglite-shared'; database: PgliteDatabase };

/**
 * Reads a store location as written in configuration:
 * `postgres://...` or `postgresql://...` → a server; `pglite:memory` → in-memory PGlite;
 * `pglite:<directory>` → PGlite persisted in that directory.
 */
export function parseStoreBackend(location: string): StoreBackend {
  if (location.startsWith('postgres://') || location.startsWith('postgresql://'))
    return { kind: 'postgres', url: location };
  if (location === 'pglite:memory') return { kind: 'pglite' };
  if (location.startsWith('pglite:') && location.length > 'pglite:'.length) {
    return { kind: 'pglite', dataDir: location.slice('pglite:'.length) };
  }
  throw new Error(
    `store location "${location}" is not understood: use postgres://..., pglite:memory or pglite:<directory>`,
  );
}
