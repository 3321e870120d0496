import {
  rmsNorm,
  silu,
  type CheckpointSegment,
  type GraphBuilder,
  type Tensor,
} from '@lathe/graph';
import type { LlamaConfig } from '../config/llama-config.js';
import type { Projection } from './llama-model.js';

/**
 * Where each weight of the decoder comes from while a graph is built (a frozen initializer or a
 * trainable input) and how a projection is emitted (with or without a LoRA adapter). Keeps the
 * forward below free of the training method.
 */
export interface DecoderWeights {
  /** A weight by Hugging Face name, in its Hugging Face layout. */
  weight(name: string): Tensor;
  /** y = x·Wᵀ (+ b) (+ LoRA) for one projection; x [N, in] -> [N, out]. */
  linear(x: Tensor, layer: number, projection: Projection): Tensor;
}

/** Graph inputs of a decoder forward. Token-level tensors are flattened to N = B·T rows. */
export interface DecoderInputs {
  /** int64 [N] token ids. */
  readonly inputIds: Tensor;
  /** int64 [N] RoPE positions (restart at 0 for each packed sample). */
  readonly positionIds: Tensor;
  /** int64 [2] holding [B, T], to view rows as sequences in attention. */
  readonly batchShape: Tensor;
  /** float32 additive mask broadcastable to [B, Hkv, G, T, Tk]: 0 = may attend, −inf = may not. */
  readonly attentionMask: Tensor;
  /** Per-layer key/value caches [B, Hkv, P, hd] to prepend (generation). */
  readonly past?: readonly { readonly key: Tensor; readonly value: Tensor }[];
}

/** What a decoder forward produces. */
export interface DecoderOutputs {
  /** Hidden states after the final RMSNorm, [N, D]. */
  readonly hidden: Tensor;
  /** Per layer, keys (after RoPE) and values including the past: [B, Hkv, P+T, hd]. */
  readonly present: { readonly key: Tensor; readonly value: Tensor }[];
  /** Per layer, the nodes of its block (for activation checkpointing: one segment per layer). */
  readonly layers: CheckpointSegment[];
  /** Per layer, the residual stream after attention (x + o_proj output), [N, D]. */
  readonly midResiduals: Tensor[];
  /** The projections' outputs (what {@link DecoderWeights.linear} returned), by tensor name. */
  readonly projections: ReadonlyMap<string, Projection>;
}

/**
 * RoPE in the rotate-half layout of Hugging Face checkpoints (RoFormer eq. 34, with a head's two
 * halves holding each rotated pair): x·cos + rotate_half(x)·sin, on x [N, heads, hd].
 */
function rope(g: GraphBuilder, x: Tensor, cos: Tensor, sin: Tensor, headDim: number): Tensor {
  const half = headDim / 2;
  const x1 = g.slice(x, [0], [half], [-1]);
  const x2 = g.slice(x, [half], [headDim], [-1]);
  return g.add(g.mul(x, cos), g.mul(g.concat([g.neg(x2), x1], -1), sin));
}

/**
 * The Llama decoder (Touvron et al. 2023): token embedding, N pre-norm blocks of grouped-query
 * attention with RoPE and a SwiGLU MLP, final RMSNorm. The LM head and loss are the caller's.
 *
 * Grouped-query attention (Ainslie et al. 2023) without copying K/V per query head: queries are
 * viewed as [B, Hkv, G, T, hd] and keys as [B, Hkv, 1, Tk, hd], so MatMul broadcasts over the
 * group axis (query head h = kv·G + j, the order of `repeat_interleave` in Hugging Face).
 *
 * @param cosTable [P, hd]: cos(p · inv_freq) with the frequencies repeated over both halves
 * @param sinTable [P, hd]: likewise with sin
 */
