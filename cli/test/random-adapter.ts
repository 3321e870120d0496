import { join } from 'node:path';
import {
  SeededRandom,
  createLoraConfig,
  initLoraTensors,
  saveLoraAdapter,
  type LlamaModel,
  type LoraAdapter,
  type Projection,
} from '@lathe/llm';

/**
 * A LoRA adapter (r 4, alpha 8) whose B is not zero, so it really changes the model, saved in the
 * PEFT layout under `<dir>/adapter`. Seeded: the same arguments give the same tensors.
 */
export async function saveRandomAdapter(
  base: LlamaModel,
  modelDir: string,
  dir: string,
  targetModules: readonly Projection[],
  seed: number,
): Promise<{ adapterDir: string; adapter: LoraAdapter }> {
  const config = createLoraConfig({ r: 4, alpha: 8, targetModules });
  const tensors = initLoraTensors(base.config, config, SeededRandom.fromSeed(seed));
  for (const [name, t] of tensors) {
    if (name.includes('lora_B'))
      t.data.set(
        SeededRandom.fromSeed(seed + 1)
          .split(name)
          .uniformArray(t.data.length, -0.1, 0.1),
      );
  }
  const adapter: LoraAdapter = { config, baseModel: modelDir, tensors };
  const adapterDir = join(dir, 'adapter');
  await saveLoraAdapter(adapterDir, adapter);
  return { adapterDir, adapter };
}
