import { GraphBuilder, attentionBias, gradients, tokenNll, type Tensor } from '@lathe/graph';
import { ropeTables } from '../config/rope.js';
import type { CheckpointPolicy, EngineMethod } from '../train/training-engine.js';
import { loraModules } from '../peft/peft-names.js';
import { buildDecoder } from './decoder-graph.js';
import {
  FrozenDecoderWeights,
  TrainableDecoderWeights,
  type TrainableSpec,
} from './decoder-weights.js';
import { ExternalWeights } from './external-weights.js';
import { PROJECTIONS, parameterShapes, type LlamaModel, type Projection } from './llama-model.js';

/** Graph output holding sum(token NLL) · loss_weight. */
export const LOSS_OUTPUT = 'loss';
/** Graph output [B]: per row, the sum of the target tokens' log-probabilities. */
export const SEQUENCE_LOG_PROBS_OUTPUT = 'sequence_log_probs';

/** Graph output name of a trainable tensor's gradient. */
export function gradOutputName(trainable: string): string {
  return `grad.${trainable}`;
}

/** A built causal-LM graph and what feeding it takes. */
export interface CausalLmGraph {
  readonly builder: GraphBuilder;
  /** Trainable inputs in declaration order (PEFT names for LoRA, Hugging Face names for full). */
  readonly trainables: readonly TrainableSpec[];
  /** LoRA dropout-mask inputs (empty when dropout is 0): name and width; each is [B·T, width]. */
  readonly dropoutMasks: readonly { readonly name: string; readonly width: number }[];
  /** Whether the graph computes gradients. */
  readonly withGradients: boolean;
  /** Frozen weights' data, to be written beside the model file (empty for full fine-tuning). */
  readonly external: ExternalWeights;
}

/**
 * Replaces the summed-NLL loss with another built from the rows' summed target log-probs (for
 * DPO): returns the scalar loss to differentiate; it may add inputs and outputs of its own.
 */
export type SequenceObjective = (
  g: GraphBuilder,
  sequenceLogProbs: Tensor,
  lossWeight: Tensor,
) => Tensor;

/** Projections whose outputs each {@link CheckpointPolicy} keeps. */
const KEPT_PROJECTIONS: Readonly<
  Record<Exclude<CheckpointPolicy, 'recompute-all'>, ReadonlySet<Projection>>
> = {
  'keep-qkv': new Set(['q_proj', 'k_proj', 'v_proj']),
  'keep-projections': new Set(PROJECTIONS),
};

/**
 * The tensors a checkpointed layer keeps under `method.checkpointPolicy` (see there), none with
 * `recompute-all`; otherwise the chosen projections' outputs, the residual stream after
 * attention, and LoRA's rank-r products x·Aᵀ (a Gemm reading a trainable A: tiny, and read by
 * B's gradient).
 */
function checkpointKeep(
  method: EngineMethod,
  weights: FrozenDecoderWeights | TrainableDecoderWeights,
  midResiduals: readonly Tensor[],
  projections: ReadonlyMap<string, Projection>,
): ((t: Tensor) => boolean) | undefined {
  const policy = method.checkpointPolicy ?? 'keep-qkv';
  if (policy === 'recompute-all') return undefined;
  const keptProjections = KEPT_PROJECTIONS[policy];
  const kept = new Set(midResiduals.map((t) => t.name));
  // LoRA's A factors (full fine-tuning's trainables are the projections' weights themselves).
  const loraA = new Set(
    weights instanceof FrozenDecoderWeights ? weights.trainableInputs.map((t) => t.name) : [],
  );
  return (t) => {
    const projection = projections.get(t.name);
    if (projection !== undefined) return keptProjections.has(projection);
    if (kept.has(t.name)) return true;
    const producer = t.producer;
    return producer?.opType === 'Gemm' && loraA.has(producer.inputs[1]?.name ?? '');
  };
}

