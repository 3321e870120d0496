import type { FourBitType } from './codebooks.js';
import { nearestDynamicCode } from './dynamic-map.js';

/** Packed 4-bit codes and the absmax of every block. */
export interface Blockwise4bit {
  /** Two codes per byte, the first element in the high nibble; ceil(n / 2) bytes. */
  readonly packed: Uint8Array;
  /** max |x| of each block of `blockSize` elements (the last block may be shorter). */
  readonly absmax: Float32Array;
}

/** 8-bit codes and the absmax of every block. */
export interface Blockwise8bit {
  readonly codes: Uint8Array;
  readonly absmax: Float32Array;
}

/** max |x| over values[start, end). */
function blockAbsmax(values: Float32Array, start: number, end: number): number {
  let m = 0;
  for (let i = start; i < end; i++) {
    const a = Math.abs(values[i]!);
    if (a > m) m = a;
  }
  return m;
}

/**
 * Blockwise 4-bit quantization (QLoRA §3, as bitsandbytes' kernel computes it): each block is
 * scaled by the float32 reciprocal of its absmax (x · (1/absmax), not x / absmax, which can differ
 * in the last bit), then each value takes its nearest code. When n is odd the last byte's low
 * nibble holds the code of a zero, as the kernel pads its loads with zeros.
 *
 * @param values float32 elements in row-major order
 * @param type NF4 or FP4
 * @param blockSize elements per absmax
 */
export function quantize4bit(
  values: Float32Array,
  type: FourBitType,
  blockSize: number,
): Blockwise4bit {
  const n = values.length;
  const blocks = Math.ceil(n / blockSize);
  const packed = new Uint8Array(Math.ceil(n / 2));
  const absmax = new Float32Array(blocks);
  const encode = type.encode;
  for (let b = 0; b < blocks; b++) {
    const start = b * blockSize;
    const end = Math.min(n, start + blockSize);
    const max = blockAbsmax(values, start, end);
    absmax[b] = max;
    const inverse = Math.fround(1 / max);
    // Block sizes are even, so a block never splits a byte; only the tensor's end can.
    for (let i = start; i < end; i += 2) {
      const high = encode(Math.fround(values[i]! * inverse));
      const low = encode(Math.fround((i + 1 < end ? values[i + 1]! : 0) * inverse));
      packed[i >> 1] = (high << 4) | low;
    }
  }
  return { packed, absmax };
}

/**
 * Inverse of {@link quantize4bit}: value = codebook[code] · absmax (float32 product).
 *
 * @param codebook code -> value (a checkpoint's `quant_map`)
 * @param count number of elements (the packed bytes may hold one padding nibble more)
 */
export function dequantize4bit(
  packed: Uint8Array,
  absmax: Float32Array,
  codebook: Float32Array,
  blockSize: number,
  count: number,
): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const byte = packed[i >> 1]!;
    const code = i % 2 === 0 ? byte >> 4 : byte & 0x0f;
    out[i] = codebook[code]! * absmax[Math.floor(i / blockSize)]!;
  }
  return out;
}

/**
 * Blockwise 8-bit quantization against an ascending 256-value map (bitsandbytes'
 * `quantize_blockwise`): scale by 1/absmax per block, then the nearest code.
 */
export function quantizeBlockwise8bit(
  values: Float32Array,
  map: Float32Array,
  blockSize: number,
): Blockwise8bit {
  const n = values.length;
  const blocks = Math.ceil(n / blockSize);
  const codes = new Uint8Array(n);
  const absmax = new Float32Array(blocks);
  for (let b = 0; b < blocks; b++) {
    const start = b * blockSize;
    const end = Math.min(n, start + blockSize);
    const max = blockAbsmax(values, start, end);
    absmax[b] = max;
    const inverse = Math.fround(1 / max);
    for (let i = start; i < end; i++) {
      codes[i] = nearestDynamicCode(map, Math.fround(values[i]! * inverse));
    }
  }
  return { codes, absmax };
}

/** Inverse of {@link quantizeBlockwise8bit}: map[code] · absmax, then + offset (float32). */
export function dequantizeBlockwise8bit(
  codes: Uint8Array,
  absmax: Float32Array,
  map: Float32Array,
  blockSize: number,
  offset = 0,
): Float32Array {
  const out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) {
    out[i] = Math.fround(map[codes[i]!]! * absmax[Math.floor(i / blockSize)]!) + offset;
  }
  return out;
}
