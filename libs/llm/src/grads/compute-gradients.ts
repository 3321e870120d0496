import type { TrainingBatch } from '../data/training-batch.js';
import { createLlamaEngine, type LlamaEngineOptions } from '../model/llama-engine.js';
import type { LlamaModel } from '../model/llama-model.js';
import type { LoraAdapter } from '../peft/adapter-files.js';
import type { Float32Tensor } from '../safetensors/read-safetensors.js';

/** Options of {@link computeGradients}. */
export interface ComputeGradientsOptions extends LlamaEngineOptions {
  /** Differentiate this adapter's A and B; without it, every model weight (full fine-tuning). */
  readonly adapter?: LoraAdapter | undefined;
}

/** Loss and gradients of one batch. */
export interface GradientsResult {
  /** Mean NLL over the batch's target tokens. */
  readonly loss: number;
  /** Target tokens the mean is over. */
  readonly tokenCount: number;
  /** d loss / d tensor, under PEFT names (adapter) or Hugging Face names (full). */
  readonly grads: Map<string, Float32Tensor>;
}

/**
 * The mean token loss of one batch and its gradients with respect to the trainable tensors,
 * through the same training graph the trainer runs (loss_weight = 1 / target tokens). LoRA
 * dropout is off (as in PEFT's eval mode), so the result is deterministic.
 */
export async function computeGradients(
  model: LlamaModel,
  batch: TrainingBatch,
  options: ComputeGradientsOptions = {},
): Promise<GradientsResult> {
  const { adapter } = options;
  if (batch.targetTokens === 0) throw new RangeError('the batch has no target tokens');
  const engine = await createLlamaEngine(
    model,
    adapter ? { method: 'lora', lora: { ...adapter.config, dropout: 0 } } : { method: 'full' },
    options,
  );
  try {
    const values = new Map<string, Float32Array>();
    for (const name of engine.trainableShapes.keys()) {
      const source = adapter ? adapter.tensors.get(name) : model.weights.get(name);
      if (!source) throw new Error(`no value for trainable tensor "${name}"`);
      values.set(name, source.data);
    }
    const result = await engine.step(batch, 1 / batch.targetTokens, values, 0);
    const grads = new Map<string, Float32Tensor>();
    for (const [name, shape] of engine.trainableShapes) {
      const data = result.grads.get(name);
      if (!data) throw new Error(`no gradient for "${name}"`);
      grads.set(name, { shape, data });
    }
    return { loss: result.loss, tokenCount: batch.targetTokens, grads };
  } finally {
    await engine.close();
  }
}
