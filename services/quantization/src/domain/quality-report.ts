import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type {
  QualityReport,
  TensorQuality,
} from '@lathe/contracts/lathe/quantization/v1/quality_report';
import { MAX_HEADER_BYTES, ModelFileError, parseSafetensorsHeader } from '@lathe/llm';
import type { QuantConfig, QuantizationReport } from '@lathe/llm';
import type { JobFigures } from './quantization-job.js';
import { specOut } from './quant-spec.js';

/** One tensor of a model as its safetensors header describes it. */
export interface TensorEntry {
  readonly name: string;
  readonly shape: readonly number[];
  /** Bytes of its data. */
  readonly bytes: number;
}

/**
 * Every tensor of the model in `dir`, in model order: the `*.safetensors` files by name, and
 * each file's tensors in file order. Only headers are read.
 */
export async function modelTensors(dir: string): Promise<TensorEntry[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.safetensors')).sort();
  const tensors: TensorEntry[] = [];
  for (const file of files) {
    const path = join(dir, file);
    const handle = await open(path, 'r');
    try {
      const size = (await handle.stat()).size;
      const prefix = Buffer.alloc(8);
      await handle.read(prefix, 0, 8, 0);
      const length = size < 8 ? -1 : Number(prefix.readBigUInt64LE(0));
      if (length < 0 || length > MAX_HEADER_BYTES || 8 + length > size)
        throw new ModelFileError(path, 'truncated or oversized safetensors header');
      const headerBytes = Buffer.alloc(length);
      await handle.read(headerBytes, 0, length, 8);
      const header = parseSafetensorsHeader(headerBytes, size, path);
      for (const e of header.entries.values())
        tensors.push({ name: e.name, shape: e.shape, bytes: e.end - e.start });
    } finally {
      await handle.close();
    }
  }
  return tensors;
}

function elements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * The contract's QualityReport of a finished quantization: one entry per tensor of the source
 * (`tensors`, in model order), quantized ones with the library's measured error, kept ones exact
 * (rmse 0, SNR +Inf) at their stored size; and the whole-model figures.
 */
export function qualityReportOf(
  jobId: string,
  config: QuantConfig,
  tensors: readonly TensorEntry[],
  report: QuantizationReport,
): { report: QualityReport; figures: JobFigures } {
  const measured = new Map(report.tensors.map((t) => [t.name, t]));
  let parameters = 0;
  let squaredError = 0;
  let quantizedParameters = 0;
  let maxAbsError = 0;
  let minSnrDb = Number.POSITIVE_INFINITY;
  const out: TensorQuality[] = tensors.map((t) => {
    const n = elements(t.shape);
    parameters += n;
    const q = measured.get(t.name);
    if (q === undefined)
      return {
        name: t.name,
        shape: [...t.shape],
        quantized: false,
        rmse: 0,
        maxAbsError: 0,
        snrDb: Number.POSITIVE_INFINITY,
        bitsPerParameter: n === 0 ? 0 : (t.bytes * 8) / n,
        bytesBefore: t.bytes,
        bytesAfter: t.bytes,
      };
    squaredError += q.rmse * q.rmse * q.parameters;
    quantizedParameters += q.parameters;
    maxAbsError = Math.max(maxAbsError, q.maxAbsError);
    minSnrDb = Math.min(minSnrDb, q.snrDb);
    return {
      name: q.name,
      shape: [...q.shape],
      quantized: true,
      rmse: q.rmse,
      maxAbsError: q.maxAbsError,
      snrDb: q.snrDb,
      bitsPerParameter: q.bitsPerParameter,
      bytesBefore: q.bytesBefore,
      bytesAfter: q.bytesAfter,
    };
  });
  if (
    measured.size !== report.tensors.length ||
    out.filter((t) => t.quantized).length !== measured.size
  )
    throw new Error('the quantization report names tensors the source model does not have');
  const figures: JobFigures = {
    bitsPerParameter: parameters === 0 ? 0 : (report.bytesAfter * 8) / parameters,
    bytesBefore: report.bytesBefore,
    bytesAfter: report.bytesAfter,
  };
  return {
    report: {
      jobId,
      spec: specOut(config),
      tensors: out,
      bitsPerParameter: figures.bitsPerParameter,
      bytesBefore: figures.bytesBefore,
      bytesAfter: figures.bytesAfter,
      rmse: quantizedParameters === 0 ? 0 : Math.sqrt(squaredError / quantizedParameters),
      maxAbsError,
      minSnrDb,
    },
    figures,
  };
}
