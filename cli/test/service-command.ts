// Set-up shared by the tests of the commands that talk to a running service (datasets,
// preferences, jobs): run a command in this process with its output captured, and start the
// real services they need as processes.
import { join } from 'node:path';
import { REPO_ROOT, spawnService, type SpawnedService } from '@lathe/service-kit/testing';
import { vi } from 'vitest';

/** What a command run in this process returned and wrote. */
export interface CommandRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** Runs a command's `run(argv)` in this process, capturing what it writes to stdout and stderr. */
export async function runCommand(
  run: (argv: string[]) => Promise<number>,
  argv: string[],
): Promise<CommandRun> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err += String(chunk);
    return true;
  });
  try {
    const code = await run(argv);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

/**
 * The real datasets service as a process on embedded storage (PGlite, the in-process bus),
 * its artifacts under `dir`, without authentication.
 */
export function spawnDatasetsService(dir: string): Promise<SpawnedService> {
  return spawnService({
    entry: join(REPO_ROOT, 'services/datasets/src/main.ts'),
    cwd: REPO_ROOT,
    env: { LATHE_AUTH_MODE: 'none', LATHE_DATASETS_ARTIFACT_DIR: join(dir, 'artifacts') },
    startTimeoutMs: 90_000,
  });
}
