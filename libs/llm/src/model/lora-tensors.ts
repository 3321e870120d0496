import type { LlamaConfig } from '../config/llama-config.js';
import type { SeededRandom } from '../optim/seeded-random.js';
import type { Float32Tensor } from '../safetensors/read-safetensors.js';
import { projectionModule, projectionShape, type Projection } from './llama-model.js';
import type { LoraConfig } from './lora-config.js';

/** One adapted projection: where it is and the PEFT names of its two factors. */
export interface LoraTarget {
  readonly layer: number;
  readonly projection: Projection;
  /** Hugging Face module path, e.g. `model.layers.0.self_attn.q_proj`. */
  readonly module: string;
  /** PEFT name of A [r, in]: `base_model.model.<module>.lora_A.weight`. */
  readonly aName: string;
  /** PEFT name of B [out, r]: `base_model.model.<module>.lora_B.weight`. */
  readonly bName: string;
  readonly aShape: readonly [number, number];
  readonly bShape: readonly [number, number];
}

/** Every adapted projection in layer order, then in {@link LoraConfig.targetModules} order. */
export function loraTargets(config: LlamaConfig, lora: LoraConfig): LoraTarget[] {
  const out: LoraTarget[] = [];
  for (let layer = 0; layer < config.numLayers; layer++) {
    for (const projection of lora.targetModules) {
      const module = projectionModule(layer, projection);
      const [outDim, inDim] = projectionShape(config, projection);
      out.push({
        layer,
        projection,
        module,
        aName: `base_model.model.${module}.lora_A.weight`,
        bName: `base_model.model.${module}.lora_B.weight`,
        aShape: [lora.r, inDim],
        bShape: [outDim, lora.r],
      });
    }
  }
  return out;
}

/**
 * Fresh adapter weights as PEFT initializes them: A Kaiming-uniform with a = sqrt(5), i.e.
 * U(-1/sqrt(in), 1/sqrt(in)) (nn.Linear's default, He et al. 2015 with gain sqrt(2/(1+a^2))),
 * B zeros, so the adapted model starts equal to the base model.
 *
 * @param rng stream to draw A from (pass a split such as `rng.split('lora-init')`)
 */
export function initLoraWeights(
  config: LlamaConfig,
  lora: LoraConfig,
  rng: SeededRandom,
): Map<string, Float32Tensor> {
  const out = new Map<string, Float32Tensor>();
  for (const t of loraTargets(config, lora)) {
    const bound = 1 / Math.sqrt(t.aShape[1]);
    out.set(t.aName, {
      shape: t.aShape,
      data: rng.uniformArray(t.aShape[0] * t.aShape[1], -bound, bound),
    });
    out.set(t.bName, { shape: t.bShape, data: new Float32Array(t.bShape[0] * t.bShape[1]) });
  }
  return out;
}
