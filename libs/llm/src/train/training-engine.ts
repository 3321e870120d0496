import type { FourBitKernel } from '../model/decoder-weights.js';
import type { TrainingBatch } from '../data/training-batch.js';
import type { LlamaModel } from '../model/llama-model.js';
import type { LoraConfig } from '../peft/lora-config.js';

/** What one forward+backward pass over a micro-batch returns. */
export interface EngineStepResult {
  /** sum(token NLL) * lossWeight over the micro-batch's target tokens. */
  readonly loss: number;
  /** d loss / d trainable, by trainable name (already scaled by lossWeight). */
  readonly grads: Map<string, Float32Array>;
}

/**
 * The compute the trainer drives: one causal-LM training graph for a model and method, with the
 * frozen weights inside it and the trainable tensors passed in each call. The trainer owns the
 * trainable values and the optimizer; the engine only computes loss and gradients.
 */
export interface TrainingEngine {
  /** Trainable tensor names and shapes, in the graph's order (PEFT names for LoRA, HF names for full). */
  readonly trainableShapes: ReadonlyMap<string, readonly number[]>;
  /**
   * Loss and gradients for one micro-batch.
   *
   * @param lossWeight multiplies the summed token NLL (1 / target tokens of the whole optimizer step)
   * @param dropoutSeed seed of this micro-batch's LoRA dropout masks (ignored when dropout is 0)
   */
  step(
    batch: TrainingBatch,
    lossWeight: number,
    trainable: ReadonlyMap<string, Float32Array>,
    dropoutSeed: number,
  ): Promise<EngineStepResult>;
  /** Forward only: the summed token NLL of the batch's targets (no dropout). */
  lossSum(batch: TrainingBatch, trainable: ReadonlyMap<string, Float32Array>): Promise<number>;
  /** Releases the session and its worker. */
  close(): Promise<void>;
}

/**
 * Which graph to build: full fine-tuning, or LoRA with this configuration; either with activation
 * checkpointing (`gradientCheckpointing`: each decoder layer's activations are recomputed in the
 * backward from the layer's input instead of kept from the forward; the same gradients for about
 * one more forward of compute and far less memory. Default false).
 */
export type EngineMethod = (
  { readonly method: 'full' } | { readonly method: 'lora'; readonly lora: LoraConfig }
) & {
  readonly gradientCheckpointing?: boolean;
  /**
   * What a checkpointed layer keeps from the forward besides its input (with
   * `gradientCheckpointing`); the backward recomputes the rest of the layer, and only what it
   * reads. `keep-qkv` keeps the q/k/v projections' outputs and the residual stream after
   * attention, so a replay recomputes the MLP's gate and up products and the cheap ops (norms,
   * rotary embedding, attention, activation) but not the attention's projections, o_proj or
   * down_proj; `keep-projections` keeps every projection's output as well (more memory, the
   * least recomputation); `recompute-all` keeps nothing (least memory, a whole forward again).
   * The two keeping policies also keep LoRA's rank-r intermediates. Default `keep-qkv`.
   */
  readonly checkpointPolicy?: CheckpointPolicy;
  /**
   * How the products with 4-bit base weights are computed: `matmul-bnb4` (onnxruntime's
   * MatMulBnb4 kernel where it applies) or `dequantize` (in-graph dequantization, then Gemm; for
   * comparisons). Default `matmul-bnb4`. No effect on an fp32 base.
   */
  readonly fourBitKernel?: FourBitKernel;
};

/** What a checkpointed layer keeps; see {@link EngineMethod.checkpointPolicy}. */
export const CHECKPOINT_POLICIES = ['keep-qkv', 'keep-projections', 'recompute-all'] as const;
/** One of {@link CHECKPOINT_POLICIES}. */
export type CheckpointPolicy = (typeof CHECKPOINT_POLICIES)[number];

/** Builds a {@link TrainingEngine} for a loaded model. */
export type TrainingEngineFactory = (
  model: LlamaModel,
  method: EngineMethod,
) => Promise<TrainingEngine>;
