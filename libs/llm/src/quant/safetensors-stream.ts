import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { ModelFileError } from '../config/model-file-error.js';
import type { SafetensorsDtype } from '../safetensors/dtype.js';
import {
  parseSafetensorsHeader,
  readHeaderLength,
  type SafetensorsEntry,
  type SafetensorsHeader,
} from '../safetensors/header.js';
import { tensorToFloat32 } from '../safetensors/to-float32.js';

/** A tensor as raw little-endian bytes of any safetensors dtype. */
export interface RawTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

/**
 * Reads tensors of a safetensors file one at a time, so quantizing a model holds one tensor in
 * memory, never the whole file. Uses the package's header validation.
 */
export class SafetensorsFileReader {
  private constructor(
    private readonly handle: FileHandle,
    /** The file's path, for messages. */
    readonly path: string,
    /** The validated header. */
    readonly header: SafetensorsHeader,
  ) {}

  /** Opens a file and validates its header. @throws ModelFileError */
  static async open(path: string): Promise<SafetensorsFileReader> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (cause) {
      throw new ModelFileError(path, `cannot read: ${(cause as Error).message}`, { cause });
    }
    try {
      const { size } = await handle.stat();
      const prefix = Buffer.alloc(8);
      await handle.read(prefix, 0, Math.min(8, size), 0);
      const length = readHeaderLength(prefix, size, path);
      const json = Buffer.alloc(length);
      await handle.read(json, 0, length, 8);
      return new SafetensorsFileReader(handle, path, parseSafetensorsHeader(json, size, path));
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** The raw bytes of one tensor. */
  async readRaw(entry: SafetensorsEntry): Promise<RawTensor> {
    const bytes = Buffer.alloc(entry.end - entry.start);
    await this.handle.read(bytes, 0, bytes.length, entry.start);
    return { dtype: entry.dtype, shape: entry.shape, bytes };
  }

  /** One floating-point tensor widened to fp32. */
  async readFloat32(entry: SafetensorsEntry): Promise<Float32Array> {
    const { bytes } = await this.readRaw(entry);
    return tensorToFloat32({ ...entry, start: 0, end: bytes.length }, bytes, this.path);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/**
 * Writes a safetensors file tensor by tensor. The header must precede the data but depends on
 * every tensor's size, which for quantized tensors is known only once they are computed; data is
 * therefore appended to a side file and joined behind the header at {@link finish}. The header is
 * padded to a multiple of 8 bytes, as the reference writer does.
 */
export class SafetensorsStreamWriter {
  private readonly entries: [string, { dtype: string; shape: number[]; data_offsets: number[] }][] =
    [];
  private offset = 0;

  private constructor(
    private readonly path: string,
    private readonly dataPath: string,
    private readonly data: FileHandle,
  ) {}

  /** Starts a file at `path` (written atomically at {@link finish}). */
  static async create(path: string): Promise<SafetensorsStreamWriter> {
    const dataPath = `${path}.data.tmp`;
    return new SafetensorsStreamWriter(path, dataPath, await open(dataPath, 'w'));
  }

  /** Appends one tensor. */
  async add(name: string, tensor: RawTensor): Promise<void> {
    await this.data.write(tensor.bytes);
    this.entries.push([
      name,
      {
        dtype: tensor.dtype,
        shape: [...tensor.shape],
        data_offsets: [this.offset, this.offset + tensor.bytes.length],
      },
    ]);
    this.offset += tensor.bytes.length;
  }

  /** Bytes of tensor data written so far. */
  get dataBytes(): number {
    return this.offset;
  }

  /** Writes header + data to the final path and removes the side file. */
  async finish(metadata: Readonly<Record<string, string>> = {}): Promise<void> {
    await this.data.close();
    const header: Record<string, unknown> = {};
    if (Object.keys(metadata).length > 0) header['__metadata__'] = metadata;
    for (const [name, entry] of this.entries) header[name] = entry;
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - (Buffer.byteLength(json, 'utf8') % 8)) % 8);
    const headerBytes = Buffer.from(json, 'utf8');
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(headerBytes.length));
    const tmp = `${this.path}.tmp`;
    const out = createWriteStream(tmp);
    out.write(prefix);
    out.write(headerBytes);
    await pipeline(createReadStream(this.dataPath), out);
    await rename(tmp, this.path);
    await rm(this.dataPath);
  }

  /** Abandons the file (removes the side file). */
  async abort(): Promise<void> {
    await this.data.close().catch(() => undefined);
    await rm(this.dataPath, { force: true });
  }
}
