import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelFileError } from '../config/model-file-error.js';
import { readSafetensors, type Float32Tensor } from './read-safetensors.js';

/**
 * Reads a Hugging Face model directory's weights as fp32: `model.safetensors`, or the shards
 * listed by `model.safetensors.index.json` (every tensor must sit in the shard the index names).
 *
 * @param dir model directory
 * @returns tensor name -> fp32 tensor
 * @throws ModelFileError naming the file at fault
 */
export async function readModelWeights(dir: string): Promise<Map<string, Float32Tensor>> {
  const single = join(dir, 'model.safetensors');
  if (await exists(single)) return (await readSafetensors(single)).tensors;
  const indexPath = join(dir, 'model.safetensors.index.json');
  if (!(await exists(indexPath))) {
    throw new ModelFileError(dir, 'no model.safetensors or model.safetensors.index.json');
  }
  const weightMap = await readWeightMap(indexPath);
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of weightMap) {
    const names = byShard.get(shard) ?? [];
    names.push(name);
    byShard.set(shard, names);
  }
  const out = new Map<string, Float32Tensor>();
  for (const [shard, names] of byShard) {
    const shardPath = join(dir, shard);
    const { tensors } = await readSafetensors(shardPath);
    for (const name of names) {
      const tensor = tensors.get(name);
      if (!tensor) {
        throw new ModelFileError(shardPath, `tensor "${name}" listed in ${indexPath} is missing`);
      }
      out.set(name, tensor);
    }
  }
  return out;
}

async function readWeightMap(indexPath: string): Promise<Map<string, string>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(indexPath, 'utf8'));
  } catch (cause) {
    throw new ModelFileError(indexPath, `not valid JSON: ${(cause as Error).message}`, { cause });
  }
  const weightMap = (parsed as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new ModelFileError(indexPath, '"weight_map" must be an object');
  }
  const out = new Map<string, string>();
  for (const [name, shard] of Object.entries(weightMap as Record<string, unknown>)) {
    // A shard name is a plain file in the model directory; anything else could read outside it.
    if (
      typeof shard !== 'string' ||
      shard.includes('/') ||
      shard.includes('\\') ||
      shard.startsWith('.')
    ) {
      throw new ModelFileError(
        indexPath,
        `weight_map["${name}"] must be a file name in the model directory`,
      );
    }
    out.set(name, shard);
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
