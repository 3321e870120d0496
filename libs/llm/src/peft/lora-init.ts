import type { LlamaConfig } from '../config/llama-config.js';
import type { SeededRandom } from '../optim/seeded-random.js';
import type { Float32Tensor } from '../safetensors/read-safetensors.js';
import type { LoraConfig } from './lora-config.js';
import { loraModules } from './peft-names.js';

/**
 * Fresh LoRA tensors under PEFT names, initialised as PEFT does by default: A with
 * Kaiming-uniform (a = sqrt(5), as `nn.Linear.reset_parameters`), i.e. U(-1/sqrt(in), 1/sqrt(in)),
 * and B with zeros so the adapted model starts equal to the base model.
 *
 * Each module draws from its own stream `rng.split(<A's name>)`, so changing the target modules
 * leaves the other modules' initial values unchanged.
 */
export function initLoraTensors(
  model: LlamaConfig,
  lora: LoraConfig,
  rng: SeededRandom,
): Map<string, Float32Tensor> {
  const out = new Map<string, Float32Tensor>();
  for (const spec of loraModules(model, lora)) {
    const [r, inFeatures] = spec.aShape;
    // gain = sqrt(2 / (1 + a^2)) = sqrt(1/3); bound = gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in).
    const bound = 1 / Math.sqrt(inFeatures);
    out.set(spec.aName, {
      shape: spec.aShape,
      data: rng.split(spec.aName).uniformArray(r * inFeatures, -bound, bound),
    });
    out.set(spec.bName, {
      shape: spec.bShape,
      data: new Float32Array(spec.bShape[0] * spec.bShape[1]),
    });
  }
  return out;
}
