import { join } from 'node:path';
import { readLlamaConfig, type LlamaConfig } from '../config/llama-config.js';
import { ModelFileError } from '../config/model-file-error.js';
import { readModelWeights } from '../safetensors/read-model-weights.js';
import type { Float32Tensor } from '../safetensors/read-safetensors.js';
import type { Quantized4bit } from '../quant/quantized-tensor.js';

/** A decoder's configuration and its fp32 weights under Hugging Face names. */
export interface LlamaModel {
  readonly config: LlamaConfig;
  /** Hugging Face tensor name -> weight (`lm_head.weight` absent when tied). */
  readonly weights: ReadonlyMap<string, Float32Tensor>;
  /**
   * Weights kept 4-bit (QLoRA's frozen base): Hugging Face name -> blockwise NF4/FP4 form. A name
   * here is absent from `weights`; graphs dequantize it on the fly. Default: none (all fp32).
   */
  readonly quantized?: ReadonlyMap<string, Quantized4bit>;
}

/** The seven linear layers of a decoder block, by their Hugging Face module names. */
export const PROJECTIONS = [
  'q_proj',
  'k_proj',
  'v_proj',
  'o_proj',
  'gate_proj',
  'up_proj',
  'down_proj',
] as const;

/** One of {@link PROJECTIONS}. */
export type Projection = (typeof PROJECTIONS)[number];

/** Hugging Face module path of a projection in layer `layer`, e.g. `model.layers.0.self_attn.q_proj`. */
export function projectionModule(layer: number, projection: Projection): string {
  const block =
    projection === 'gate_proj' || projection === 'up_proj' || projection === 'down_proj'
      ? 'mlp'
      : 'self_attn';
  return `model.layers.${layer}.${block}.${projection}`;
}

/** [out, in] shape of a projection's weight. */
export function projectionShape(config: LlamaConfig, projection: Projection): [number, number] {
  const { hiddenSize: d, intermediateSize: f, numHeads: h, numKvHeads: hkv, headDim: hd } = config;
  switch (projection) {
    case 'q_proj':
      return [h * hd, d];
    case 'k_proj':
    case 'v_proj':
      return [hkv * hd, d];
    case 'o_proj':
      return [d, h * hd];
    case 'gate_proj':
    case 'up_proj':
      return [f, d];
    case 'down_proj':
      return [d, f];
  }
}

/** Whether a projection carries a bias under this config. */
export function projectionHasBias(config: LlamaConfig, projection: Projection): boolean {
  if (projection === 'q_proj' || projection === 'k_proj' || projection === 'v_proj')
    return config.qkvBias;
  if (projection === 'o_proj') return config.oBias;
  return config.mlpBias;
}

/**
 * Every parameter the config calls for, name -> shape, in a stable order (embedding, layers,
 * final norm, LM head when untied). This is also the order of full fine-tuning's trainables.
 */
export function parameterShapes(config: LlamaConfig): Map<string, number[]> {
  const { hiddenSize: d, vocabSize: v } = config;
  const out = new Map<string, number[]>([['model.embed_tokens.weight', [v, d]]]);
  for (let l = 0; l < config.numLayers; l++) {
    out.set(`model.layers.${l}.input_layernorm.weight`, [d]);
    for (const p of PROJECTIONS) {
      const module = projectionModule(l, p);
      const shape = projectionShape(config, p);
      out.set(`${module}.weight`, shape);
      if (projectionHasBias(config, p)) out.set(`${module}.bias`, [shape[0]]);
      if (p === 'o_proj') out.set(`model.layers.${l}.post_attention_layernorm.weight`, [d]);
    }
  }
  out.set('model.norm.weight', [d]);
  if (!config.tieWordEmbeddings) out.set('lm_head.weight', [v, d]);
  return out;
}

/**
 * Loads a Hugging Face model directory (config.json plus model.safetensors or shards) and
 * checks that every weight the config calls for is present with the right shape.
 *
 * @throws ModelFileError naming the file at fault
 */
export async function loadLlamaModel(dir: string): Promise<LlamaModel> {
  const config = await readLlamaConfig(join(dir, 'config.json'));
  const weights = await readModelWeights(dir);
  const where = join(dir, 'model.safetensors');
  for (const [name, shape] of parameterShapes(config)) {
    const tensor = weights.get(name);
    if (!tensor)
      throw new ModelFileError(where, `missing tensor "${name}" required by config.json`);
    if (tensor.shape.length !== shape.length || tensor.shape.some((s, i) => s !== shape[i])) {
      throw new ModelFileError(
        where,
        `tensor "${name}" has shape [${tensor.shape.join(', ')}], config.json implies [${shape.join(', ')}]`,
      );
    }
  }
  // A tied checkpoint may still carry a copy of the head; the embedding is the one that counts.
  if (config.tieWordEmbeddings) {
    const copy = new Map(weights);
    copy.delete('lm_head.weight');
    return { config, weights: copy };
  }
  return { config, weights };
}
