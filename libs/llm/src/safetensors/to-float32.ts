import { ModelFileError } from '../config/model-file-error.js';
import type { SafetensorsEntry } from './header.js';

/**
 * Decodes one floating-point tensor to a fresh Float32Array. bf16 widens exactly (its bits are
 * the top half of an fp32); fp16 widens exactly, subnormals included; fp64 rounds to nearest.
 * The CPU build of onnxruntime has no bf16 kernels (ENGINE-NOTES), hence fp32 on load.
 *
 * @param entry where the tensor lies
 * @param file the whole file's bytes (offsets in `entry` are absolute)
 * @param path file path for error messages
 */
export function tensorToFloat32(
  entry: SafetensorsEntry,
  file: Uint8Array,
  path: string,
): Float32Array {
  const count = entry.shape.reduce((a, d) => a * d, 1);
  const out = new Float32Array(count);
  const view = new DataView(file.buffer, file.byteOffset + entry.start, entry.end - entry.start);
  switch (entry.dtype) {
    case 'F32':
      // Copy bytes rather than view them: the data may sit at an unaligned offset.
      new Uint8Array(out.buffer).set(file.subarray(entry.start, entry.end));
      if (!littleEndianHost) for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    case 'BF16': {
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(i * 2, true) << 16;
      return out;
    }
    case 'F16':
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      return out;
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    default:
      throw new ModelFileError(
        path,
        `tensor "${entry.name}" has dtype ${entry.dtype}, expected F32, F16, BF16 or F64`,
      );
  }
}

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** IEEE 754 binary16 bits to a number (exact). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}
