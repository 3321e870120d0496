/**
 * The signed 8-bit dynamic map of bitsandbytes (Dettmers et al. 2022, "8-bit Optimizers via
 * Block-wise Quantization", §2.2): 1 sign bit, then a run of zero bits whose length is the
 * decimal exponent (down to 1e-6), an indicator 1 bit, and the remaining bits as a linear fraction
 * in [0.1, 1]. Double quantization stores the absmax values with it (`nested_quant_map`).
 */

/**
 * float32 `torch.linspace(start, end, steps)` bit for bit as PyTorch's x86 CPU kernel (AVX2
 * build) computes it, because bitsandbytes builds its map with it and the map is stored in every
 * checkpoint. Element k is start + step·k in the first half and end - step·(steps-1-k) in the
 * second, evaluated with a fused multiply-add; but whole groups of 16 are produced as two 8-lane
 * vectors, each lane being fl(base + fl(lane·step)) from its vector's first element. Other vector
 * widths would round a few elements differently; readers use the map stored in the file.
 */
function linspaceFloat32(start: number, end: number, steps: number): number[] {
  const f = Math.fround;
  const s = f(start);
  const e = f(end);
  const step = f(f(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  // One rounding of the exact value, as an FMA does (exact in float64 for these small operands).
  const scalar = (k: number): number =>
    k < half ? f(s + step * k) : f(e - step * (steps - k - 1));
  const lanes = 8;
  const vectorized = Math.floor(steps / (2 * lanes)) * 2 * lanes;
  const out: number[] = [];
  for (let k = 0; k < vectorized; k += lanes) {
    const base = scalar(k);
    for (let lane = 0; lane < lanes; lane++) out.push(f(base + f(lane * step)));
  }
  for (let k = vectorized; k < steps; k++) out.push(scalar(k));
  return out;
}

/**
 * The 256 values of the signed dynamic map, ascending (float32). For exponent bits i = 0..6 the
 * map holds 2^i fractions (midpoints of a linspace over [0.1, 1]) scaled by 10^(i-6), with both
 * signs, plus 0 and 1.
 */
export function createDynamicMap(): Float32Array {
  const maxExponentBits = 7;
  const values: number[] = [];
  for (let i = 0; i < maxExponentBits; i++) {
    const boundaries = linspaceFloat32(0.1, 1, 2 ** i + 1);
    const scale = Math.fround(10 ** (i - (maxExponentBits - 1)));
    for (let j = 0; j + 1 < boundaries.length; j++) {
      const mean = Math.fround(Math.fround(boundaries[j]! + boundaries[j + 1]!) / 2);
      values.push(Math.fround(scale * mean), Math.fround(-scale * mean));
    }
  }
  values.push(0, 1);
  values.sort((a, b) => a - b);
  return Float32Array.from(values);
}

/** The map, built once. */
export const DYNAMIC_MAP: Float32Array = createDynamicMap();

/**
 * Index of the code nearest to x in an ascending 256-entry map, as bitsandbytes' kernel finds it:
 * a 7-step binary search from index 127 lands on an even index p, and x then moves to the odd
 * neighbour only when strictly past the float32 midpoint, so exact ties stay on p. A NaN never
 * compares greater and ends on index 0.
 */
export function nearestDynamicCode(code: Float32Array, x: number): number {
  let pivot = 127;
  let upperPivot = 255;
  let lowerPivot = 0;
  let lower = -1;
  let upper = 1;
  let value = code[pivot]!;
  for (let step = 64; step > 0; step >>= 1) {
    if (x > value) {
      lowerPivot = pivot;
      lower = value;
      pivot += step;
    } else {
      upperPivot = pivot;
      upper = value;
      pivot -= step;
    }
    value = code[pivot]!;
  }
  if (upperPivot === 255) upper = code[255]!;
  if (lowerPivot === 0) lower = code[0]!;
  if (x > value) {
    return x > Math.fround((upper + value) * 0.5) ? upperPivot : pivot;
  }
  return x < Math.fround((lower + value) * 0.5) ? lowerPivot : pivot;
}
