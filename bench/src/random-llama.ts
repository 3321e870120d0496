import {
  SeededRandom,
  parameterShapes,
  parseLlamaConfig,
  type Float32Tensor,
  type LlamaModel,
} from '@lathe/llm';

/**
 * The benchmark's model: a Llama of about 32M parameters (D 512, 8 layers, 8 query and 4
 * key/value heads, SwiGLU 1408, vocabulary 8192, untied head), the size the brief asks for
 * (20-60M) and small enough for two cores.
 */
export const BENCH_CONFIG = {
  architectures: ['LlamaForCausalLM'],
  hidden_size: 512,
  intermediate_size: 1408,
  num_hidden_layers: 8,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  vocab_size: 8192,
  max_position_embeddings: 1024,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: false,
} as const;

/**
 * A model with random weights (normal-ish, std 0.02 as Llama's initializer_range; norms at 1),
 * seeded so every run benchmarks the same numbers.
 */
export function randomLlamaModel(
  raw: Readonly<Record<string, unknown>> = BENCH_CONFIG,
  seed = 0,
): LlamaModel {
  const config = parseLlamaConfig(raw, 'benchmark config');
  const rng = SeededRandom.fromSeed(seed);
  const weights = new Map<string, Float32Tensor>();
  for (const [name, shape] of parameterShapes(config)) {
    const count = shape.reduce((a, d) => a * d, 1);
    // Uniform with std 0.02 (bound 0.02·√3): the distribution does not change the work done.
    const data = name.endsWith('norm.weight')
      ? new Float32Array(count).fill(1)
      : rng.split(name).uniformArray(count, -0.0346, 0.0346);
    weights.set(name, { shape, data });
  }
  return { config, weights };
}

/** Number of parameters of a model. */
export function parameterCount(model: LlamaModel): number {
  let n = 0;
  for (const t of model.weights.values()) n += t.data.length;
  return n;
}
