import { isQuantizedLayer } from '../quant/bnb-format.js';
import { createQuantConfig, type QuantOptions } from '../quant/quant-config.js';
import { quantizeTensor, type Quantized4bit } from '../quant/quantized-tensor.js';
import type { Float32Tensor } from '../safetensors/read-safetensors.js';
import type { LlamaModel } from './llama-model.js';

/**
 * Test helper: a loaded fp32 model with its projections quantized 4-bit in memory (what
 * loadFourBitModel gives for a directory), to build QLoRA graphs without files.
 */
export function quantizeProjections(
  model: LlamaModel,
  options: QuantOptions,
): LlamaModel & { readonly quantized: ReadonlyMap<string, Quantized4bit> } {
  const config = createQuantConfig(options);
  const weights = new Map<string, Float32Tensor>();
  const quantized = new Map<string, Quantized4bit>();
  for (const [name, t] of model.weights) {
    if (!isQuantizedLayer(name, t.shape)) {
      weights.set(name, t);
      continue;
    }
    const q = quantizeTensor(name, t, config);
    if (q.kind !== '4bit') throw new Error(`${config.scheme} is not a 4-bit scheme`);
    quantized.set(name, q);
  }
  return { config: model.config, weights, quantized };
}
