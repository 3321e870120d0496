import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tiedBigramEngine } from '../../test/tied-bigram-engine.js';
import { readSafetensors } from '../safetensors/read-safetensors.js';
import type { TrainOptions } from './train-config.js';
import { train } from './trainer.js';
import type { TrainingEvent } from './training-events.js';

// The loop's own guarantees (determinism, exact resume, accumulation, divergence stop), checked
// with a small exact model so they run in seconds; the Llama graph is exercised by the CLI tests.
const SHARED = fileURLToPath(new URL('../../../../../shared', import.meta.url));
const MODEL = join(SHARED, 'models/stories260K');
const DATA = join(SHARED, 'data/sft/alpaca_tiny.json');
const missing =
  existsSync(MODEL) && existsSync(DATA) ? '' : `shared model/data not found under ${SHARED}`;
if (missing !== '') console.warn(`skipping trainer loop tests: ${missing}`);

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function outDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'lathe-train-'));
  dirs.push(d);
  return d;
}
async function embedding(dir: string): Promise<Float32Array> {
  const t = (await readSafetensors(join(dir, 'model.safetensors'))).tensors.get(
    'model.embed_tokens.weight',
  );
  if (t === undefined) throw new Error('no embedding in output');
  return t.data;
}
const base = (out: string, extra: Partial<TrainOptions> = {}): TrainOptions => ({
  method: 'full',
  modelDir: MODEL,
  dataPath: DATA,
  outDir: out,
  maxSteps: 6,
  batchSize: 2,
  seqLen: 64,
  lr: 1e-2,
  warmupSteps: 2,
  checkpointEvery: 3,
  ...extra,
});

describe.skipIf(missing !== '')('train (loop guarantees)', () => {
  it('is deterministic, and a cancelled-then-resumed run equals an uninterrupted one bit for bit', async () => {
    const a = await outDir();
    const events: TrainingEvent[] = [];
    const full = await train(base(a), {
      engineFactory: tiedBigramEngine,
      onProgress: (e) => events.push(e),
    });
    expect(full.status).toBe('completed');
    const steps = events.filter((e) => e.type === 'step');
    expect(steps.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(steps[0]?.lr).toBe(0); // warmup starts at 0
    expect(events.filter((e) => e.type === 'checkpoint').map((e) => e.step)).toEqual([3, 6]);

    const b = await outDir();
    const controller = new AbortController();
    const first = await train(base(b), {
      engineFactory: tiedBigramEngine,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.type === 'step' && e.step === 4) controller.abort();
      },
    });
    expect(first.status).toBe('cancelled');
    expect(first.step).toBe(4);
    expect(await readdir(join(b, 'checkpoints'))).toContain('step-000004');
    const resumed = await train(base(b, { resumeFrom: b }), { engineFactory: tiedBigramEngine });
    expect(resumed.status).toBe('completed');
    expect(resumed.finalLoss).toBe(full.finalLoss);
    expect(await embedding(b)).toEqual(await embedding(a));

    const c = await outDir();
    await train(base(c), { engineFactory: tiedBigramEngine });
    expect(await embedding(c)).toEqual(await embedding(a));
  });

  it('accumulates: 2 micro-batches of 2 rows step like 1 batch of 4 rows (float32 tolerance)', async () => {
    const x = await outDir();
    const y = await outDir();
    const opts = { maxSteps: 2, warmupSteps: 0, maxGradNorm: 0, checkpointEvery: 0 };
    const r1 = await train(base(x, { ...opts, batchSize: 4 }), { engineFactory: tiedBigramEngine });
    const r2 = await train(base(y, { ...opts, batchSize: 2, gradAccum: 2 }), {
      engineFactory: tiedBigramEngine,
    });
    expect(r2.finalLoss).toBeCloseTo(r1.finalLoss, 5);
    const [e1, e2] = [await embedding(x), await embedding(y)];
    let maxErr = 0;
    e1.forEach((v, i) => (maxErr = Math.max(maxErr, Math.abs(v - (e2[i] ?? NaN)))));
    expect(maxErr).toBeLessThan(1e-5);
  });

  it('runs whole epochs, each in its own seeded row order', async () => {
    const d = await outDir();
    const small = join(d, 'small.json');
    const records = JSON.parse(await readFile(DATA, 'utf8')) as unknown[];
    await writeFile(small, JSON.stringify(records.slice(0, 10)));
    const events: TrainingEvent[] = [];
    const r = await train(
      base(d, { dataPath: small, maxSteps: undefined, epochs: 2, checkpointEvery: 0 }),
      {
        engineFactory: tiedBigramEngine,
        onProgress: (e) => events.push(e),
      },
    );
    const start = events.find((e) => e.type === 'start');
    if (start?.type !== 'start') throw new Error('no start event');
    expect(start.stepsPerEpoch).toBe(Math.ceil(start.rows / 2));
    expect(r.step).toBe(2 * start.stepsPerEpoch);
    // The epoch field says where the data stream stands after the step.
    const epochs = events.filter((e) => e.type === 'step').map((e) => e.epoch);
    expect(epochs.at(start.stepsPerEpoch - 1)).toBe(1);
    expect(epochs.at(-1)).toBe(2);
    // Both epochs see every row once: the same target tokens, in a different order.
    const tokens = events.flatMap((e) => (e.type === 'step' ? [e.tokens] : []));
    const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
    expect(sum(tokens.slice(0, start.stepsPerEpoch))).toBe(sum(tokens.slice(start.stepsPerEpoch)));
    expect(tokens.slice(0, start.stepsPerEpoch)).not.toEqual(tokens.slice(start.stepsPerEpoch));
  });

  it('refuses to resume with different settings, naming the setting', async () => {
    const d = await outDir();
    await train(base(d, { maxSteps: 3 }), { engineFactory: tiedBigramEngine });
    await expect(
      train(base(d, { maxSteps: 3, seed: 7, resumeFrom: d }), { engineFactory: tiedBigramEngine }),
    ).rejects.toThrow(/cannot resume: seed was 42 in the checkpoint, now 7/);
    await expect(
      train(base(d, { maxSteps: 3 }), { engineFactory: tiedBigramEngine }),
    ).rejects.toThrow(/holds checkpoints of an earlier run; resume it/);
  });

  it('stops on a NaN loss, naming the data file and the step', async () => {
    const d = await outDir();
    // A learning rate of 1e39 (beyond float32) turns the weights infinite on the first update; the next loss is NaN.
    await expect(
      train(base(d, { lr: 1e39, maxGradNorm: 0, warmupSteps: 0 }), {
        engineFactory: tiedBigramEngine,
      }),
    ).rejects.toThrow(
      new RegExp(
        `^${DATA.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: step 2: loss is NaN; training stopped`,
      ),
    );
  });

  it('reports bad data before doing any work', async () => {
    const d = await outDir();
    const bad = join(d, 'bad.jsonl');
    await writeFile(bad, '{"text":"fine"}\n{"text": fine}\n');
    await expect(
      train(base(d, { dataPath: bad }), { engineFactory: tiedBigramEngine }),
    ).rejects.toThrow(`${bad}: line 2: not valid JSON`);
    expect(JSON.parse(await readFile(join(MODEL, 'config.json'), 'utf8'))).toBeTruthy();
  });
});
