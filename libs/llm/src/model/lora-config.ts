import { PROJECTIONS, type Projection } from './llama-model.js';

/** LoRA hyper-parameters (Hu et al. 2021), named and defaulted as PEFT's `LoraConfig`. */
export interface LoraConfig {
  /** Rank r of A [r, in] and B [out, r]. Default 8. */
  readonly r: number;
  /** Scale numerator: the update is (alpha / r)·B·A, or (alpha / sqrt(r))·B·A with rsLoRA. Default 8. */
  readonly alpha: number;
  /** Dropout probability on the adapter's input (PEFT default 0). */
  readonly dropout: number;
  /** Projections that get adapters. Default q_proj and v_proj (PEFT's default for Llama). */
  readonly targetModules: readonly Projection[];
  /** Rank-stabilized scaling alpha / sqrt(r) (Kalajdzievski 2023). Default false. */
  readonly useRslora: boolean;
}

/**
 * Validates and completes a LoRA configuration.
 *
 * @throws RangeError naming the field that is out of range or unknown
 */
export function loraConfig(options: Partial<LoraConfig> = {}): LoraConfig {
  const config: LoraConfig = {
    r: options.r ?? 8,
    alpha: options.alpha ?? 8,
    dropout: options.dropout ?? 0,
    targetModules: options.targetModules ?? ['q_proj', 'v_proj'],
    useRslora: options.useRslora ?? false,
  };
  if (!Number.isInteger(config.r) || config.r <= 0)
    throw new RangeError(`LoRA r must be a positive integer, got ${config.r}`);
  if (!(config.alpha > 0)) throw new RangeError(`LoRA alpha must be positive, got ${config.alpha}`);
  if (!(config.dropout >= 0 && config.dropout < 1)) {
    throw new RangeError(`LoRA dropout must be in [0, 1), got ${config.dropout}`);
  }
  if (config.targetModules.length === 0)
    throw new RangeError('LoRA target_modules must not be empty');
  for (const m of config.targetModules) {
    if (!(PROJECTIONS as readonly string[]).includes(m)) {
      throw new RangeError(`LoRA target module "${m}" is not one of ${PROJECTIONS.join(', ')}`);
    }
  }
  return config;
}

/** The factor applied to B·A x. */
export function loraScale(config: LoraConfig): number {
  return config.alpha / (config.useRslora ? Math.sqrt(config.r) : config.r);
}
