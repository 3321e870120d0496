import { parseLlamaConfig } from '../config/llama-config.js';
import type { TrainingBatch } from '../data/training-batch.js';
import { SeededRandom } from '../optim/seeded-random.js';
import type { LoraConfig } from '../peft/lora-config.js';
import { initLoraTensors } from '../peft/lora-init.js';
import type { Float32Tensor } from '../safetensors/read-safetensors.js';
import { parameterShapes, type LlamaModel } from './llama-model.js';

// Test helpers: a small random Llama, a packed batch and adapters, for graphs compared engine
// against engine.

/** A random Llama (D 64, 4/2 heads, F 96, vocabulary 50, untied; 2 layers by default), seeded. */
export function randomModel(layers = 2): LlamaModel {
  const config = parseLlamaConfig(
    {
      architectures: ['LlamaForCausalLM'],
      hidden_size: 64,
      intermediate_size: 96,
      num_hidden_layers: layers,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      vocab_size: 50,
      max_position_embeddings: 64,
      tie_word_embeddings: false,
    },
    'test config',
  );
  const rng = SeededRandom.fromSeed(3);
  const weights = new Map<string, Float32Tensor>();
  for (const [name, shape] of parameterShapes(config)) {
    const n = shape.reduce((a, d) => a * d, 1);
    const data = name.endsWith('norm.weight')
      ? rng.split(name).uniformArray(n, 0.8, 1.2)
      : rng.split(name).uniformArray(n, -0.1, 0.1);
    weights.set(name, { shape, data });
  }
  return { config, weights };
}

/**
 * A seeded batch of 2 rows of 12 tokens: row 1 holds two packed samples, the last two positions
 * of row 0 are padding, labels shifted with −100 at sample ends and padding.
 */
export function batch(vocab: number, seed: number): TrainingBatch {
  const rng = SeededRandom.fromSeed(seed);
  const [b, t] = [2, 12];
  const ids = Array.from({ length: b * t }, () => rng.nextInt(vocab));
  const positions = Array.from({ length: b * t }, (_, i) => i % t);
  // Row 1 holds two packed samples; the last two positions of row 0 are padding.
  const segments = Array.from({ length: b * t }, (_, i) =>
    i < t ? (i % t < t - 2 ? 1 : 0) : i % t < 5 ? 1 : 2,
  );
  const labels = ids.map((_, i) =>
    (i + 1) % t === 0 || segments[i] === 0 || segments[i + 1] !== segments[i] ? -100 : ids[i + 1]!,
  );
  return {
    batchSize: b,
    seqLen: t,
    inputIds: BigInt64Array.from(ids.map(BigInt)),
    positionIds: BigInt64Array.from(positions.map(BigInt)),
    segmentIds: BigInt64Array.from(segments.map(BigInt)),
    labels: BigInt64Array.from(labels.map(BigInt)),
    targetTokens: labels.filter((l) => l !== -100).length,
  };
}

/** LoRA tensors with B ≠ 0 too (PEFT starts B at 0, which would leave A's gradient at 0). */
export function adapters(model: LlamaModel, lora: LoraConfig): Map<string, Float32Array> {
  const rng = SeededRandom.fromSeed(11);
  const out = new Map<string, Float32Array>();
  for (const [name, t] of initLoraTensors(model.config, lora, rng.split('init'))) {
    out.set(
      name,
      name.includes('lora_B') ? rng.split(name).uniformArray(t.data.length, -0.05, 0.05) : t.data,
    );
  }
  return out;
}

/** ‖got − want‖ / ‖want‖; throws when `want` is all zeros (nothing to compare). */
export function relativeError(got: Float32Array, want: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < want.length; i++) {
    diff += ((got[i] ?? NaN) - want[i]!) ** 2;
    norm += want[i]! ** 2;
  }
  if (norm === 0) throw new Error('reference gradient is all zeros');
  return Math.sqrt(diff / norm);
}
