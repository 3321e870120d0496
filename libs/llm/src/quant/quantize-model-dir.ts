import { copyFile, mkdir, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../train/write-file-atomic.js';
import { bitsAndBytesConfig, isQuantizedLayer, serializeQuantized } from './bnb-format.js';
import { INDEX_FILE, modelWeightFiles, readConfigJson } from './model-files.js';
import type { QuantConfig } from './quant-config.js';
import { QuantizationError } from './quantization-error.js';
import { quantErrorStats, type QuantErrorStats } from './quality.js';
import { dequantizeTensor, quantizeTensor } from './quantized-tensor.js';
import { SafetensorsFileReader, SafetensorsStreamWriter } from './safetensors-stream.js';

/** Quality and size of one quantized tensor. */
export interface TensorQuantReport extends QuantErrorStats {
  readonly name: string;
  readonly shape: readonly number[];
  readonly parameters: number;
  /** Bytes of the original tensor. */
  readonly bytesBefore: number;
  /** Bytes of every entry that stores it (codes, absmax, maps, quant state). */
  readonly bytesAfter: number;
  /** bytesAfter · 8 / parameters. */
  readonly bitsPerParameter: number;
}

/** What {@link quantizeModelDir} did. */
export interface QuantizationReport {
  readonly config: QuantConfig;
  readonly tensors: readonly TensorQuantReport[];
  /** Tensors kept in their original precision (embeddings, norms, lm_head). */
  readonly keptTensors: readonly string[];
  /** Tensor bytes of the whole model before and after. */
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  /** Storage bits per parameter over the quantized tensors only. */
  readonly bitsPerQuantizedParameter: number;
}

/** Files a model directory carries besides its weights, copied unchanged. */
function isCompanionFile(name: string): boolean {
  return name !== 'config.json' && name !== INDEX_FILE && !name.endsWith('.safetensors');
}

/**
 * Quantizes a Hugging Face model directory into `outDir` in the Transformers + bitsandbytes
 * layout (see bnb-format.ts), streaming: one tensor is read, quantized, measured and written at
 * a time, so memory is bounded by the largest tensor, not the model. Shards keep their names.
 *
 * @param onTensor called after each quantized tensor (progress)
 * @throws QuantizationError when the model is already quantized or a tensor holds NaN/Inf
 * @throws ModelFileError when a file is missing or malformed
 */
export async function quantizeModelDir(
  modelDir: string,
  outDir: string,
  config: QuantConfig,
  onTensor?: (report: TensorQuantReport) => void,
): Promise<QuantizationReport> {
  if (resolve(modelDir) === resolve(outDir)) {
    throw new QuantizationError(
      `output ${outDir}`,
      'is the model directory itself; write the quantized model to another directory',
    );
  }
  const modelConfig = await readConfigJson(modelDir);
  const existing = modelConfig['quantization_config'];
  if (existing !== undefined) {
    const q = (typeof existing === 'object' && existing !== null ? existing : {}) as Record<
      string,
      unknown
    >;
    const method = JSON.stringify(q['quant_method'] ?? null);
    const type =
      q['load_in_4bit'] === true && typeof q['bnb_4bit_quant_type'] === 'string'
        ? ` ${q['bnb_4bit_quant_type']}`
        : '';
    throw new QuantizationError(
      `model ${modelDir}`,
      `is already quantized (config.json has quantization_config ${method}${type}); quantize the full-precision original`,
    );
  }
  const { files, index } = await modelWeightFiles(modelDir);
  await mkdir(outDir, { recursive: true });
  const tensors: TensorQuantReport[] = [];
  const keptTensors: string[] = [];
  const weightMap: Record<string, string> = {};
  let bytesBefore = 0;
  let bytesAfter = 0;
  for (const file of files) {
    const reader = await SafetensorsFileReader.open(join(modelDir, file));
    const writer = await SafetensorsStreamWriter.create(join(outDir, file));
    try {
      const state = [...reader.header.entries.keys()].find(
        (name) => name.includes('.quant_state.') || name.endsWith('.SCB'),
      );
      if (state !== undefined) {
        throw new QuantizationError(
          `model ${modelDir}`,
          `is already quantized (tensor "${state}" is bitsandbytes quantization state)`,
        );
      }
      for (const entry of reader.header.entries.values()) {
        const before = entry.end - entry.start;
        bytesBefore += before;
        if (!isQuantizedLayer(entry.name, entry.shape)) {
          await writer.add(entry.name, await reader.readRaw(entry));
          keptTensors.push(entry.name);
          weightMap[entry.name] = file;
          bytesAfter += before;
          continue;
        }
        if (!(entry.dtype in FLOAT_DTYPES)) {
          throw new QuantizationError(
            `model ${modelDir}`,
            `is already quantized or not floating point (tensor "${entry.name}" has dtype ${entry.dtype})`,
          );
        }
        const original = { shape: entry.shape, data: await reader.readFloat32(entry) };
        const quantized = quantizeTensor(entry.name, original, config);
        const stats = quantErrorStats(original.data, dequantizeTensor(quantized).data);
        let after = 0;
        for (const [name, raw] of serializeQuantized(entry.name, quantized, entry.dtype)) {
          await writer.add(name, raw);
          weightMap[name] = file;
          after += raw.bytes.length;
        }
        bytesAfter += after;
        const report: TensorQuantReport = {
          name: entry.name,
          shape: entry.shape,
          parameters: original.data.length,
          bytesBefore: before,
          bytesAfter: after,
          bitsPerParameter: (after * 8) / original.data.length,
          ...stats,
        };
        tensors.push(report);
        onTensor?.(report);
      }
      await writer.finish({ format: 'pt' });
    } catch (err) {
      await writer.abort();
      throw err;
    } finally {
      await reader.close();
    }
  }
  await writeFileAtomic(
    join(outDir, 'config.json'),
    `${JSON.stringify({ ...modelConfig, quantization_config: bitsAndBytesConfig(config) }, null, 2)}\n`,
  );
  if (index !== undefined) {
    await writeFileAtomic(
      join(outDir, INDEX_FILE),
      `${JSON.stringify({ metadata: { ...index.metadata, total_size: bytesAfter }, weight_map: weightMap }, null, 2)}\n`,
    );
  }
  for (const name of await readdir(modelDir)) {
    if (isCompanionFile(name) && (await stat(join(modelDir, name))).isFile()) {
      await copyFile(join(modelDir, name), join(outDir, name));
    }
  }
  const quantizedParams = tensors.reduce((a, t) => a + t.parameters, 0);
  const quantizedBytes = tensors.reduce((a, t) => a + t.bytesAfter, 0);
  return {
    config,
    tensors,
    keptTensors,
    bytesBefore,
    bytesAfter,
    bitsPerQuantizedParameter: quantizedParams === 0 ? 0 : (quantizedBytes * 8) / quantizedParams,
  };
}

const FLOAT_DTYPES: Readonly<Record<string, true>> = {
  F32: true,
  F16: true,
  BF16: true,
  F64: true,
};
