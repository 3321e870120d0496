import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadLlamaModel, PROJECTIONS, type LlamaModel } from '../model/llama-model.js';
import { SeededRandom } from '../optim/seeded-random.js';
import { saveLoraAdapter } from '../peft/adapter-files.js';
import { createLoraConfig, type LoraConfig } from '../peft/lora-config.js';
import { initLoraTensors } from '../peft/lora-init.js';
import { readSafetensors } from '../safetensors/read-safetensors.js';
import { relativeError, runTorchReference, torchUnavailable } from '../../test/torch-reference.js';
import { createDpoLossConfig, DpoEngine, type DpoLossConfig } from './dpo-engine.js';
import { dpoMetrics } from './dpo-metrics.js';
import type { PreferencePair } from './preference-pair.js';
import { pairBatch } from './preference-pair.js';
import { ReferenceScorer } from './reference-scorer.js';

const stories = resolve(import.meta.dirname, '../../../../../shared/models/stories260K');
const noModel = existsSync(stories) ? '' : `${stories} is absent`;
if (noModel) console.warn(`skipping DPO engine tests: ${noModel}`);
const noTorch = noModel || torchUnavailable();
if (!noModel && noTorch) console.warn(`skipping DPO checks against PyTorch: ${noTorch}`);

// DESIGN.md: fp32 results within 1e-4 relative of PyTorch.
const TOLERANCE = 1e-4;

/** Three pairs of ragged lengths: real story tokens and random ones (ids 3..511). */
function samplePairs(): PreferencePair[] {
  const rng = SeededRandom.fromSeed(11);
  const ids = (n: number): number[] => Array.from({ length: n }, () => 3 + rng.nextInt(509));
  return [
    {
      prompt: [1, 403, 407, 261],
      chosen: [378, 432, 383, 286, 261, 376],
      rejected: ids(4),
      weight: 1,
    },
    { prompt: [1, ...ids(6)], chosen: ids(3), rejected: ids(9), weight: 0.5 },
    { prompt: [1, ...ids(2)], chosen: ids(7), rejected: ids(5), weight: 2 },
  ];
}

