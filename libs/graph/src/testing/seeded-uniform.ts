/**
 * Deterministic uniform numbers in [lo, hi) from a 32-bit seed (mulberry32), for test data and
 * gradient checks that must be reproducible.
 */
export function seededUniform(seed: number, count: number, lo = -1, hi = 1): Float64Array {
  let state = seed >>> 0;
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}
