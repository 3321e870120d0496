// `lathe preferences tasks create | tasks import | agreement | snapshot | eval-set` against a real
// preferences service process (PGlite, in-process bus) wired to a real datasets service process.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Role } from '@lathe/contracts/lathe/preferences/v1/annotator';
import { Choice } from '@lathe/contracts/lathe/preferences/v1/judgement';
import { PreferenceServiceService } from '@lathe/contracts/lathe/preferences/v1/preference_service';
import { createClient } from '@lathe/service-kit';
import { REPO_ROOT, spawnService } from '@lathe/service-kit/testing';
import type { SpawnedService } from '@lathe/service-kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, spawnDatasetsService, type CommandRun } from '../../test/service-command.js';
import { useTempDirs } from '../../test/temp-dirs.js';
import { run } from './preferences.js';

const ADMIN = 'cli-test-admin-secret-that-is-long-enough-42';

const lathe = (argv: string[]): Promise<CommandRun> => runCommand(run, argv);

describe('lathe preferences', () => {
  const tempDir = useTempDirs('lathe-cli-preferences-');
  let datasets: SpawnedService;
  let prefs: SpawnedService;
  let dir: string;
  let flags: string[];
  beforeAll(async () => {
    dir = await tempDir();
    datasets = await spawnDatasetsService(dir);
    prefs = await spawnService({
      entry: `${REPO_ROOT}/services/preferences/src/main.ts`,
      cwd: REPO_ROOT,
      env: {
        LATHE_JWT_SECRET: 'cli-test-unused-jwt-secret-32-bytes!',
        LATHE_JWT_ISSUER: 'https://cli.test',
        LATHE_PREFERENCES_ADMIN_TOKEN: ADMIN,
        LATHE_PREFERENCES_WEB_PORT: '0',
        LATHE_PREFERENCES_DATASETS_ADDRESS: datasets.address,
      },
      startTimeoutMs: 90_000,
    });
    flags = ['--preferences', prefs.address, '--token', ADMIN];
  }, 200_000);
  afterAll(async () => {
    await prefs.stop('SIGTERM');
    await datasets.stop('SIGTERM');
  });

  it('creates a task from a file, reads agreement, snapshots it, imports it back and registers an evaluation set', async () => {
    const items = join(dir, 'items.jsonl');
    writeFileSync(
      items,
      [
        JSON.stringify({ id: 'q1', prompt: 'Capital of France?', candidates: ['Paris.', 'Rome.'] }),
        JSON.stringify({
          id: 'q2',
          prompt: [{ role: 'user', content: '2+2?' }],
          candidates: ['4', [{ role: 'assistant', content: '5' }]],
          gold: 0,
        }),
      ].join('\n'),
    );
    const created = await lathe([
      'tasks',
      'create',
      '--name',
      'cli',
      '--k',
      '2',
      '--items',
      items,
      ...flags,
    ]);
    expect(created.code).toBe(0);
    const taskId = /^task (\S+): 2 items, k 2$/m.exec(created.out)?.[1] ?? '';
    expect(taskId).not.toBe('');

    // Two annotators judge both items over gRPC: both prefer the first candidate on q1; on q2 one
    // prefers "4", the other "5".
    const admin = createClient(PreferenceServiceService, prefs.address, {
      token: ADMIN,
      idempotent: [],
    });
    const choices: Record<string, string[]> = { q1: ['a', 'a'], q2: ['a', 'b'] };
    for (let n = 0; n < 2; n++) {
      const { annotator } = await admin.createAnnotator({
        displayName: `rater${n}`,
        email: '',
        maxRole: Role.ROLE_ANNOTATOR,
      });
      const { secret } = await admin.issueAnnotatorToken({
        annotatorId: annotator?.id ?? '',
        role: Role.ROLE_ANNOTATOR,
        ttl: undefined,
        description: '',
      });
      const rater = createClient(PreferenceServiceService, prefs.address, {
        token: secret,
        idempotent: [],
      });
      for (;;) {
        const { assignment } = await rater.getNextAssignment({ taskId });
        if (assignment === undefined) break;
        const wanted = choices[assignment.itemId]?.[n];
        await rater.submitJudgement({
          assignmentId: assignment.id,
          choice: assignment.candidateA?.id === wanted ? Choice.CHOICE_A : Choice.CHOICE_B,
          rationale: '',
          timeSpent: undefined,
          idempotencyKey: `${assignment.id}-1`,
          expectedRevision: 0,
        });
      }
      rater.close();
    }
    admin.close();

    const agreed = await lathe(['agreement', taskId, ...flags]);
    expect(agreed.code).toBe(0);
    expect(agreed.out).toMatch(new RegExp(`^task ${taskId}: 4 judgements; Fleiss' kappa`, 'm'));
    // Two raters agreeing on one of two items: observed agreement 1/2.
    expect(agreed.out).toMatch(/Cohen's kappa \S+ \/ \S+: \S+ \(observed 0\.500 over 2 shared\)/);
    expect(agreed.out).toMatch(/gold accuracy \S+: 1\/1 = 1\.000/);

    // q1 (both raters agree) becomes the pair; q2 is gold and left out without --include-gold.
    const snap = await lathe([
      'snapshot',
      taskId,
      '--dataset',
      'cli-prefs',
      '--min-agreement',
      '1',
      ...flags,
    ]);
    expect(snap.code).toBe(0);
    expect(snap.out).toMatch(/^cli-prefs@1 sha256:[0-9a-f]{64}: 1 pairs, 0 excluded$/m);

    const again = await lathe(['tasks', 'create', '--name', 'from-dataset', '--k', '1', ...flags]);
    const second = /^task (\S+):/m.exec(again.out)?.[1] ?? '';
    const imported = await lathe([
      'tasks',
      'import',
      second,
      '--from',
      'cli-prefs@1',
      '--gold-fraction',
      '1',
      ...flags,
    ]);
    expect(imported.out).toBe(`task ${second}: imported 1 items (1 gold) from cli-prefs@1\n`);

    const prompts = join(dir, 'prompts.jsonl');
    writeFileSync(
      prompts,
      [JSON.stringify('held-out one'), JSON.stringify('held-out two')].join('\n'),
    );
    const registered = await lathe([
      'eval-set',
      'held',
      '--prompts',
      prompts,
      '--from',
      'cli-prefs@1',
      ...flags,
    ]);
    expect(registered.out).toBe(
      'evaluation set held: 3 prompts registered, 0 already registered\n',
    );
  }, 200_000);

  it('answers a bad shape with a usage error', async () => {
    const refused = await lathe(['tasks', 'delete', 'x']);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/^lathe preferences: expected: lathe preferences tasks create \| /);
  });
});
