import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TextTokenizer, buildStoryPairs, loadLlamaModel } from '@lathe/llm';
import { REPO_ROOT, runLathe } from '../../test/run-lathe.js';

const MODEL = join(REPO_ROOT, '../shared/models/stories260K');
const skip = existsSync(MODEL) ? '' : `shared model not found at ${MODEL}`;
if (skip !== '') console.warn(`skipping lathe train --method dpo tests: ${skip}`);

describe.skipIf(skip !== '')('lathe train --method dpo', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lathe-train-dpo-'));
    const model = await loadLlamaModel(MODEL);
    const records = await buildStoryPairs(model, await TextTokenizer.load(MODEL), {
      count: 48,
      seed: 7,
    });
    // One identical pair: it must be counted in the report, not trained on.
    const lines = [...records, { prompt: 'Tom ran.', chosen: ' Yes.', rejected: ' Yes.' }];
    await writeFile(join(dir, 'pairs.jsonl'), lines.map((r) => JSON.stringify(r)).join('\n'));
  }, 60_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // `lathe train --method dpo` on the story pairs written above, into `out`, with `flags`.
  const trainDpo = (out: string, flags: readonly string[]) =>
    runLathe([
      'train',
      '--method',
      'dpo',
      '--model',
      MODEL,
      '--data',
      join(dir, 'pairs.jsonl'),
      '--out',
      out,
      ...flags,
    ]);

  it('trains a LoRA adapter, emitting TRL-named metrics, and reports the data', async () => {
    const out = join(dir, 'out');
    const run = await trainDpo(out, [
      '--lr',
      '1e-3',
      '--batch-size',
      '8',
      '--eval-fraction',
      '0.25',
      '--beta',
      '0.1',
      '--progress',
      'json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const events = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; metrics?: Record<string, number> });
    const data = events[0] as unknown as {
      train: { identicalResponses: number };
      eval: { identicalResponses: number };
    };
    expect(events[0]?.type).toBe('data');
    expect(data.train.identicalResponses + data.eval.identicalResponses).toBe(1);
    const steps = events.filter((e) => e.type === 'step');
    expect(steps.length).toBeGreaterThan(0);
    expect(Object.keys(steps[0]?.metrics ?? {}).sort()).toEqual([
      'logps/chosen',
      'logps/rejected',
      'loss',
      'rewards/accuracies',
      'rewards/chosen',
      'rewards/margins',
      'rewards/rejected',
    ]);
    const evals = events.filter((e) => e.type === 'eval');
    expect(evals[0]?.metrics?.['loss']).toBeCloseTo(Math.LN2, 6);
    expect(evals.at(-1)?.metrics?.['loss']).toBeLessThan(Math.LN2);
    expect(run.stderr).toMatch(/^done: \d+ steps; held-out loss 0\.6931 -> /);
    expect(existsSync(join(out, 'adapter_model.safetensors'))).toBe(true);
    const saved = JSON.parse(await readFile(join(out, 'dpo_metrics.json'), 'utf8')) as {
      loss: { lossType: string; beta: number };
    };
    expect(saved.loss).toEqual({ lossType: 'sigmoid', beta: 0.1, labelSmoothing: 0 });
  }, 120_000);

  it('checkpoints, refuses a changed flag or a fresh start over them, and resumes', async () => {
    const out = join(dir, 'resumable');
    const flags = ['--batch-size', '8', '--max-steps', '3', '--checkpoint-every', '2'];
    const first = await trainDpo(out, [...flags, '--progress', 'json']);
    expect(first.code, first.stderr).toBe(0);
    const checkpoints = first.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; step?: number })
      .filter((e) => e.type === 'checkpoint');
    expect(checkpoints.map((e) => e.step)).toEqual([2, 3]);
    expect((await readFile(join(out, 'checkpoints', 'latest'), 'utf8')).trim()).toBe('step-000003');

    const changed = await trainDpo(out, [...flags, '--lr', '1e-3', '--resume', out]);
    expect(changed.code).toBe(1);
    expect(changed.stderr).toMatch(/cannot resume: lr was 0\.00005 in the checkpoint, now 0\.001/);
    const fresh = await trainDpo(out, flags);
    expect(fresh.code).toBe(1);
    expect(fresh.stderr).toMatch(/holds checkpoints of an earlier run; resume it \(--resume\)/);

    // Resuming the finished run trains nothing more: it evaluates and writes the adapter again.
    const resumed = await trainDpo(out, [...flags, '--resume', out]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/^resuming at step 3\/3$/m);
    expect(resumed.stderr).not.toMatch(/^step /m);
    expect(resumed.stderr).toMatch(/^done: 3 steps; held-out loss 0\.6931 -> /m);
  }, 180_000);

  it('refuses label smoothing with ipo as a usage error', async () => {
    const run = await trainDpo(join(dir, 'never'), ['--loss', 'ipo', '--label-smoothing', '0.1']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      'lathe train: label-smoothing: applies to the sigmoid loss only, not ipo\n(see lathe train --method dpo --help)\n',
    );
  }, 60_000);
});
