import type { LlamaModel } from '../model/llama-model.js';
import type { Float32Tensor } from '../safetensors/read-safetensors.js';
import type { LoraAdapter } from '../peft/adapter-files.js';
import { loraModules } from '../peft/peft-names.js';

/**
 * Folds a LoRA adapter into the base weights: W' = W + scaling · B·A for every adapted module
 * (Hu et al. 2021, eq. 3), computed in float64 and rounded once to fp32. Returns a new weight map
 * under Hugging Face names; the base model is not modified.
 *
 * @throws Error naming the tensor that is missing or mis-shaped
 */
export function mergeLoraWeights(
  model: LlamaModel,
  adapter: LoraAdapter,
): Map<string, Float32Tensor> {
  const merged = new Map(model.weights);
  const { r, scaling } = adapter.config;
  for (const spec of loraModules(model.config, adapter.config)) {
    const a = adapter.tensors.get(spec.aName);
    const b = adapter.tensors.get(spec.bName);
    const wName = `${spec.module}.weight`;
    const w = model.weights.get(wName);
    if (a === undefined || b === undefined)
      throw new Error(`adapter has no tensors for module "${spec.module}"`);
    if (w === undefined) throw new Error(`base model has no weight "${wName}"`);
    const [outF, inF] = [spec.bShape[0], spec.aShape[1]];
    if (w.data.length !== outF * inF) throw new Error(`weight "${wName}" is not [${outF}, ${inF}]`);
    const out = new Float32Array(outF * inF);
    const row = new Float64Array(inF);
    for (let o = 0; o < outF; o++) {
      row.fill(0);
      // [in] += B[o, k] * A[k, :] over the rank.
      for (let k = 0; k < r; k++) {
        const bok = b.data[o * r + k] as number;
        if (bok === 0) continue;
        const aOff = k * inF;
        for (let i = 0; i < inF; i++)
          row[i] = (row[i] as number) + bok * (a.data[aOff + i] as number);
      }
      const wOff = o * inF;
      for (let i = 0; i < inF; i++)
        out[wOff + i] = (w.data[wOff + i] as number) + scaling * (row[i] as number);
    }
    merged.set(wName, { shape: w.shape, data: out });
  }
  return merged;
}
