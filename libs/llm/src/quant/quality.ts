/** How far a restored tensor is from the original. */
export interface QuantErrorStats {
  /** sqrt(mean((x - x̂)²)). */
  readonly rmse: number;
  /** max |x - x̂|. */
  readonly maxAbsError: number;
  /** Signal-to-noise ratio 10·log10(Σx² / Σ(x - x̂)²) in dB (Infinity when exact). */
  readonly snrDb: number;
}

/** Error statistics of `restored` against `original` (accumulated in float64). */
export function quantErrorStats(original: Float32Array, restored: Float32Array): QuantErrorStats {
  if (original.length !== restored.length) {
    throw new RangeError(`length mismatch: ${original.length} vs ${restored.length}`);
  }
  let signal = 0;
  let noise = 0;
  let max = 0;
  for (let i = 0; i < original.length; i++) {
    const x = original[i]!;
    const e = x - restored[i]!;
    signal += x * x;
    noise += e * e;
    if (Math.abs(e) > max) max = Math.abs(e);
  }
  return {
    rmse: original.length === 0 ? 0 : Math.sqrt(noise / original.length),
    maxAbsError: max,
    snrDb: noise === 0 ? Infinity : 10 * Math.log10(signal / noise),
  };
}
