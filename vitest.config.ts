import { defineConfig } from 'vitest/config';

// Tests import workspace packages from their TypeScript sources (the `lathe-source` export
// condition), so `pnpm test` needs no build first. Forked processes, not threads: onnxruntime-node
// and servers started by tests behave as they do in production processes.
export default defineConfig({
  resolve: { conditions: ['lathe-source'] },
  ssr: { resolve: { conditions: ['lathe-source'], externalConditions: ['lathe-source'] } },
  test: {
    pool: 'forks',
    include: ['{libs,services,cli,bench,deploy}/**/{src,test}/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
