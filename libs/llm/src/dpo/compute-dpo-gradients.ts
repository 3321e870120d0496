import type { LlamaEngineOptions } from '../model/llama-engine.js';
import type { LlamaModel } from '../model/llama-model.js';
import type { LoraAdapter } from '../peft/adapter-files.js';
import type { Float32Tensor } from '../safetensors/read-safetensors.js';
import { DpoEngine, type DpoLossConfig } from './dpo-engine.js';
import { dpoMetrics, type DpoMetrics } from './dpo-metrics.js';
import { pairBatch, type PreferencePair } from './preference-pair.js';
import { ReferenceScorer } from './reference-scorer.js';

/** Options of {@link computeDpoGradients}. */
export interface DpoGradientsOptions extends LlamaEngineOptions {
  /** The policy is the model plus this adapter (its A and B differentiated); else full. */
  readonly adapter?: LoraAdapter | undefined;
  /** The frozen reference; default the model without the adapter. */
  readonly reference?: LlamaModel | undefined;
  readonly loss: DpoLossConfig;
}

/** DPO loss, TRL's metrics and the gradients of one batch of pairs. */
export interface DpoGradientsResult {
  readonly metrics: DpoMetrics;
  readonly grads: Map<string, Float32Tensor>;
}

/**
 * The pair-weighted mean DPO loss of one batch (Σ w·loss / Σ w) and its gradients through the
 * training graph, LoRA dropout off; reference log-probs from one forward pass of the reference.
 */
export async function computeDpoGradients(
  model: LlamaModel,
  pairs: readonly PreferencePair[],
  options: DpoGradientsOptions,
): Promise<DpoGradientsResult> {
  const { adapter, loss } = options;
  const scorer = await ReferenceScorer.create(options.reference ?? model, options);
  let reference: Float32Array;
  try {
    reference = await scorer.sequenceLogProbs(pairBatch(pairs));
  } finally {
    await scorer.close();
  }
  const engine = await DpoEngine.create(
    model,
    adapter ? { method: 'lora', lora: { ...adapter.config, dropout: 0 } } : { method: 'full' },
    loss,
    options,
  );
  try {
    const values = new Map<string, Float32Array>();
    for (const name of engine.trainableShapes.keys()) {
      const source = adapter ? adapter.tensors.get(name) : model.weights.get(name);
      if (!source) throw new Error(`no value for trainable tensor "${name}"`);
      values.set(name, source.data);
    }
    const weightSum = pairs.reduce((a, p) => a + (p.weight ?? 1), 0);
    const out = await engine.step(pairs, reference, 1 / weightSum, values, 0);
    const grads = new Map<string, Float32Tensor>();
    for (const [name, shape] of engine.trainableShapes) {
      const data = out.grads.get(name);
      if (!data) throw new Error(`no gradient for "${name}"`);
      grads.set(name, { shape, data });
    }
    return {
      metrics: dpoMetrics(out.loss, out.policyLogProbs, out.referenceLogProbs, loss.beta),
      grads,
    };
  } finally {
    await engine.close();
  }
}
