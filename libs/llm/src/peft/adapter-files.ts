import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelFileError } from '../config/model-file-error.js';
import type { LlamaConfig } from '../config/llama-config.js';
import { PROJECTIONS, type Projection } from '../model/llama-model.js';
import { readSafetensors, type Float32Tensor } from '../safetensors/read-safetensors.js';
import { encodeSafetensors } from '../safetensors/write-safetensors.js';
import { writeFileAtomic } from '../train/write-file-atomic.js';
import { createLoraConfig, type LoraConfig } from './lora-config.js';
import { loraModules } from './peft-names.js';

/** File names PEFT's `save_pretrained` writes and `PeftModel.from_pretrained` reads. */
export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
/** See {@link ADAPTER_CONFIG_FILE}. */
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';

/** A LoRA adapter: its configuration, the base model it belongs to, and its A/B tensors by PEFT name. */
export interface LoraAdapter {
  readonly config: LoraConfig;
  /** `base_model_name_or_path`: where the base model came from (a path or hub id). */
  readonly baseModel: string;
  readonly tensors: ReadonlyMap<string, Float32Tensor>;
}

/**
 * The `adapter_config.json` document: the fields of PEFT's `LoraConfig` (PEFT 0.10+), with the
 * values Lathe uses; PEFT fills any field it knows and we omit with its own default.
 */
export function adapterConfigJson(config: LoraConfig, baseModel: string): Record<string, unknown> {
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    auto_mapping: null,
    base_model_name_or_path: baseModel,
    revision: null,
    inference_mode: true,
    r: config.r,
    lora_alpha: config.alpha,
    lora_dropout: config.dropout,
    target_modules: [...config.targetModules],
    use_rslora: config.useRslora,
    use_dora: false,
    bias: 'none',
    fan_in_fan_out: false,
    init_lora_weights: true,
    modules_to_save: null,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    megatron_config: null,
    megatron_core: 'megatron.core',
    loftq_config: {},
    layer_replication: null,
  };
}

/**
 * Saves a LoRA adapter in the PEFT layout: `adapter_config.json` and `adapter_model.safetensors`
 * (fp32, keys such as `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`).
 */
export async function saveLoraAdapter(dir: string, adapter: LoraAdapter): Promise<void> {
  await mkdir(dir, { recursive: true });
  const sorted = new Map([...adapter.tensors].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  await writeFileAtomic(
    join(dir, ADAPTER_WEIGHTS_FILE),
    encodeSafetensors(sorted, { format: 'pt' }),
  );
  await writeFileAtomic(
    join(dir, ADAPTER_CONFIG_FILE),
    `${JSON.stringify(adapterConfigJson(adapter.config, adapter.baseModel), null, 2)}\n`,
  );
}

function parseAdapterConfig(
  path: string,
  json: unknown,
): { config: LoraConfig; baseModel: string } {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new ModelFileError(path, 'not a JSON object');
  const c = json as Record<string, unknown>;
  if (c['peft_type'] !== 'LORA')
    throw new ModelFileError(
      path,
      `peft_type must be "LORA", got ${JSON.stringify(c['peft_type'])}`,
    );
  const targets = c['target_modules'];
  if (!Array.isArray(targets) || !targets.every((t): t is string => typeof t === 'string')) {
    throw new ModelFileError(
      path,
      'target_modules must be a list of module names (regex strings are not supported)',
    );
  }
  for (const t of targets) {
    if (!(PROJECTIONS as readonly string[]).includes(t)) {
      throw new ModelFileError(
        path,
        `target module "${t}" is not one of ${PROJECTIONS.join(', ')}`,
      );
    }
  }
  for (const [key, unsupported] of [
    ['use_dora', true],
    ['fan_in_fan_out', true],
  ] as const) {
    if (c[key] === unsupported) throw new ModelFileError(path, `${key}: true is not supported`);
  }
  for (const key of ['rank_pattern', 'alpha_pattern'] as const) {
    const v = c[key];
    if (v !== undefined && v !== null && (typeof v !== 'object' || Object.keys(v).length > 0)) {
      throw new ModelFileError(path, `${key} is not supported (one r and alpha for all modules)`);
    }
  }
  const num = (key: string): number | undefined => {
    const v = c[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number') throw new ModelFileError(path, `${key} must be a number`);
    return v;
  };
  try {
    const config = createLoraConfig({
      r: num('r'),
      alpha: num('lora_alpha'),
      dropout: num('lora_dropout'),
      targetModules: targets as Projection[],
      useRslora: c['use_rslora'] === true,
    });
    const base = c['base_model_name_or_path'];
    return { config, baseModel: typeof base === 'string' ? base : '' };
  } catch (cause) {
    throw new ModelFileError(path, (cause as Error).message, { cause });
  }
}

/**
 * Loads a PEFT LoRA adapter directory. When `model` is given, the tensors must be exactly the
 * A/B pairs that config and model imply, with matching shapes.
 *
 * @throws ModelFileError naming the file and what is wrong
 */
export async function loadLoraAdapter(dir: string, model?: LlamaConfig): Promise<LoraAdapter> {
  const configPath = join(dir, ADAPTER_CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(configPath, 'utf8');
  } catch (cause) {
    throw new ModelFileError(configPath, `cannot read: ${(cause as Error).message}`, { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ModelFileError(configPath, `not valid JSON: ${(cause as Error).message}`, { cause });
  }
  const { config, baseModel } = parseAdapterConfig(configPath, json);
  const weightsPath = join(dir, ADAPTER_WEIGHTS_FILE);
  const { tensors } = await readSafetensors(weightsPath);
  if (model !== undefined) {
    const expected = new Map<string, readonly number[]>();
    for (const spec of loraModules(model, config)) {
      expected.set(spec.aName, spec.aShape);
      expected.set(spec.bName, spec.bShape);
    }
    for (const [name, shape] of expected) {
      const t = tensors.get(name);
      if (t === undefined) throw new ModelFileError(weightsPath, `missing tensor "${name}"`);
      if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
        throw new ModelFileError(
          weightsPath,
          `tensor "${name}" has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`,
        );
      }
    }
    for (const name of tensors.keys()) {
      if (!expected.has(name))
        throw new ModelFileError(
          weightsPath,
          `unexpected tensor "${name}" for this model and config`,
        );
    }
  }
  return { config, baseModel, tensors };
}
