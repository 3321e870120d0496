import { fileURLToPath } from 'node:url';
import { spawnProcess, spawnService } from './spawn-service.js';
import type { SpawnedService } from './spawn-service.js';
import { signTestToken, unsignedTestToken } from './test-tokens.js';

const SECRET = 'service-test-secret-that-is-32-bytes';
const ISSUER = 'https://id.lathe.test';

/** A service entry point run as a real process with JWT auth, and ways to mint tokens for it. */
export interface ServiceUnderTest {
  readonly process: SpawnedService;
  /** A valid token for this service carrying `roles`. */
  token(
    roles: readonly string[],
    overrides?: { expiresInSeconds?: number; audience?: string },
  ): Promise<string>;
  /** An `alg: none` token that would otherwise be valid. */
  unsignedToken(roles: readonly string[]): string;
}

/** The repository root, where `--import tsx` resolves. */
export const REPO_ROOT = fileURLToPath(new URL('../../../..', import.meta.url));

/**
 * Starts `entry` (a service's `src/main.ts` or `dist/src/main.js`) with JWT auth on a free port
 * and waits for it to listen. `audience` is the service's default (`lathe.<service>`).
 */
export async function startServiceUnderTest(
  entry: string,
  audience: string,
  env: Readonly<Record<string, string>> = {},
): Promise<ServiceUnderTest> {
  const process = await spawnService({
    entry,
    cwd: REPO_ROOT,
    env: { LATHE_JWT_SECRET: SECRET, LATHE_JWT_ISSUER: ISSUER, ...env },
  });
  return {
    process,
    token: (roles, overrides = {}) =>
      signTestToken({ secret: SECRET, issuer: ISSUER, audience, roles, ...overrides }),
    unsignedToken: (roles) => unsignedTestToken({ issuer: ISSUER, audience, roles }),
  };
}

/** Runs `entry` with exactly `env` (plus PATH/HOME) until it exits; for start-up failures. */
export async function runUntilExit(
  entry: string,
  env: Readonly<Record<string, string>>,
): Promise<{ code: number | null; stderr: readonly string[] }> {
  const p = spawnProcess({ entry, cwd: REPO_ROOT, env });
  const { code } = await p.exited;
  return { code, stderr: p.stderr };
}
