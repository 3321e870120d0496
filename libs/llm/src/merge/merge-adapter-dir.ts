import { loadLlamaModel } from '../model/llama-model.js';
import { loadLoraAdapter } from '../peft/adapter-files.js';
import { mergeLoraWeights } from './merge-lora.js';
import { saveHfModel } from './save-hf-model.js';

/**
 * Merges a PEFT LoRA adapter directory into its base model directory and writes the result as a
 * Hugging Face model directory (fp32 `model.safetensors` plus config and tokenizer files).
 *
 * @returns the number of weights that changed
 * @throws ModelFileError naming the model or adapter file at fault
 */
export async function mergeAdapterDir(
  modelDir: string,
  adapterDir: string,
  outDir: string,
): Promise<number> {
  const model = await loadLlamaModel(modelDir);
  const adapter = await loadLoraAdapter(adapterDir, model.config);
  const merged = mergeLoraWeights(model, adapter);
  await saveHfModel(outDir, modelDir, merged);
  let changed = 0;
  for (const [name, t] of merged) if (t !== model.weights.get(name)) changed++;
  return changed;
}
