import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Float32Tensor } from '../safetensors/read-safetensors.js';
import { encodeSafetensors } from '../safetensors/write-safetensors.js';
import { writeFileAtomic } from '../train/write-file-atomic.js';

/** Files besides the weights that make a Hugging Face model directory loadable. */
const COMPANION_FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'tokenizer.model',
  'special_tokens_map.json',
];

/**
 * Writes a Hugging Face model directory: `model.safetensors` (fp32, names sorted) plus the config
 * and tokenizer files copied from `sourceDir`, so `from_pretrained(outDir)` and Lathe's loader
 * read it like the original.
 */
export async function saveHfModel(
  outDir: string,
  sourceDir: string,
  weights: ReadonlyMap<string, Float32Tensor>,
): Promise<void> {
  await mkdir(outDir, { recursive: true });
  const present = new Set(await readdir(sourceDir));
  for (const file of COMPANION_FILES) {
    if (present.has(file)) await copyFile(join(sourceDir, file), join(outDir, file));
  }
  const sorted = new Map([...weights].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  await writeFileAtomic(
    join(outDir, 'model.safetensors'),
    encodeSafetensors(sorted, { format: 'pt' }),
  );
}