describe.skipIf(noModel !== '')('DPO on stories260K', () => {
  let dir: string;
  let model: LlamaModel;
  let reference: ReferenceScorer;
  const pairs = samplePairs();
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lathe-dpo-'));
    model = await loadLlamaModel(stories);
    reference = await ReferenceScorer.create(model, { session: { intraOpThreads: 1 } });
  });
  afterAll(async () => {
    await reference.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function run(
    lora: LoraConfig,
    tensors: Map<string, { data: Float32Array }>,
    loss: DpoLossConfig,
  ): Promise<{ engine: DpoEngine; values: Map<string, Float32Array>; ref: Float32Array }> {
    const engine = await DpoEngine.create(model, { method: 'lora', lora }, loss, {
      session: { intraOpThreads: 1 },
    });
    const values = new Map([...tensors].map(([n, t]) => [n, t.data] as const));
    const ref = await reference.sequenceLogProbs(pairBatch(pairs));
    return { engine, values, ref };
  }

  async function runFull(
    loss: DpoLossConfig,
  ): Promise<{ engine: DpoEngine; values: Map<string, Float32Array>; ref: Float32Array }> {
    const engine = await DpoEngine.create(model, { method: 'full' }, loss, {
      session: { intraOpThreads: 1 },
    });
    const values = new Map(
      [...engine.trainableShapes.keys()].map(
        (n) => [n, model.weights.get(n)?.data ?? new Float32Array()] as const,
      ),
    );
    const ref = await reference.sequenceLogProbs(pairBatch(pairs));
    return { engine, values, ref };
  }

  it('a zero-initialized LoRA B gives loss ln 2 and zero rewards', async () => {
    const lora = createLoraConfig({ r: 8, alpha: 16, targetModules: ['q_proj', 'v_proj'] });
    const tensors = initLoraTensors(model.config, lora, SeededRandom.fromSeed(3));
    const { engine, values, ref } = await run(lora, tensors, createDpoLossConfig({ beta: 0.1 }));
    try {
      const out = await engine.step(pairs, ref, 1 / 3.5, values, 0);
      expect(Math.abs(out.loss - Math.LN2)).toBeLessThan(1e-6);
      for (const l of out.pairLosses) expect(Math.abs(l - Math.LN2)).toBeLessThan(1e-6);
      const m = dpoMetrics(out.loss, out.policyLogProbs, out.referenceLogProbs, 0.1);
      expect(m['rewards/chosen']).toBe(0);
      expect(m['rewards/rejected']).toBe(0);
      expect(m['rewards/margins']).toBe(0);
      expect(m['rewards/accuracies']).toBe(0);
      // The gradient is not zero: B moves off zero on the first step.
      const gradB = [...out.grads].find(([n]) => n.includes('lora_B'))?.[1] ?? new Float32Array();
      expect(gradB.some((v) => v !== 0)).toBe(true);
    } finally {
      await engine.close();
    }
  });

  describe.skipIf(noTorch !== '')('against PyTorch', () => {
    async function compare(loss: DpoLossConfig, full = false): Promise<void> {
      const lora = createLoraConfig({ r: 4, alpha: 8, targetModules: [...PROJECTIONS] });
      const tensors = initLoraTensors(model.config, lora, SeededRandom.fromSeed(1));
      for (const [name, t] of tensors) {
        if (name.includes('lora_B'))
          t.data.set(SeededRandom.fromSeed(2).split(name).uniformArray(t.data.length, -0.2, 0.2));
      }
      const adapterDir = full ? undefined : join(dir, `adapter-${loss.lossType}`);
      if (adapterDir)
        await saveLoraAdapter(adapterDir, { config: lora, baseModel: stories, tensors });
      const { engine, values, ref } = full ? await runFull(loss) : await run(lora, tensors, loss);
      const weightSum = pairs.reduce((a, p) => a + (p.weight ?? 1), 0);
      let ours;
      try {
        ours = await engine.step(pairs, ref, 1 / weightSum, values, 0);
      } finally {
        await engine.close();
      }
      // The token file: chosen rows then rejected rows, prompt tokens masked out of the labels.
      const rows = [
        ...pairs.map((p) => [p.prompt, p.chosen] as const),
        ...pairs.map((p) => [p.prompt, p.rejected] as const),
      ];
      const tokens = join(dir, 'pairs-tokens.json');
      await writeFile(
        tokens,
        JSON.stringify({
          input_ids: rows.map(([p, r]) => [...p, ...r]),
          labels: rows.map(([p, r]) => [...p.map(() => -100), ...r]),
        }),
      );
      // 1. The reference: the base model alone, in PyTorch.
      const baseOut = join(dir, 'base.safetensors');
      runTorchReference({ model: stories, tokens, out: baseOut });
      const torchRef = JSON.parse(
        (await readSafetensors(baseOut)).metadata['sequence_log_probs'] ?? '[]',
      ) as number[];
      expect(relativeError(ref, Float32Array.from(torchRef))).toBeLessThan(TOLERANCE);
      // 2. DPO loss, metrics and gradients with PyTorch's own reference log-probs.
      const spec = join(dir, `dpo-${loss.lossType}.json`);
      await writeFile(
        spec,
        JSON.stringify({
          beta: loss.beta,
          loss_type: loss.lossType,
          label_smoothing: loss.labelSmoothing,
          weights: pairs.map((p) => p.weight ?? 1),
          reference: torchRef,
        }),
      );
      const out = join(dir, `dpo-${loss.lossType}.safetensors`);
      runTorchReference({
        model: stories,
        ...(adapterDir ? { adapter: adapterDir } : {}),
        tokens,
        out,
        dpo: spec,
      });
      const expected = await readSafetensors(out);
      const torchMetrics = JSON.parse(expected.metadata['metrics'] ?? '{}') as Record<
        string,
        number
      >;
      const metrics = dpoMetrics(ours.loss, ours.policyLogProbs, ours.referenceLogProbs, loss.beta);
      let worstMetric = 0;
      for (const [name, value] of Object.entries(metrics)) {
        const want = torchMetrics[name];
        expect(want, name).toBeTypeOf('number');
        const err = Math.abs(value - (want ?? NaN)) / Math.max(Math.abs(want ?? NaN), 1e-3);
        expect(err, `${name}: ${value} vs ${want}`).toBeLessThan(TOLERANCE);
        worstMetric = Math.max(worstMetric, err);
      }
      let worst = 0;
      for (const [name, grad] of ours.grads) {
        const want = expected.tensors.get(name)?.data ?? new Float32Array();
        const err = relativeError(grad, want);
        expect(err, `${name}: relative error ${err}`).toBeLessThan(TOLERANCE);
        worst = Math.max(worst, err);
      }
      expect(ours.grads.size).toBe(expected.tensors.size);
      console.info(
        `DPO ${full ? 'full' : 'LoRA'} ${loss.lossType} (β ${loss.beta}, ε ${loss.labelSmoothing}): loss ${ours.loss} vs ${torchMetrics['loss']}, worst metric error ${worstMetric.toExponential(2)}, worst gradient error ${worst.toExponential(2)} over ${ours.grads.size} tensors`,
      );
    }

    it('sigmoid loss with label smoothing and pair weights', async () => {
      await compare(createDpoLossConfig({ beta: 0.5, labelSmoothing: 0.1 }));
    });

    it('full fine-tuning: every weight, policy = reference (d = 0, gradients still flow)', async () => {
      await compare(createDpoLossConfig({ beta: 0.1 }), true);
    });

    it('ipo loss on length-normalized log-probs', async () => {
      await compare(createDpoLossConfig({ lossType: 'ipo', beta: 0.5 }));
    });
  });
});
