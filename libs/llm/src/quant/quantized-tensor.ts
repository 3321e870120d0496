import type { Float32Tensor } from '../safetensors/read-safetensors.js';
import {
  dequantize4bit,
  dequantizeBlockwise8bit,
  quantize4bit,
  quantizeBlockwise8bit,
} from './blockwise.js';
import { fourBitType } from './codebooks.js';
import { DYNAMIC_MAP } from './dynamic-map.js';
import type { QuantConfig } from './quant-config.js';
import { QuantizationError } from './quantization-error.js';

/** Double-quantized absmax values (QLoRA §3 "Double Quantization"). */
export interface NestedAbsmax {
  /** 8-bit codes of (absmax - offset), one per 4-bit block. */
  readonly codes: Uint8Array;
  /** fp32 absmax of each block of `blockSize` centred absmax values. */
  readonly absmax: Float32Array;
  /** The 256-value map the codes index (`nested_quant_map`). */
  readonly map: Float32Array;
  readonly blockSize: number;
  /** Mean of the absmax values, subtracted before quantizing them (`nested_offset`). */
  readonly offset: number;
}

/** A tensor in blockwise 4-bit form, with what it takes to restore it. */
export interface Quantized4bit {
  readonly kind: '4bit';
  readonly quantType: 'nf4' | 'fp4';
  /** Original shape (row-major). */
  readonly shape: readonly number[];
  readonly packed: Uint8Array;
  readonly blockSize: number;
  /** Codebook in code order (`quant_map`). */
  readonly quantMap: Float32Array;
  /** Per-block absmax: plain fp32, or double-quantized. */
  readonly absmax: Float32Array | NestedAbsmax;
}

/** A matrix in per-row 8-bit absmax form (LLM.int8() storage: `weight` + `SCB`). */
export interface QuantizedInt8 {
  readonly kind: 'int8';
  readonly shape: readonly [number, number];
  /** round(W · 127 / rowAbsmax), row-major. */
  readonly codes: Int8Array;
  /** max |W| of each row (`SCB`). */
  readonly rowAbsmax: Float32Array;
}

/** Either stored form. */
export type QuantizedTensor = Quantized4bit | QuantizedInt8;

/**
 * Refuses a tensor holding NaN or ±Inf, naming it and the first bad element: its absmax would
 * poison a whole block and the model is broken anyway.
 */
export function assertFinite(name: string, data: Float32Array): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) {
      throw new QuantizationError(
        `tensor "${name}"`,
        `element ${i} is ${String(data[i])}; refusing to quantize a tensor with NaN or Inf`,
      );
    }
  }
}

/**
 * Quantizes one tensor with the configured scheme.
 *
 * @throws QuantizationError naming the tensor when it holds NaN/Inf, or is not a matrix for int8
 */
export function quantizeTensor(
  name: string,
  tensor: Float32Tensor,
  config: QuantConfig,
): QuantizedTensor {
  assertFinite(name, tensor.data);
  if (config.scheme === 'int8') return quantizeInt8(name, tensor);
  const type = fourBitType(config.scheme);
  const { packed, absmax } = quantize4bit(tensor.data, type, config.blockSize);
  return {
    kind: '4bit',
    quantType: type.name,
    shape: [...tensor.shape],
    packed,
    blockSize: config.blockSize,
    quantMap: type.codebook,
    absmax: config.doubleQuant ? doubleQuantize(absmax, config.nestedBlockSize) : absmax,
  };
}

/**
 * Double quantization: subtract the mean of the absmax values (they are all positive, so centring
 * them uses the signed map's range), then quantize them 8-bit blockwise with the dynamic map.
 * The mean is accumulated in float64 and rounded to float32 once.
 */
export function doubleQuantize(absmax: Float32Array, blockSize: number): NestedAbsmax {
  let sum = 0;
  for (const a of absmax) sum += a;
  const offset = Math.fround(sum / absmax.length);
  const centred = new Float32Array(absmax.length);
  for (let i = 0; i < absmax.length; i++) centred[i] = absmax[i]! - offset;
  const q = quantizeBlockwise8bit(centred, DYNAMIC_MAP, blockSize);
  return { codes: q.codes, absmax: q.absmax, map: DYNAMIC_MAP, blockSize, offset };
}

/** The fp32 absmax values of a 4-bit tensor (restoring them when double-quantized). */
export function blockAbsmax(q: Quantized4bit): Float32Array {
  const a = q.absmax;
  if (a instanceof Float32Array) return a;
  return dequantizeBlockwise8bit(a.codes, a.absmax, a.map, a.blockSize, a.offset);
}

function quantizeInt8(name: string, tensor: Float32Tensor): QuantizedInt8 {
  if (tensor.shape.length !== 2) {
    throw new QuantizationError(
      `tensor "${name}"`,
      `int8 quantization needs a matrix, got shape [${tensor.shape.join(', ')}]`,
    );
  }
  const [rows, cols] = tensor.shape as [number, number];
  const codes = new Int8Array(rows * cols);
  const rowAbsmax = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let c = 0; c < cols; c++) max = Math.max(max, Math.abs(tensor.data[r * cols + c]!));
    rowAbsmax[r] = max;
    // LLM.int8() (Dettmers et al. 2022, eq. 1): scale 127/absmax in float32, round half to even.
    const scale = max === 0 ? 0 : Math.fround(127 / max);
    for (let c = 0; c < cols; c++) {
      codes[r * cols + c] = roundHalfEven(Math.fround(tensor.data[r * cols + c]! * scale));
    }
  }
  return { kind: 'int8', shape: [rows, cols], codes, rowAbsmax };
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Restores a quantized tensor to fp32. */
export function dequantizeTensor(q: QuantizedTensor): Float32Tensor {
  if (q.kind === 'int8') {
    const [rows, cols] = q.shape;
    const data = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      const scale = Math.fround(q.rowAbsmax[r]! / 127);
      for (let c = 0; c < cols; c++) data[r * cols + c] = q.codes[r * cols + c]! * scale;
    }
    return { shape: q.shape, data };
  }
  const count = q.shape.reduce((a, d) => a * d, 1);
  const data = dequantize4bit(q.packed, blockAbsmax(q), q.quantMap, q.blockSize, count);
  return { shape: q.shape, data };
}
