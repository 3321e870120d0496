import { join } from 'node:path';
import { parseLlamaConfig } from '../config/llama-config.js';
import type { LlamaModel } from '../model/llama-model.js';
import type { Float32Tensor } from '../safetensors/read-safetensors.js';
import type { SafetensorsEntry } from '../safetensors/header.js';
import { isQuantizedLayer, QUANT_STATE_KEY } from './bnb-format.js';
import { quantStateOwner, read4bitWeight } from './bnb-decode.js';
import { checkParameterShapes, readBitsAndBytesConfig } from './load-quantized-model.js';
import { modelWeightFiles, readConfigJson } from './model-files.js';
import { createQuantConfig, type QuantConfig, type QuantOptions } from './quant-config.js';
import { QuantizationError } from './quantization-error.js';
import { quantizeTensor, type Quantized4bit } from './quantized-tensor.js';
import { SafetensorsFileReader, type RawTensor } from './safetensors-stream.js';

/** A model whose linear projections are held 4-bit, and how it got them. */
export interface FourBitModel {
  /** fp32 embeddings, norms, biases and head in `weights`; the projections in `quantized`. */
  readonly model: LlamaModel & { readonly quantized: ReadonlyMap<string, Quantized4bit> };
  /** The quantization the projections are held in (the directory's own when it was quantized). */
  readonly quant: QuantConfig;
  /** 'quantized-on-load' for a full-precision directory, 'bnb-4bit' for a quantized one. */
  readonly source: 'quantized-on-load' | 'bnb-4bit';
}

/**
 * Loads a Llama-family model directory for QLoRA: the linear projections (the usual rule, see
 * {@link isQuantizedLayer}) are held 4-bit, everything else in fp32.
 *
 * - A full-precision directory is quantized on load with `options` (NF4, block 64, double
 *   quantization by default), streaming: one fp32 tensor at a time is read and quantized, so
 *   memory holds the 4-bit model plus the largest tensor, never the fp32 model.
 * - A bitsandbytes 4-bit directory (Lathe's or a published "bnb-4bit" one) is read as stored,
 *   without dequantizing. Its scheme must be the one asked for (`scheme`, default nf4), and
 *   `blockSize` / `doubleQuant`, when given explicitly, must match it too.
 *
 * @throws QuantizationError for an 8-bit model, a scheme mismatch, an int8 request, or a tensor
 *   with NaN/Inf (named)
 * @throws ModelFileError for an unsupported architecture or a missing or mis-shaped tensor
 */
export async function loadFourBitModel(
  dir: string,
  options: QuantOptions = {},
): Promise<FourBitModel> {
  const requested = createQuantConfig(options);
  if (requested.scheme === 'int8') {
    throw new QuantizationError(
      'scheme',
      'qlora keeps the base 4-bit: the scheme must be nf4 or fp4, not int8',
      { field: 'scheme' },
    );
  }
  const configPath = join(dir, 'config.json');
  const config = parseLlamaConfig(await readConfigJson(dir), configPath);
  const bnb = await readBitsAndBytesConfig(dir);
  if (bnb !== undefined && bnb['load_in_4bit'] !== true) {
    throw new QuantizationError(
      `model ${dir}`,
      'is 8-bit (LLM.int8()) quantized; qlora needs a 4-bit base: train it with --method lora ' +
        '(dequantized) or quantize its full-precision original',
    );
  }
  const weights = new Map<string, Float32Tensor>();
  const quantized = new Map<string, Quantized4bit>();
  let stored: QuantConfig | undefined;
  const { files } = await modelWeightFiles(dir);
  for (const file of files) {
    const reader = await SafetensorsFileReader.open(join(dir, file));
    try {
      const entries = reader.header.entries;
      const consumed = new Set<string>();
      for (const entry of entries.values()) {
        const owner = quantStateOwner(entry.name);
        if (owner === undefined) continue;
        if (bnb === undefined) {
          throw new QuantizationError(
            `model ${dir}`,
            `has bitsandbytes quantization state ("${entry.name}") but no quantization_config in config.json`,
          );
        }
        const raw = new Map<string, RawTensor>();
        for (const suffix of ['', '.absmax', '.quant_map', '.nested_absmax', '.nested_quant_map']) {
          const part = entries.get(`${owner}${suffix}`);
          if (part !== undefined) raw.set(part.name, await reader.readRaw(part));
          consumed.add(`${owner}${suffix}`);
        }
        raw.set(entry.name, await reader.readRaw(entry));
        consumed.add(entry.name);
        const q = read4bitWeight(owner, entry.name, (name) => raw.get(name));
        stored ??= storedConfig(dir, owner, q, requested, options);
        checkSameQuantization(dir, owner, q, stored);
        quantized.set(owner, q);
      }
      for (const entry of entries.values()) {
        if (consumed.has(entry.name)) continue;
        if (entry.name.endsWith('.SCB')) {
          throw new QuantizationError(
            `model ${dir}`,
            `holds 8-bit weights ("${entry.name}"); qlora needs a 4-bit base`,
          );
        }
        if (bnb === undefined && isQuantizedLayer(entry.name, entry.shape)) {
          const q = quantizeTensor(
            entry.name,
            { shape: entry.shape, data: await reader.readFloat32(entry) },
            requested,
          );
          if (q.kind !== '4bit') throw new Error('a 4-bit scheme gave a non-4-bit tensor');
          quantized.set(entry.name, q);
        } else {
          weights.set(entry.name, { shape: entry.shape, data: await readFloat(reader, entry) });
        }
      }
    } finally {
      await reader.close();
    }
  }
  checkParameterShapes(dir, config, (name) => (quantized.get(name) ?? weights.get(name))?.shape);
  if (config.tieWordEmbeddings) weights.delete('lm_head.weight');
  return {
    model: { config, weights, quantized },
    quant: stored ?? requested,
    source: bnb === undefined ? 'quantized-on-load' : 'bnb-4bit',
  };
}

