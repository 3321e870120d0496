import { createHash } from 'node:crypto';
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  MAX_HEADER_BYTES,
  ModelFileError,
  loadLoraAdapter,
  parameterShapes,
  parseSafetensorsHeader,
  readLlamaConfig,
  type LlamaConfig,
  type SafetensorsHeader,
} from '@lathe/llm';
import type { ArchitectureFacts } from './model-version.js';

/** Dtypes a model's floating-point weights may be stored in. */
const WEIGHT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);

/** Reads and validates one safetensors file's header without reading its tensors. */
export async function readSafetensorsHeaderOf(path: string): Promise<SafetensorsHeader> {
  const size = (await stat(path)).size;
  const handle = await open(path, 'r');
  try {
    if (size < 8)
      throw new ModelFileError(path, `truncated safetensors file: ${String(size)} bytes`);
    const prefix = Buffer.alloc(8);
    await handle.read(prefix, 0, 8, 0);
    const length = prefix.readBigUInt64LE(0);
    if (length > BigInt(MAX_HEADER_BYTES))
      throw new ModelFileError(
        path,
        `safetensors header length ${length.toString()} is above the ${String(MAX_HEADER_BYTES)}-byte bound`,
      );
    if (length > BigInt(size - 8))
      throw new ModelFileError(
        path,
        `truncated safetensors file: header says ${length.toString()} bytes but only ${String(size - 8)} follow`,
      );
    const header = Buffer.alloc(Number(length));
    await handle.read(header, 0, header.length, 8);
    return parseSafetensorsHeader(header, size, path);
  } finally {
    await handle.close();
  }
}

/** The safetensors files of a model directory: the shards of the index, else model.safetensors. */
async function weightFiles(dir: string, paths: readonly string[]): Promise<string[]> {
  if (paths.includes('model.safetensors.index.json')) {
    const index = JSON.parse(await readFile(join(dir, 'model.safetensors.index.json'), 'utf8')) as {
      weight_map?: Record<string, string>;
    };
    const shards = [...new Set(Object.values(index.weight_map ?? {}))].sort();
    for (const s of shards)
      if (!paths.includes(s))
        throw new ModelFileError(
          join(dir, 'model.safetensors.index.json'),
          `shard "${s}" is not among the files`,
        );
    return shards;
  }
  if (paths.includes('model.safetensors')) return ['model.safetensors'];
  throw new ModelFileError(dir, 'no model.safetensors or model.safetensors.index.json');
}

/** What validating a base model directory found. */
export interface ValidatedModel {
  readonly config: LlamaConfig;
  readonly architecture: ArchitectureFacts;
  /** SHA-256 of the chat template in tokenizer_config.json; '' when there is none. */
  readonly chatTemplateSha256: string;
}

/**
 * Validates a model directory in Hugging Face layout, as staged on disk with exactly `paths`:
 * config.json parses and names a supported architecture (by `@lathe/llm`), every safetensors
 * header is sane, and every tensor the config implies is present once with its shape and a
 * floating-point dtype. Tensors are not read, so a large model costs only its headers.
 *
 * @throws ModelFileError naming the file and the reason
 */
export async function validateModelDir(
  dir: string,
  paths: readonly string[],
): Promise<ValidatedModel> {
  if (!paths.includes('config.json')) throw new ModelFileError(join(dir, 'config.json'), 'missing');
  const config = await readLlamaConfig(join(dir, 'config.json'));
  const found = new Map<string, { file: string; dtype: string; shape: readonly number[] }>();
  for (const file of await weightFiles(dir, paths)) {
    const header = await readSafetensorsHeaderOf(join(dir, file));
    for (const [name, e] of header.entries) {
      if (found.has(name))
        throw new ModelFileError(
          join(dir, file),
          `tensor "${name}" is also in ${found.get(name)?.file ?? ''}`,
        );
      found.set(name, { file, dtype: e.dtype, shape: e.shape });
    }
  }
  const dtypes = new Set<string>();
  let parameterCount = 0;
  for (const [name, shape] of parameterShapes(config)) {
    const t = found.get(name);
    if (t === undefined)
      throw new ModelFileError(
        join(dir, 'config.json'),
        `tensor "${name}" required by config.json is in no safetensors file`,
      );
    const where = join(dir, t.file);
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i]))
      throw new ModelFileError(
        where,
        `tensor "${name}" has shape [${t.shape.join(', ')}], config.json implies [${shape.join(', ')}]`,
      );
    if (!WEIGHT_DTYPES.has(t.dtype))
      throw new ModelFileError(
        where,
        `tensor "${name}" has dtype ${t.dtype}, expected a floating-point dtype`,
      );
    dtypes.add(t.dtype);
    parameterCount += shape.reduce((a, b) => a * b, 1);
  }
  const chatTemplateSha256 = paths.includes('tokenizer_config.json')
    ? await chatTemplateSha256Of(dir)
    : '';
  return {
    config,
    chatTemplateSha256,
    architecture: {
      modelType: config.architecture,
      parameterCount,
      hiddenSize: config.hiddenSize,
      numLayers: config.numLayers,
      vocabSize: config.vocabSize,
      contextLength: config.maxPositions,
      dtype: [...dtypes].map(dtypeName).sort().join('+'),
    },
  };
}

function dtypeName(d: string): string {
  return { F32: 'float32', F16: 'float16', BF16: 'bfloat16', F64: 'float64' }[d] ?? d.toLowerCase();
}

/** What validating an adapter against its base found. */
export interface ValidatedAdapter {
  readonly r: number;
  readonly alpha: number;
  readonly targetModules: readonly string[];
  readonly useRslora: boolean;
  readonly parameterCount: number;
}

/**
 * Validates a PEFT LoRA adapter directory against its base's config: `@lathe/llm` reads
 * adapter_config.json and adapter_model.safetensors and checks every module name and shape.
 *
 * @throws ModelFileError naming the file and what does not fit
 */
export async function validateAdapterDir(
  dir: string,
  base: LlamaConfig,
): Promise<ValidatedAdapter> {
  const adapter = await loadLoraAdapter(dir, base);
  let parameterCount = 0;
  for (const t of adapter.tensors.values()) parameterCount += t.data.length;
  return {
    r: adapter.config.r,
    alpha: adapter.config.alpha,
    targetModules: [...adapter.config.targetModules],
    useRslora: adapter.config.useRslora,
    parameterCount,
  };
}

/**
 * SHA-256 of the chat template in `dir`/tokenizer_config.json (its JSON text, so a list of named
 * templates hashes too); '' when the file or the template is absent.
 */
export async function chatTemplateSha256Of(dir: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(join(dir, 'tokenizer_config.json'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
  let parsed: { chat_template?: unknown };
  try {
    parsed = JSON.parse(text) as { chat_template?: unknown };
  } catch (cause) {
    throw new ModelFileError(join(dir, 'tokenizer_config.json'), 'is not valid JSON', { cause });
  }
  const t = parsed.chat_template;
  return t === undefined || t === null
    ? ''
    : createHash('sha256').update(JSON.stringify(t)).digest('hex');
}
