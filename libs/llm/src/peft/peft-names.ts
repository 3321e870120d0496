import type { LlamaConfig } from '../config/llama-config.js';
import { projectionModule, projectionShape } from '../model/llama-model.js';
import type { LoraConfig } from './lora-config.js';

/** PEFT wraps the model twice (PeftModel -> LoraModel), hence the prefix of every saved key. */
export const PEFT_PREFIX = 'base_model.model.';

/** One adapted linear layer: its module path and the names and shapes of its A and B. */
export interface LoraModuleSpec {
  /** Hugging Face module path, e.g. `model.layers.0.self_attn.q_proj`. */
  readonly module: string;
  /** PEFT key of A, e.g. `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`. */
  readonly aName: string;
  /** PEFT key of B. */
  readonly bName: string;
  /** [r, in] */
  readonly aShape: readonly [number, number];
  /** [out, r] */
  readonly bShape: readonly [number, number];
}

/** Every adapted module of a model under `lora`, layer by layer, in the model's module order. */
export function loraModules(model: LlamaConfig, lora: LoraConfig): LoraModuleSpec[] {
  const out: LoraModuleSpec[] = [];
  for (let layer = 0; layer < model.numLayers; layer++) {
    for (const projection of lora.targetModules) {
      const module = projectionModule(layer, projection);
      const [outFeatures, inFeatures] = projectionShape(model, projection);
      out.push({
        module,
        aName: `${PEFT_PREFIX}${module}.lora_A.weight`,
        bName: `${PEFT_PREFIX}${module}.lora_B.weight`,
        aShape: [lora.r, inFeatures],
        bShape: [outFeatures, lora.r],
      });
    }
  }
  return out;
}
