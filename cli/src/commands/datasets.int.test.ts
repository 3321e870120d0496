// `lathe datasets upload | curate | show` against a real datasets service process (embedded
// storage: PGlite, in-process bus, a local artifact directory).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SpawnedService } from '@lathe/service-kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, spawnDatasetsService, type CommandRun } from '../../test/service-command.js';
import { useTempDirs } from '../../test/temp-dirs.js';
import { run } from './datasets.js';

const lathe = (argv: string[]): Promise<CommandRun> => runCommand(run, argv);

describe('lathe datasets', () => {
  const tempDir = useTempDirs('lathe-cli-datasets-');
  let svc: SpawnedService;
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
    svc = await spawnDatasetsService(dir);
  }, 100_000);
  afterAll(async () => {
    await svc.stop('SIGTERM');
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