export function buildDecoder(
  g: GraphBuilder,
  config: LlamaConfig,
  weights: DecoderWeights,
  inputs: DecoderInputs,
  cosTable: Tensor,
  sinTable: Tensor,
): DecoderOutputs {
  const { numHeads: h, numKvHeads: hkv, headDim: hd } = config;
  const group = h / hkv;
  const queryView = g.concat([inputs.batchShape, g.int64s([hkv, group, hd])], 0); // [B, T, Hkv, G, hd]
  const keyView = g.concat([inputs.batchShape, g.int64s([hkv, hd])], 0); // [B, T, Hkv, hd]
  const cos = g.unsqueeze(g.gather(cosTable, inputs.positionIds, 0), [1]); // [N, 1, hd]
  const sin = g.unsqueeze(g.gather(sinTable, inputs.positionIds, 0), [1]);
  const queryScale = g.scalar(1 / Math.sqrt(hd));
  let x = g.gather(weights.weight('model.embed_tokens.weight'), inputs.inputIds, 0); // [N, D]
  const present: { key: Tensor; value: Tensor }[] = [];
  const layers: CheckpointSegment[] = [];
  const midResiduals: Tensor[] = [];
  const projections = new Map<string, Projection>();
  for (let l = 0; l < config.numLayers; l++) {
    const start = g.nodes.length;
    const linear = (input: Tensor, projection: Projection): Tensor => {
      const t = weights.linear(input, l, projection);
      projections.set(t.name, projection);
      return t;
    };
    const prefix = `model.layers.${l}`;
    const attnIn = rmsNorm(
      g,
      x,
      weights.weight(`${prefix}.input_layernorm.weight`),
      config.rmsNormEps,
    );
    // Scaling q by 1/sqrt(hd) before the product touches hd values per row instead of Tk.
    const q = g.mul(
      rope(g, g.reshape(linear(attnIn, 'q_proj'), [-1, h, hd]), cos, sin, hd),
      queryScale,
    );
    const kRope = rope(g, g.reshape(linear(attnIn, 'k_proj'), [-1, hkv, hd]), cos, sin, hd);
    const qView = g.transpose(g.reshape(q, queryView), [0, 2, 3, 1, 4]); // [B, Hkv, G, T, hd]
    let k = g.transpose(g.reshape(kRope, keyView), [0, 2, 1, 3]); // [B, Hkv, T, hd]
    let v = g.transpose(g.reshape(linear(attnIn, 'v_proj'), keyView), [0, 2, 1, 3]);
    const past = inputs.past?.[l];
    if (past) {
      k = g.concat([past.key, k], 2); // [B, Hkv, P+T, hd]
      v = g.concat([past.value, v], 2);
    }
    present.push({ key: k, value: v });
    const kT = g.unsqueeze(g.transpose(k, [0, 1, 3, 2]), [2]); // [B, Hkv, 1, hd, Tk]
    const scores = g.add(g.matmul(qView, kT), inputs.attentionMask); // [B, Hkv, G, T, Tk]
    const attended = g.matmul(g.softmax(scores, -1), g.unsqueeze(v, [2])); // [B, Hkv, G, T, hd]
    const merged = g.reshape(g.transpose(attended, [0, 3, 1, 2, 4]), [-1, h * hd]); // [N, H·hd]
    x = g.add(x, linear(merged, 'o_proj'));
    midResiduals.push(x);
    const mlpIn = rmsNorm(
      g,
      x,
      weights.weight(`${prefix}.post_attention_layernorm.weight`),
      config.rmsNormEps,
    );
    const gate = linear(mlpIn, 'gate_proj'); // [N, F]
    // SwiGLU (Shazeer 2020, eq. 6): silu(x·Wg) ⊙ (x·Wu).
    const activated = g.mul(silu(g, gate), linear(mlpIn, 'up_proj'));
    x = g.add(x, linear(activated, 'down_proj'));
    layers.push({ start, end: g.nodes.length });
  }
  const hidden = rmsNorm(g, x, weights.weight('model.norm.weight'), config.rmsNormEps);
  return { hidden, present, layers, midResiduals, projections };
}
