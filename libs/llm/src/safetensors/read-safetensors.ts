import { readFile } from 'node:fs/promises';
import { ModelFileError } from '../config/model-file-error.js';
import { parseSafetensorsHeader, readHeaderLength, type SafetensorsHeader } from './header.js';
import { tensorToFloat32 } from './to-float32.js';

/** A dense fp32 tensor in row-major order. */
export interface Float32Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** A safetensors file read into memory with every tensor widened to fp32. */
export interface SafetensorsContents {
  readonly tensors: Map<string, Float32Tensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * Validates a safetensors buffer's header (see {@link parseSafetensorsHeader}).
 *
 * @param bytes the whole file
 * @param path file path for error messages
 */
export function parseSafetensorsBuffer(bytes: Uint8Array, path: string): SafetensorsHeader {
  const headerLength = readHeaderLength(bytes, bytes.length, path);
  return parseSafetensorsHeader(bytes.subarray(8, 8 + headerLength), bytes.length, path);
}

/**
 * Decodes every tensor of a safetensors buffer to fp32.
 *
 * @param bytes the whole file
 * @param path file path for error messages
 */
export function decodeSafetensors(bytes: Uint8Array, path: string): SafetensorsContents {
  const header = parseSafetensorsBuffer(bytes, path);
  const tensors = new Map<string, Float32Tensor>();
  for (const entry of header.entries.values()) {
    tensors.set(entry.name, { shape: entry.shape, data: tensorToFloat32(entry, bytes, path) });
  }
  return { tensors, metadata: header.metadata };
}

/**
 * Reads a `.safetensors` file and widens its tensors to fp32.
 *
 * @throws ModelFileError naming the file when it is missing, truncated or malformed
 */
export async function readSafetensors(path: string): Promise<SafetensorsContents> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new ModelFileError(path, `cannot read: ${(cause as Error).message}`, { cause });
  }
  return decodeSafetensors(bytes, path);
}
