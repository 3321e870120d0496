import { PROJECTIONS, type Projection } from '../model/llama-model.js';

/**
 * LoRA hyper-parameters, validated at construction like PEFT's `LoraConfig`
 * (Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", 2021: W' = W + (alpha/r)·B·A).
 */
export interface LoraOptions {
  /** Rank r of the update. Default 8. */
  readonly r?: number;
  /** Scaling numerator: the update is multiplied by alpha/r (alpha/sqrt(r) with rsLoRA). Default 16. */
  readonly alpha?: number;
  /** Dropout on the adapter's input during training (PEFT default 0). Default 0. */
  readonly dropout?: number;
  /** Linear layers to adapt, by Hugging Face module name. Default ['q_proj', 'v_proj']. */
  readonly targetModules?: readonly Projection[];
  /** Rank-stabilized scaling alpha/sqrt(r) (Kalajdzievski 2023) instead of alpha/r. Default false. */
  readonly useRslora?: boolean;
}

/** A validated LoRA configuration with every default filled in. */
export interface LoraConfig {
  readonly r: number;
  readonly alpha: number;
  readonly dropout: number;
  readonly targetModules: readonly Projection[];
  readonly useRslora: boolean;
  /** The factor applied to B·A: alpha/r, or alpha/sqrt(r) with rsLoRA. */
  readonly scaling: number;
}

/**
 * Validates LoRA options and fills in defaults.
 *
 * @throws RangeError naming the field and the reason
 */
export function createLoraConfig(options: LoraOptions = {}): LoraConfig {
  const r = options.r ?? 8;
  const alpha = options.alpha ?? 16;
  const dropout = options.dropout ?? 0;
  const targetModules = [...(options.targetModules ?? ['q_proj', 'v_proj'])];
  const useRslora = options.useRslora ?? false;
  if (!Number.isInteger(r) || r < 1)
    throw new RangeError(`LoRA r must be an integer >= 1, got ${r}`);
  if (!(alpha > 0) || !Number.isFinite(alpha))
    throw new RangeError(`LoRA alpha must be > 0, got ${alpha}`);
  if (!(dropout >= 0 && dropout < 1))
    throw new RangeError(`LoRA dropout must be in [0, 1), got ${dropout}`);
  if (targetModules.length === 0)
    throw new RangeError('LoRA targetModules must name at least one module');
  for (const m of targetModules) {
    if (!(PROJECTIONS as readonly string[]).includes(m)) {
      throw new RangeError(
        `LoRA target module "${String(m)}" is not one of ${PROJECTIONS.join(', ')}`,
      );
    }
  }
  if (new Set(targetModules).size !== targetModules.length) {
    throw new RangeError(`LoRA targetModules has duplicates: ${targetModules.join(', ')}`);
  }
  // Keep the model's own order so tensor lists and files are stable whatever order the user gave.
  targetModules.sort((a, b) => PROJECTIONS.indexOf(a) - PROJECTIONS.indexOf(b));
  const scaling = useRslora ? alpha / Math.sqrt(r) : alpha / r;
  return { r, alpha, dropout, targetModules, useRslora, scaling };
}
