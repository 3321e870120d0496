import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelFileError } from '../config/model-file-error.js';

/** The weight files of a model directory and, when sharded, the index's weight map. */
export interface ModelWeightFiles {
  /** File names (in the directory) holding weights. */
  readonly files: readonly string[];
  /** `model.safetensors.index.json` contents when the model is sharded. */
  readonly index:
    | { readonly metadata: Record<string, unknown>; readonly weightMap: Record<string, string> }
    | undefined;
}

/** Name of the index file of a sharded model. */
export const INDEX_FILE = 'model.safetensors.index.json';

/** Finds `model.safetensors` or the shards its index lists. @throws ModelFileError */
export async function modelWeightFiles(dir: string): Promise<ModelWeightFiles> {
  if (await exists(join(dir, 'model.safetensors'))) {
    return { files: ['model.safetensors'], index: undefined };
  }
  const indexPath = join(dir, INDEX_FILE);
  if (!(await exists(indexPath))) {
    throw new ModelFileError(dir, `no model.safetensors or ${INDEX_FILE}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(indexPath, 'utf8'));
  } catch (cause) {
    throw new ModelFileError(indexPath, `not valid JSON: ${(cause as Error).message}`, { cause });
  }
  const p = parsed as { weight_map?: unknown; metadata?: unknown } | null;
  const weightMap = p?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new ModelFileError(indexPath, '"weight_map" must be an object');
  }
  const files = new Set<string>();
  for (const [name, shard] of Object.entries(weightMap as Record<string, unknown>)) {
    // A shard is a plain file in the directory; anything else could reach outside it.
    if (typeof shard !== 'string' || /[/\\]/.test(shard) || shard.startsWith('.')) {
      throw new ModelFileError(
        indexPath,
        `weight_map["${name}"] must be a file name in the model directory`,
      );
    }
    files.add(shard);
  }
  const metadata =
    typeof p?.metadata === 'object' && p.metadata !== null
      ? (p.metadata as Record<string, unknown>)
      : {};
  return {
    files: [...files].sort(),
    index: { metadata, weightMap: weightMap as Record<string, string> },
  };
}

/** Reads config.json as a plain object. @throws ModelFileError */
export async function readConfigJson(dir: string): Promise<Record<string, unknown>> {
  const path = join(dir, 'config.json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw new ModelFileError(path, `cannot read as JSON: ${(cause as Error).message}`, { cause });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ModelFileError(path, 'not a JSON object');
  }
  return parsed as Record<string, unknown>;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
