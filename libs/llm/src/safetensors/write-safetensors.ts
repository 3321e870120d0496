import { writeFile } from 'node:fs/promises';
import type { Float32Tensor } from './read-safetensors.js';

/**
 * Encodes fp32 tensors as a safetensors file. Tensors are laid out in the map's order; the
 * header is padded with spaces to a multiple of 8 bytes so the data section is aligned, as
 * the reference writer does.
 *
 * @param tensors name -> tensor
 * @param metadata optional `__metadata__` (string values only, per the format)
 */
export function encodeSafetensors(
  tensors: ReadonlyMap<string, Float32Tensor>,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header['__metadata__'] = metadata;
  let offset = 0;
  for (const [name, tensor] of tensors) {
    const count = tensor.shape.reduce((a, d) => a * d, 1);
    if (count !== tensor.data.length) {
      throw new Error(
        `tensor "${name}": shape [${tensor.shape.join(', ')}] holds ${count} values but data has ${tensor.data.length}`,
      );
    }
    header[name] = {
      dtype: 'F32',
      shape: tensor.shape,
      data_offsets: [offset, offset + count * 4],
    };
    offset += count * 4;
  }
  let json = JSON.stringify(header);
  const rawLength = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - (rawLength % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let cursor = 8 + headerBytes.length;
  for (const tensor of tensors.values()) {
    out.set(
      new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength),
      cursor,
    );
    cursor += tensor.data.byteLength;
  }
  return out;
}

/** Writes fp32 tensors (and optional string metadata) to a `.safetensors` file. */
export async function writeSafetensors(
  path: string,
  tensors: ReadonlyMap<string, Float32Tensor>,
  metadata: Readonly<Record<string, string>> = {},
): Promise<void> {
  await writeFile(path, encodeSafetensors(tensors, metadata));
}