/**
 * The causal-LM graph of the model-graph contract. Inputs: `input_ids`, `position_ids`,
 * `segment_ids`, `labels` (int64 [B, T], labels already shifted, −100 ignored), `loss_weight`
 * (float scalar), the trainable tensors, and LoRA dropout masks when dropout > 0. Outputs:
 * `loss` = sum(token NLL)·loss_weight, `sequence_log_probs` [B], and with `withGradients` one
 * `grad.<name>` per trainable. Frozen weights are initializers whose data is in `external`
 * (given to share one weights file between the graphs of a model; default a fresh one).
 */
export function buildCausalLmGraph(
  model: LlamaModel,
  method: EngineMethod,
  withGradients: boolean,
  objective?: SequenceObjective,
  external: ExternalWeights = new ExternalWeights(),
): CausalLmGraph {
  const { config } = model;
  if (method.method === 'full' && (model.quantized?.size ?? 0) > 0) {
    throw new Error('full fine-tuning needs fp32 weights; a 4-bit base trains adapters only');
  }
  const g = new GraphBuilder({ name: `lathe-${config.architecture}-${method.method}` });
  const inputIds = g.input('input_ids', 'int64', ['B', 'T']);
  const positionIds = g.input('position_ids', 'int64', ['B', 'T']);
  const segmentIds = g.input('segment_ids', 'int64', ['B', 'T']);
  const labels = g.input('labels', 'int64', ['B', 'T']);
  const lossWeight = g.input('loss_weight', 'float32', []);
  const weights =
    method.method === 'full'
      ? new TrainableDecoderWeights(g, config, parameterShapes(config))
      : new FrozenDecoderWeights(
          g,
          config,
          model.weights,
          { config: method.lora, modules: loraModules(config, method.lora) },
          model.quantized,
          external,
          method.fourBitKernel,
        );
  // Tables for every position the model supports (131072 for Llama 3.1): external, not inline.
  const tables = ropeTables(config, config.maxPositions);
  const ropeShape = [config.maxPositions, config.headDim];
  const cos = g.initializer('rope_cos', 'float32', ropeShape, external.add('rope_cos', tables.cos));
  const sin = g.initializer('rope_sin', 'float32', ropeShape, external.add('rope_sin', tables.sin));
  const flat = (t: Tensor): Tensor => g.reshape(t, [-1]); // [N]
  const batchShape = g.shape(inputIds);
  const { hidden, layers, midResiduals, projections } = buildDecoder(
    g,
    config,
    weights,
    {
      inputIds: flat(inputIds),
      positionIds: flat(positionIds),
      batchShape,
      attentionMask: g.unsqueeze(attentionBias(g, segmentIds), [1]), // [B, 1, 1, T, T]
    },
    cos,
    sin,
  );
  const head = weights.weight(
    config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight',
  );
  const logits = g.gemm(hidden, head, undefined, { transB: true }); // [N, V]
  const nll = tokenNll(g, logits, flat(labels)); // [N], 0 where ignored
  const sequenceLogProbs = g.neg(g.reduceSum(g.reshape(nll, batchShape), [1])); // [B]
  const loss = objective
    ? objective(g, sequenceLogProbs, lossWeight)
    : g.mul(g.reduceSum(nll, [0]), lossWeight);
  g.output(LOSS_OUTPUT, loss);
  g.output(SEQUENCE_LOG_PROBS_OUTPUT, sequenceLogProbs);
  if (withGradients) {
    // 4-bit weights are dequantized again for the backward instead of kept in fp32 from the
    // forward; with checkpointing, each layer's activations are recomputed from its input too.
    const recompute = weights instanceof FrozenDecoderWeights ? weights.recompute : undefined;
    const checkpoints = method.gradientCheckpointing === true ? layers : undefined;
    const keepInCheckpoints =
      checkpoints && checkpointKeep(method, weights, midResiduals, projections);
    const grads = gradients(g, loss, weights.trainableInputs, {
      recompute,
      checkpoints,
      keepInCheckpoints,
    });
    weights.trainables.forEach((t, i) => {
      const grad = grads[i];
      if (!grad) throw new Error(`no gradient reaches trainable "${t.name}"`);
      g.output(gradOutputName(t.name), grad);
    });
  }
  return {
    builder: g,
    trainables: weights.trainables,
    dropoutMasks: weights instanceof FrozenDecoderWeights ? weights.dropoutMasks : [],
    withGradients,
    external,
  };
}
