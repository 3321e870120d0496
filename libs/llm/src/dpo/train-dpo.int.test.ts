import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadLlamaModel } from '../model/llama-model.js';
import { loadLoraAdapter } from '../peft/adapter-files.js';
import { createQuantConfig } from '../quant/quant-config.js';
import { quantizeModelDir } from '../quant/quantize-model-dir.js';
import { TextTokenizer } from '../tokenizer/text-tokenizer.js';
import { buildStoryPairs } from './story-pairs.js';
import { trainDpo, type DpoEvent, type DpoTrainOptions } from './train-dpo.js';

const stories = resolve(import.meta.dirname, '../../../../../shared/models/stories260K');
const skip = existsSync(stories) ? '' : `${stories} is absent`;
if (skip) console.warn(`skipping DPO training test: ${skip}`);

describe.skipIf(skip !== '')('DPO training on constructed story pairs (stories260K)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lathe-dpo-train-'));
    const model = await loadLlamaModel(stories);
    const tokenizer = await TextTokenizer.load(stories);
    // Chosen: the model's own next sentence; rejected: the same words shuffled.
    const records = await buildStoryPairs(model, tokenizer, { count: 160, seed: 1 });
    const lines = (rs: typeof records): string => rs.map((r) => JSON.stringify(r)).join('\n');
    await writeFile(join(dir, 'train.jsonl'), lines(records.slice(0, 128)));
    // Two held-out records the report must count: an identical pair and an empty response.
    const held = [
      ...records.slice(128),
      { prompt: 'Tom ran.', chosen: ' Yes.', rejected: ' Yes.' },
    ];
    await writeFile(
      join(dir, 'eval.jsonl'),
      `${lines(held)}\n${JSON.stringify({ prompt: 'A', chosen: '', rejected: ' b' })}`,
    );
  }, 60_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  /** The shared settings: LoRA r8 q/v, lr 1e-3, 8 pairs per step, the held-out file. */
  const run = (outDir: string): DpoTrainOptions => ({
    modelDir: stories,
    dataPath: join(dir, 'train.jsonl'),
    evalDataPath: join(dir, 'eval.jsonl'),
    outDir,
    lr: 1e-3,
    batchSize: 8,
    session: { intraOpThreads: 1 },
  });

  it('raises held-out reward accuracy and lowers the held-out DPO loss', async () => {
    const events: DpoEvent[] = [];
    const outDir = join(dir, 'out');
    const result = await trainDpo({ ...run(outDir), epochs: 2, evalEvery: 8 }, (e) =>
      events.push(e),
    );
    expect(result.steps).toBe(32);
    expect(result.report.eval).toMatchObject({
      kept: 32,
      emptyResponse: 1,
      identicalResponses: 1,
      skipped: [
        { index: 32, reason: 'identical responses' },
        { index: 33, reason: 'empty response' },
      ],
    });
    const first = result.evals[0]?.metrics;
    const last = result.evals.at(-1)?.metrics;
    // Untrained (B = 0): the policy is the reference, so every reward is 0 and the loss ln 2.
    expect(first?.loss).toBeCloseTo(Math.LN2, 6);
    expect(first?.['rewards/margins']).toBe(0);
    expect(last?.['rewards/accuracies']).toBeGreaterThan(0.8);
    expect(last?.loss).toBeLessThan(0.45);
    expect(last?.['rewards/margins']).toBeGreaterThan(0.5);
    console.info(
      `held-out DPO (${result.evals.length} evaluations): ${result.evals
        .map(
          (e) =>
            `step ${e.step}: loss ${e.metrics.loss.toFixed(4)} acc ${e.metrics['rewards/accuracies'].toFixed(3)}`,
        )
        .join('; ')}`,
    );
    expect(events.filter((e) => e.type === 'step')).toHaveLength(32);
    const adapter = await loadLoraAdapter(outDir);
    expect(adapter.config.r).toBe(8);
    const saved = JSON.parse(await readFile(join(outDir, 'dpo_metrics.json'), 'utf8')) as {
      steps: number;
    };
    expect(saved.steps).toBe(32);
  }, 120_000);

  it('trains LoRA on an NF4 base (QLoRA): starts at ln 2, lowers the held-out loss', async () => {
    const nf4 = join(dir, 'nf4');
    await quantizeModelDir(stories, nf4, createQuantConfig({ scheme: 'nf4' }));
    const result = await trainDpo({ ...run(join(dir, 'out-nf4')), modelDir: nf4, maxSteps: 8 });
    const [first, last] = [result.evals[0]?.metrics, result.evals.at(-1)?.metrics];
    expect(first?.loss).toBeCloseTo(Math.LN2, 6);
    expect(last?.loss).toBeLessThan(0.6);
    console.info(
      `NF4 base: held-out loss ${first?.loss} -> ${last?.loss}, accuracy ${last?.['rewards/accuracies']}`,
    );
  }, 120_000);

  it('resumes an aborted run exactly: same losses, evaluations and adapter as a straight run', async () => {
    // Dropout on, so the resumed run must also restore the per-step dropout streams.
    const settings = (outDir: string): DpoTrainOptions => ({
      ...run(outDir),
      maxSteps: 6,
      evalEvery: 2,
      checkpointEvery: 2,
      lora: { dropout: 0.1 },
    });
    const lossesOf = (events: DpoEvent[]): number[] =>
      events.flatMap((e) => (e.type === 'step' ? [e.metrics.loss] : []));
    const straightEvents: DpoEvent[] = [];
    const straight = await trainDpo(settings(join(dir, 'straight')), (e) => straightEvents.push(e));

    const outDir = join(dir, 'interrupted');
    const controller = new AbortController();
    const firstEvents: DpoEvent[] = [];
    const stopped = await trainDpo(
      settings(outDir),
      (e) => {
        firstEvents.push(e);
        if (e.type === 'step' && e.step === 3) controller.abort();
      },
      controller.signal,
    );
    // Step 3 is no multiple of checkpointEvery: the abort itself wrote that checkpoint.
    expect(stopped).toMatchObject({ status: 'cancelled', steps: 3 });
    expect(stopped.lastCheckpoint).toBe(join(outDir, 'checkpoints', 'step-000003'));
    expect(existsSync(join(outDir, 'adapter_model.safetensors'))).toBe(false);
    await expect(trainDpo(settings(outDir))).rejects.toThrow(/holds checkpoints of an earlier run/);
    await expect(trainDpo({ ...settings(outDir), lr: 2e-3, resumeFrom: outDir })).rejects.toThrow(
      /cannot resume: lr was 0\.001 in the checkpoint, now 0\.002/,
    );

    const resumedEvents: DpoEvent[] = [];
    const resumed = await trainDpo({ ...settings(outDir), resumeFrom: outDir }, (e) =>
      resumedEvents.push(e),
    );
    expect(resumedEvents.find((e) => e.type === 'start')).toMatchObject({ startStep: 3 });
    expect(resumed.steps).toBe(6);
    // Exact: the same float32 operations in the same order (no tolerance needed on one machine).
    expect([...lossesOf(firstEvents), ...lossesOf(resumedEvents)]).toEqual(
      lossesOf(straightEvents),
    );
    expect(resumed.evals).toEqual(straight.evals);
    expect(resumed.evals.map((e) => e.step)).toEqual([0, 2, 4, 6]);
    const a = await loadLoraAdapter(join(dir, 'straight'));
    const b = await loadLoraAdapter(outDir);
    let maxDiff = 0;
    for (const [name, t] of a.tensors) {
      const u = b.tensors.get(name)?.data ?? new Float32Array();
      expect(u.length).toBe(t.data.length);
      t.data.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - (u[i] ?? NaN)))));
    }
    console.info(
      `DPO resumed at step 3 of 6: max |Δ adapter| = ${maxDiff} over ${a.tensors.size} tensors`,
    );
    expect(maxDiff).toBe(0);
  }, 180_000);
});
