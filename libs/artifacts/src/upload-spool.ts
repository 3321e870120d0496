import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import type { ByteSource } from './artifact-store.js';
import { byteChunks } from './byte-chunks.js';

/** Spill files are named `lathe-upload-<pid>-<random>.spool`; the pid lets a sweep find orphans. */
const SPOOL_PREFIX = 'lathe-upload-';
const SPOOL_NAME = /^lathe-upload-(\d+)-[0-9a-f]{16}\.spool$/;

/** Options for {@link UploadSpool.fill}. */
export interface UploadSpoolOptions {
  /** Directory for uploads larger than `memoryLimitBytes`. Default: the OS temp directory. */
  dir?: string;
  /** Bytes kept in memory before spilling to a file. Default 8 MiB. */
  memoryLimitBytes?: number;
}

/**
 * Holds an upload while its digest is computed. A content-addressed name is known only after the
 * last byte, but the object store wants the name before the first: so the bytes are read once
 * into this spool (memory, spilling to a temp file past a limit), then sent from it.
 */
export class UploadSpool {
  private constructor(
    readonly sha256: string,
    readonly size: number,
    private readonly chunks: Uint8Array[] | undefined,
    private readonly file: string | undefined,
  ) {}

  /** Reads `source` to the end, hashing it. */
  static async fill(source: ByteSource, options: UploadSpoolOptions = {}): Promise<UploadSpool> {
    const limit = options.memoryLimitBytes ?? 8 * 1024 * 1024;
    const hash = createHash('sha256');
    let size = 0;
    let chunks: Uint8Array[] = [];
    let file: string | undefined;
    let handle: FileHandle | undefined;
    try {
      for await (const chunk of byteChunks(source)) {
        hash.update(chunk);
        size += chunk.byteLength;
        if (handle === undefined && size > limit) {
          file = join(
            options.dir ?? tmpdir(),
            `${SPOOL_PREFIX}${process.pid}-${randomBytes(8).toString('hex')}.spool`,
          );
          handle = await open(file, 'wx', 0o600);
          for (const held of chunks) await handle.write(held);
          chunks = [];
        }
        if (handle === undefined)
          chunks.push(Uint8Array.from(chunk)); // a copy: the source may reuse its buffer
        else await handle.write(chunk);
      }
      await handle?.close();
    } catch (error) {
      await handle?.close().catch(() => undefined);
      if (file !== undefined) await unlink(file).catch(() => undefined);
      throw error;
    }
    return new UploadSpool(hash.digest('hex'), size, file === undefined ? chunks : undefined, file);
  }

  /** The spooled bytes as a web stream (what the NATS object store reads). */
  stream(): ReadableStream<Uint8Array> {
    const node =
      this.file === undefined ? Readable.from(this.chunks ?? []) : createReadStream(this.file);
    return Readable.toWeb(node) as ReadableStream<Uint8Array>;
  }

  /** Removes the spill file, if any. */
  async dispose(): Promise<void> {
    if (this.file !== undefined) await unlink(this.file).catch(() => undefined);
  }
}

/**
 * Removes spill files whose writing process no longer runs (it was killed mid-upload). The spool
 * directory is local to this host, so a pid that is not running here is really gone. Returns how
 * many files were removed.
 */
export async function sweepAbandonedSpools(dir: string = tmpdir()): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir)) {
    const pid = SPOOL_NAME.exec(name)?.[1];
    if (pid === undefined || processRuns(Number(pid))) continue;
    await unlink(join(dir, name)).catch(() => undefined);
    removed++;
  }
  return removed;
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
