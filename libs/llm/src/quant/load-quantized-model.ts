import { join } from 'node:path';
import { parseLlamaConfig, type LlamaConfig } from '../config/llama-config.js';
import { ModelFileError } from '../config/model-file-error.js';
import { loadLlamaModel, parameterShapes, type LlamaModel } from '../model/llama-model.js';
import type { Float32Tensor } from '../safetensors/read-safetensors.js';
import { tensorToFloat32 } from '../safetensors/to-float32.js';
import { decode4bitWeight, decodeInt8Weight, quantStateOwner } from './bnb-decode.js';
import { modelWeightFiles, readConfigJson } from './model-files.js';
import { SafetensorsFileReader, type RawTensor } from './safetensors-stream.js';

/**
 * The `quantization_config` of a model directory's config.json when it names bitsandbytes, else
 * undefined (a full-precision model).
 */
export async function readBitsAndBytesConfig(
  dir: string,
): Promise<Record<string, unknown> | undefined> {
  const q = (await readConfigJson(dir))['quantization_config'];
  if (typeof q !== 'object' || q === null) return undefined;
  const config = q as Record<string, unknown>;
  return config['quant_method'] === 'bitsandbytes' ? config : undefined;
}

/**
 * Reads the weights of a bitsandbytes-quantized model directory (4-bit NF4/FP4 with or without
 * double quantization, or LLM.int8()), written by Lathe or by Transformers, and restores every
 * quantized weight to fp32; other tensors are widened to fp32 as usual.
 *
 * @throws QuantizationError naming a tensor whose quantization state is missing or malformed
 */
export async function readQuantizedWeights(dir: string): Promise<Map<string, Float32Tensor>> {
  const { files } = await modelWeightFiles(dir);
  const raw = new Map<string, RawTensor>();
  for (const file of files) {
    const reader = await SafetensorsFileReader.open(join(dir, file));
    try {
      for (const entry of reader.header.entries.values()) {
        raw.set(entry.name, await reader.readRaw(entry));
      }
    } finally {
      await reader.close();
    }
  }
  const get = (name: string): RawTensor | undefined => raw.get(name);
  const consumed = new Set<string>();
  const out = new Map<string, Float32Tensor>();
  for (const name of raw.keys()) {
    const owner = quantStateOwner(name);
    if (owner === undefined) continue;
    out.set(owner, decode4bitWeight(owner, name, get).tensor);
    for (const suffix of ['', '.absmax', '.quant_map', '.nested_absmax', '.nested_quant_map']) {
      consumed.add(`${owner}${suffix}`);
    }
    consumed.add(name);
  }
  for (const name of raw.keys()) {
    if (!name.endsWith('.SCB')) continue;
    const weightName = `${name.slice(0, -'.SCB'.length)}.weight`;
    out.set(weightName, decodeInt8Weight(weightName, get));
    consumed.add(name).add(weightName).add(`${weightName}_format`);
  }
  for (const [name, tensor] of raw) {
    if (consumed.has(name)) continue;
    const entry = {
      name,
      dtype: tensor.dtype,
      shape: tensor.shape,
      start: 0,
      end: tensor.bytes.length,
    };
    out.set(name, {
      shape: tensor.shape,
      data: tensorToFloat32(entry, tensor.bytes, join(dir, name)),
    });
  }
  return out;
}

/**
 * Loads a quantized ("bnb-4bit" or 8-bit) Hugging Face model directory as an fp32
 * {@link LlamaModel}: quantized weights are dequantized on load (the compute graph does not yet
 * consume 4-bit weights directly), then every weight the config calls for is checked.
 *
 * @throws ModelFileError naming the file at fault
 */
export async function loadQuantizedModel(dir: string): Promise<LlamaModel> {
  const configPath = join(dir, 'config.json');
  const config = parseLlamaConfig(await readConfigJson(dir), configPath);
  const weights = await readQuantizedWeights(dir);
  checkParameterShapes(dir, config, (name) => weights.get(name)?.shape);
  if (config.tieWordEmbeddings) weights.delete('lm_head.weight');
  return { config, weights };
}

/**
 * Checks that every weight the config calls for is present with its shape.
 *
 * @param shapeOf a weight's stored shape (fp32 or 4-bit), undefined when absent
 * @throws ModelFileError naming the directory and the tensor
 */
export function checkParameterShapes(
  dir: string,
  config: LlamaConfig,
  shapeOf: (name: string) => readonly number[] | undefined,
): void {
  for (const [name, shape] of parameterShapes(config)) {
    const stored = shapeOf(name);
    if (stored === undefined) {
      throw new ModelFileError(dir, `missing tensor "${name}" required by config.json`);
    }
    if (stored.length !== shape.length || stored.some((s, i) => s !== shape[i])) {
      throw new ModelFileError(
        dir,
        `tensor "${name}" has shape [${stored.join(', ')}], config.json implies [${shape.join(', ')}]`,
      );
    }
  }
}

/**
 * Loads a model directory for inference whatever its storage: a bitsandbytes 4-bit/8-bit
 * checkpoint (Lathe's or a published "bnb-4bit" one) is dequantized to fp32, any other is loaded
 * as it is by {@link loadLlamaModel}.
 */
export async function loadModelForInference(dir: string): Promise<LlamaModel> {
  return (await readBitsAndBytesConfig(dir)) === undefined
    ? loadLlamaModel(dir)
    : loadQuantizedModel(dir);
}
