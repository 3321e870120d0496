import { ModelFileError } from '../config/model-file-error.js';
import { DTYPE_BYTES, isSafetensorsDtype, type SafetensorsDtype } from './dtype.js';

/**
 * Upper bound on the JSON header, as in the reference Rust implementation (100 MB): a larger
 * length prefix is a corrupt or hostile file, and trusting it would allocate that much.
 */
export const MAX_HEADER_BYTES = 100_000_000;

/** Where one tensor lies in a safetensors file. */
export interface SafetensorsEntry {
  /** Tensor name as stored. */
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** Absolute byte offset of the first byte in the file. */
  readonly start: number;
  /** Absolute byte offset one past the last byte in the file. */
  readonly end: number;
}

/** The validated header of a safetensors file. */
export interface SafetensorsHeader {
  /** Tensors in file order (by start offset). */
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
  /** The `__metadata__` string map (empty when absent). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Absolute offset where the data section starts (8 + header length). */
  readonly dataStart: number;
}

/**
 * Reads the 8-byte little-endian header length from the first bytes of a file and checks it
 * against the file size and {@link MAX_HEADER_BYTES}.
 */
export function readHeaderLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8 || prefix.length < 8) {
    throw new ModelFileError(
      file,
      `truncated safetensors file: ${fileSize} bytes, need at least 8`,
    );
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const length = view.getBigUint64(0, true);
  if (length > BigInt(MAX_HEADER_BYTES)) {
    throw new ModelFileError(
      file,
      `safetensors header length ${length} exceeds the ${MAX_HEADER_BYTES}-byte limit`,
    );
  }
  const n = Number(length);
  if (8 + n > fileSize) {
    throw new ModelFileError(
      file,
      `truncated safetensors file: header says ${n} bytes but only ${fileSize - 8} follow`,
    );
  }
  return n;
}

/**
 * Parses and validates a safetensors header: JSON object, known dtypes, integer shapes,
 * offsets inside the data section, byte length equal to shape x dtype size, no overlaps
 * and no gaps (as the reference implementation requires, so every byte is accounted for).
 *
 * @param headerBytes the JSON bytes (without the 8-byte length prefix)
 * @param fileSize total file size in bytes
 * @param file path used in error messages
 */
export function parseSafetensorsHeader(
  headerBytes: Uint8Array,
  fileSize: number,
  file: string,
): SafetensorsHeader {
  const dataStart = 8 + headerBytes.length;
  const dataSize = fileSize - dataStart;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (cause) {
    throw new ModelFileError(file, 'safetensors header is not valid UTF-8 JSON', { cause });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ModelFileError(file, 'safetensors header is not a JSON object');
  }
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new ModelFileError(file, '"__metadata__" must be an object of strings');
      }
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') {
          throw new ModelFileError(file, `"__metadata__.${k}" must be a string`);
        }
        metadata[k] = v;
      }
      continue;
    }
    entries.push(parseEntry(name, value, dataStart, dataSize, file));
  }
  entries.sort((a, b) => a.start - b.start || a.end - b.end);
  let cursor = dataStart;
  for (const entry of entries) {
    if (entry.start < cursor) {
      throw new ModelFileError(file, `tensor "${entry.name}" overlaps the tensor before it`);
    }
    if (entry.start > cursor) {
      throw new ModelFileError(
        file,
        `gap of ${entry.start - cursor} bytes before tensor "${entry.name}"`,
      );
    }
    cursor = entry.end;
  }
  if (cursor !== fileSize) {
    throw new ModelFileError(
      file,
      `tensors cover ${cursor - dataStart} of the ${dataSize} data bytes (file truncated or padded)`,
    );
  }
  return { entries: new Map(entries.map((e) => [e.name, e])), metadata, dataStart };
}

function parseEntry(
  name: string,
  value: unknown,
  dataStart: number,
  dataSize: number,
  file: string,
): SafetensorsEntry {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ModelFileError(file, `tensor "${name}" entry is not an object`);
  }
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (!isSafetensorsDtype(dtype)) {
    throw new ModelFileError(file, `tensor "${name}" has unknown dtype ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw new ModelFileError(
      file,
      `tensor "${name}" shape must be an array of non-negative integers`,
    );
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)
  ) {
    throw new ModelFileError(
      file,
      `tensor "${name}" data_offsets must be two non-negative integers`,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataSize) {
    throw new ModelFileError(
      file,
      `tensor "${name}" data_offsets [${begin}, ${end}] fall outside the ${dataSize}-byte data section`,
    );
  }
  const dims = shape as number[];
  const bytes = dims.reduce((a, d) => a * d, 1) * DTYPE_BYTES[dtype];
  if (bytes !== end - begin) {
    throw new ModelFileError(
      file,
      `tensor "${name}" holds ${end - begin} bytes but ${dtype}[${dims.join(', ')}] needs ${bytes}`,
    );
  }
  return { name, dtype, shape: dims, start: dataStart + begin, end: dataStart + end };
}
