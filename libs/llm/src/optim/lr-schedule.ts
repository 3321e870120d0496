/**
 * Learning-rate schedules: linear warmup, then cosine or linear decay. The multipliers follow
 * Hugging Face transformers' `get_cosine_schedule_with_warmup` / `get_linear_schedule_with_warmup`
 * (the rate used for 0-based optimizer step `s`), with an optional floor `minLrRatio`.
 */

/** How the rate decays after warmup. */
export type DecayKind = 'cosine' | 'linear' | 'constant';

/** A learning-rate schedule; validated by {@link createLrSchedule}. */
export interface LrScheduleConfig {
  /** Peak learning rate, reached at the end of warmup. Required, > 0. */
  readonly lr: number;
  /** Total optimizer steps of the run. Required, >= 1. */
  readonly totalSteps: number;
  /** Steps of linear warmup from 0 to `lr`. Default 0. */
  readonly warmupSteps?: number;
  /** Decay after warmup. Default 'cosine'. */
  readonly decay?: DecayKind;
  /** Final rate as a fraction of `lr` (cosine and linear). Default 0. */
  readonly minLrRatio?: number;
}

/** A validated schedule: `lrAt(step)` is the rate of 0-based optimizer step `step`. */
export interface LrSchedule {
  /** The validated configuration with defaults filled in. */
  readonly config: Required<LrScheduleConfig>;
  /** The learning rate for 0-based optimizer step `step`. */
  lrAt(step: number): number;
}

/** Validates `config` and returns the schedule. */
export function createLrSchedule(config: LrScheduleConfig): LrSchedule {
  const full: Required<LrScheduleConfig> = {
    lr: config.lr,
    totalSteps: config.totalSteps,
    warmupSteps: config.warmupSteps ?? 0,
    decay: config.decay ?? 'cosine',
    minLrRatio: config.minLrRatio ?? 0,
  };
  if (!(full.lr > 0) || !Number.isFinite(full.lr))
    throw new RangeError(`lr must be > 0, got ${full.lr}`);
  if (!Number.isInteger(full.totalSteps) || full.totalSteps < 1) {
    throw new RangeError(`totalSteps must be an integer >= 1, got ${full.totalSteps}`);
  }
  if (
    !Number.isInteger(full.warmupSteps) ||
    full.warmupSteps < 0 ||
    full.warmupSteps > full.totalSteps
  ) {
    throw new RangeError(
      `warmupSteps must be an integer in [0, totalSteps], got ${full.warmupSteps}`,
    );
  }
  if (!(full.minLrRatio >= 0 && full.minLrRatio <= 1)) {
    throw new RangeError(`minLrRatio must be in [0, 1], got ${full.minLrRatio}`);
  }
  if (!['cosine', 'linear', 'constant'].includes(full.decay)) {
    throw new RangeError(`decay must be cosine, linear or constant, got ${String(full.decay)}`);
  }
  const { lr, totalSteps, warmupSteps, decay, minLrRatio } = full;
  return {
    config: full,
    lrAt(step: number): number {
      if (!Number.isInteger(step) || step < 0)
        throw new RangeError(`step must be an integer >= 0, got ${step}`);
      if (step < warmupSteps) return (lr * step) / warmupSteps;
      if (decay === 'constant') return lr;
      const span = Math.max(1, totalSteps - warmupSteps);
      const progress = Math.min(1, (step - warmupSteps) / span);
      const shape = decay === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * progress)) : 1 - progress;
      return lr * (minLrRatio + (1 - minLrRatio) * shape);
    },
  };
}
