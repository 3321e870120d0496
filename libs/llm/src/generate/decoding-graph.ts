import { GraphBuilder, type Tensor } from '@lathe/graph';
import { ropeTables } from '../config/rope.js';
import type { LlamaConfig } from '../config/llama-config.js';
import type { Float32Tensor } from '../safetensors/read-safetensors.js';
import { buildDecoder } from '../model/decoder-graph.js';
import { FrozenDecoderWeights } from '../model/decoder-weights.js';
import type { ExternalWeights } from '../model/external-weights.js';

/** Graph output [1, V]: logits of the last input position. */
export const LOGITS_OUTPUT = 'logits';

/** Names of layer `l`'s cache inputs and outputs. */
export function cacheNames(l: number): {
  pastKey: string;
  pastValue: string;
  presentKey: string;
  presentValue: string;
} {
  return {
    pastKey: `past_key.${l}`,
    pastValue: `past_value.${l}`,
    presentKey: `present_key.${l}`,
    presentValue: `present_value.${l}`,
  };
}

/**
 * The decoding graph for one sequence with a KV cache. Inputs: `input_ids` and `position_ids`
 * int64 [1, S] (the new tokens and their positions P..P+S−1), and per layer `past_key.<l>`,
 * `past_value.<l>` [1, Hkv, P, hd] (P may be 0). Outputs: `logits` [1, V] of the last position
 * and `present_key.<l>`, `present_value.<l>` [1, Hkv, P+S, hd]. The weights' data comes back
 * as `external`, to be written beside the model file.
 */
export function buildDecodingGraph(
  config: LlamaConfig,
  weights: ReadonlyMap<string, Float32Tensor>,
): { builder: GraphBuilder; external: ExternalWeights } {
  const g = new GraphBuilder({ name: `lathe-${config.architecture}-decode` });
  const inputIds = g.input('input_ids', 'int64', [1, 'S']);
  const positionIds = g.input('position_ids', 'int64', [1, 'S']);
  const past = Array.from({ length: config.numLayers }, (_, l) => {
    const names = cacheNames(l);
    return {
      key: g.input(names.pastKey, 'float32', [1, config.numKvHeads, 'P', config.headDim]),
      value: g.input(names.pastValue, 'float32', [1, config.numKvHeads, 'P', config.headDim]),
    };
  });
  const provider = new FrozenDecoderWeights(g, config, weights);
  const tables = ropeTables(config, config.maxPositions);
  const ropeShape = [config.maxPositions, config.headDim];
  const cos = g.initializer(
    'rope_cos',
    'float32',
    ropeShape,
    provider.external.add('rope_cos', tables.cos),
  );
  const sin = g.initializer(
    'rope_sin',
    'float32',
    ropeShape,
    provider.external.add('rope_sin', tables.sin),
  );
  const positions = g.reshape(positionIds, [-1]); // [S]
  const { hidden, present } = buildDecoder(
    g,
    config,
    provider,
    {
      inputIds: g.reshape(inputIds, [-1]),
      positionIds: positions,
      batchShape: g.shape(inputIds),
      attentionMask: causalCacheMask(g, positions, past[0]?.key, inputIds),
      past,
    },
    cos,
    sin,
  );
  const last = g.slice(hidden, [-1], [Number.MAX_SAFE_INTEGER], [0]); // [1, D]
  const head = provider.weight(
    config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight',
  );
  g.output(LOGITS_OUTPUT, g.gemm(last, head, undefined, { transB: true })); // [1, V]
  present.forEach((p, l) => {
    const names = cacheNames(l);
    g.output(names.presentKey, p.key);
    g.output(names.presentValue, p.value);
  });
  return { builder: g, external: provider.external };
}

/**
 * Mask [1, 1, 1, S, P+S] for new queries against cached and new keys: key j (its position, as
 * the cache holds positions 0..P+S−1 in order) is visible to a query at position p when j <= p.
 */
function causalCacheMask(
  g: GraphBuilder,
  positions: Tensor,
  pastKey: Tensor | undefined,
  inputIds: Tensor,
): Tensor {
  const newTokens = g.shape(inputIds, 1, 2); // [1]: S
  const total = pastKey ? g.add(g.shape(pastKey, 2, 3), newTokens) : newTokens; // [1]: P+S
  const keys = g.range(g.scalar(0, 'int64'), g.squeeze(total, [0]), g.scalar(1, 'int64')); // [P+S]
  const allowed = g.lessOrEqual(g.unsqueeze(keys, [0]), g.unsqueeze(positions, [1])); // [S, P+S]
  return g.unsqueeze(g.where(allowed, g.scalar(0), g.scalar(-Infinity)), [0, 1, 2]); // [1, 1, 1, S, P+S]
}