async function readFloat(
  reader: SafetensorsFileReader,
  entry: SafetensorsEntry,
): Promise<Float32Array> {
  if (entry.dtype === 'U8' || entry.dtype === 'I8') {
    throw new QuantizationError(
      `tensor "${entry.name}"`,
      `has dtype ${entry.dtype} without a ${QUANT_STATE_KEY}* quant state beside it`,
    );
  }
  return reader.readFloat32(entry);
}

/** The quantization a stored 4-bit weight was made with, checked against what was asked. */
function storedConfig(
  dir: string,
  name: string,
  q: Quantized4bit,
  requested: QuantConfig,
  options: QuantOptions,
): QuantConfig {
  const doubleQuant = !(q.absmax instanceof Float32Array);
  const mismatch = (what: string, stored: string, asked: string, flag: string): QuantizationError =>
    new QuantizationError(
      `model ${dir}`,
      `is stored with ${what} ${stored} ("${name}"), but qlora was asked for ${asked}; ` +
        `pass ${flag} to train on it as stored, or quantize its full-precision original`,
      {
        field: `quant.${what === 'scheme' ? 'scheme' : what === 'block size' ? 'blockSize' : 'doubleQuant'}`,
      },
    );
  if (q.quantType !== requested.scheme) {
    throw mismatch('scheme', q.quantType, requested.scheme, `--quant-scheme ${q.quantType}`);
  }
  if (options.blockSize !== undefined && options.blockSize !== q.blockSize) {
    throw mismatch(
      'block size',
      String(q.blockSize),
      String(options.blockSize),
      `--quant-block-size ${q.blockSize}`,
    );
  }
  if (options.doubleQuant !== undefined && options.doubleQuant !== doubleQuant) {
    throw mismatch(
      'double quantization',
      doubleQuant ? 'on' : 'off',
      options.doubleQuant ? 'on' : 'off',
      doubleQuant ? 'no --no-double-quant' : '--no-double-quant',
    );
  }
  return { ...requested, blockSize: q.blockSize, doubleQuant };
}

/** Every weight of one model shares one quantization (a mixed checkpoint is refused). */
function checkSameQuantization(dir: string, name: string, q: Quantized4bit, c: QuantConfig): void {
  const doubleQuant = !(q.absmax instanceof Float32Array);
  if (q.quantType !== c.scheme || q.blockSize !== c.blockSize || doubleQuant !== c.doubleQuant) {
    throw new QuantizationError(
      `model ${dir}`,
      `mixes quantizations: "${name}" is ${q.quantType} block ${q.blockSize}` +
        `${doubleQuant ? ' double-quantized' : ''}, unlike the weights before it`,
    );
  }
}
