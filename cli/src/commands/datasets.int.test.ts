// `lathe datasets upload | curate | show` against a real datasets service process (embedded
// storage: PGlite, in-process bus, a local artifact directory).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT, spawnService } from '@lathe/service-kit/testing';
import type { SpawnedService } from '@lathe/service-kit/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { run } from './datasets.js';

const ENTRY = fileURLToPath(new URL('../../../services/datasets/src/main.ts', import.meta.url));

async function lathe(args: string[]): Promise<{ code: number; out: string }> {
  const chunks: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  try {
    const code = await run(args);
    return { code, out: chunks.join('') };
  } finally {
    spy.mockRestore();
  }
}

describe('lathe datasets', () => {
  let svc: SpawnedService;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lathe-cli-datasets-'));
    svc = await spawnService({
      entry: ENTRY,
      cwd: REPO_ROOT,
      env: { LATHE_AUTH_MODE: 'none', LATHE_DATASETS_ARTIFACT_DIR: join(dir, 'artifacts') },
      startTimeoutMs: 60_000,
    });
  }, 70_000);
  afterAll(async () => {
    await svc.stop('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  it('uploads a file with a bad line, curates it and shows the version', async () => {
    const file = join(dir, 'prefs.jsonl');
    writeFileSync(
      file,
      [
        JSON.stringify({ prompt: 'Hi?', chosen: 'Hello!', rejected: 'Go away.' }),
        '{"prompt": broken',
        JSON.stringify({ prompt: 'Hi?', chosen: 'Hello!', rejected: 'Go away.' }),
        JSON.stringify({ prompt: '2+2?', chosen: '4', rejected: '5' }),
      ].join('\n'),
    );
    const flags = ['--datasets', svc.address];
    const up = await lathe([
      'upload',
      file,
      '--name',
      'prefs',
      '--format',
      'preference-pairs',
      ...flags,
    ]);
    expect(up.code).toBe(0);
    expect(up.out).toContain('created dataset prefs (preference)');
    expect(up.out).toMatch(
      /: 3 accepted, 1 rejected, format preference_pairs\n {2}line 2: not valid JSON/,
    );

    const cur = await lathe(['curate', 'prefs', '--dedupe', ...flags]);
    expect(cur.code).toBe(0);
    expect(cur.out).toMatch(/^prefs@1 sha256:[0-9a-f]{64}: train 2, eval 0, removed 1\n/);
    expect(cur.out).toContain('removed 1 (exact_duplicate)');

    const shown = await lathe(['show', 'prefs@1', '--records', '1', ...flags]);
    expect(shown.code).toBe(0);
    expect(shown.out).toContain('prefs: preference, latest version 1, 0 records staged');
    expect(shown.out).toContain('"$case":"preference"');
    // Two kept pairs of a user prompt and two assistant answers; short records.
    expect(shown.out).toContain('turns per role: assistant 4, user 2');
    expect(shown.out).toContain('characters histogram: <=64: 2');
    expect((await lathe(['show', 'absent', ...flags])).code).toBe(1);
    expect((await lathe(['frobnicate', 'x', ...flags])).code).toBe(2);
  }, 60_000);
});
