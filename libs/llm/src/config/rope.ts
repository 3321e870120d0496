import type { LlamaConfig } from './llama-config.js';

/**
 * RoPE inverse frequencies theta^(-2i/d) for i in [0, d/2), with the config's scaling applied
 * (RoFormer, Su et al. 2021, eq. 15; Llama 3.1 band-wise scaling as in Hugging Face's
 * `_compute_llama3_parameters`). Computed in float64 then rounded once to float32.
 */
export function ropeInverseFrequencies(config: LlamaConfig): Float32Array {
  const d = config.headDim;
  const out = new Float32Array(d / 2);
  const scaling = config.ropeScaling;
  for (let i = 0; i < d / 2; i++) {
    const base = 1 / config.ropeTheta ** ((2 * i) / d);
    if (scaling.type === 'default') out[i] = base;
    else if (scaling.type === 'linear') out[i] = base / scaling.factor;
    else {
      const lowWavelen = scaling.originalMaxPositions / scaling.lowFreqFactor;
      const highWavelen = scaling.originalMaxPositions / scaling.highFreqFactor;
      const wavelen = (2 * Math.PI) / base;
      if (wavelen < highWavelen) out[i] = base;
      else if (wavelen > lowWavelen) out[i] = base / scaling.factor;
      else {
        const smooth =
          (scaling.originalMaxPositions / wavelen - scaling.lowFreqFactor) /
          (scaling.highFreqFactor - scaling.lowFreqFactor);
        out[i] = (1 - smooth) * (base / scaling.factor) + smooth * base;
      }
    }
  }
  return out;
}

/**
 * cos and sin tables [P, d] for positions 0..P-1, each frequency repeated over both halves of a
 * head (the rotate-half layout), fed to the graph so RoPE is a gather by position id and
 * positions may restart per packed sample.
 */
export function ropeTables(
  config: LlamaConfig,
  positions: number,
): { cos: Float32Array; sin: Float32Array } {
  const inv = ropeInverseFrequencies(config);
  const half = inv.length;
  const d = 2 * half;
  const cos = new Float32Array(positions * d);
  const sin = new Float32Array(positions * d);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      // The fp32 product first, as the reference implementations compute it, then cos/sin.
      const angle = Math.fround(p * (inv[i] ?? 0));
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[p * d + i] = c;
      cos[p * d + half + i] = c;
      sin[p * d + i] = s;
      sin[p * d + half + i] = s;
    }
  }
  return { cos, sin };
}
