import type { TrainingBatch } from '../src/data/training-batch.js';
import type { LlamaModel } from '../src/model/llama-model.js';
import type {
  EngineMethod,
  EngineStepResult,
  TrainingEngine,
} from '../src/train/training-engine.js';

const EMBED = 'model.embed_tokens.weight';

/**
 * A small but real language model for exercising the training loop without onnxruntime: a tied
 * bigram model on the model's own embedding E [V, D], logits(t) = E · E[x_t], cross-entropy on the
 * shifted labels, exact gradients by hand. Segment and position ids do not matter to a bigram, so
 * it checks the loop (loss weighting, accumulation, clipping, checkpoint/resume), not attention.
 */
export function tiedBigramEngine(model: LlamaModel, method: EngineMethod): Promise<TrainingEngine> {
  if (method.method !== 'full')
    throw new Error('the tied bigram engine trains the embedding only (method full)');
  const embed = model.weights.get(EMBED);
  if (embed === undefined) throw new Error(`model has no ${EMBED}`);
  const [vocab = 0, dim = 0] = embed.shape;
  const forward = (
    batch: TrainingBatch,
    weight: number,
    e: Float32Array,
    grad: Float64Array | undefined,
  ): number => {
    let loss = 0;
    const logits = new Float64Array(vocab);
    for (let i = 0; i < batch.labels.length; i++) {
      const y = Number(batch.labels[i]);
      if (y === -100) continue;
      const x = Number(batch.inputIds[i]);
      let max = -Infinity;
      for (let v = 0; v < vocab; v++) {
        let z = 0;
        for (let k = 0; k < dim; k++) z += (e[v * dim + k] as number) * (e[x * dim + k] as number);
        logits[v] = z;
        if (z > max) max = z;
      }
      let sum = 0;
      for (let v = 0; v < vocab; v++) sum += Math.exp((logits[v] as number) - max);
      loss += (Math.log(sum) + max - (logits[y] as number)) * weight;
      if (grad === undefined) continue;
      for (let v = 0; v < vocab; v++) {
        // dL/dz_v = weight * (softmax_v - [v == y]); z_v = E[v]·E[x] feeds both E[v] and E[x].
        const g = weight * (Math.exp((logits[v] as number) - max) / sum - (v === y ? 1 : 0));
        if (g === 0) continue;
        for (let k = 0; k < dim; k++) {
          grad[v * dim + k] = (grad[v * dim + k] as number) + g * (e[x * dim + k] as number);
          grad[x * dim + k] = (grad[x * dim + k] as number) + g * (e[v * dim + k] as number);
        }
      }
    }
    return loss;
  };
  const weights = (trainable: ReadonlyMap<string, Float32Array>): Float32Array => {
    const e = trainable.get(EMBED);
    if (e === undefined) throw new Error(`trainable ${EMBED} not passed`);
    return e;
  };
  return Promise.resolve({
    trainableShapes: new Map([[EMBED, [vocab, dim]]]),
    step(batch, lossWeight, trainable): Promise<EngineStepResult> {
      const grad = new Float64Array(vocab * dim);
      const loss = forward(batch, lossWeight, weights(trainable), grad);
      return Promise.resolve({ loss, grads: new Map([[EMBED, Float32Array.from(grad)]]) });
    },
    lossSum(batch, trainable): Promise<number> {
      return Promise.resolve(forward(batch, 1, weights(trainable), undefined));
    },
    close: () => Promise.resolve(),
  });
}
