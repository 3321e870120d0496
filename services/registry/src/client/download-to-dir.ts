import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, stat, truncate } from 'node:fs/promises';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import type { Client } from '@grpc/grpc-js';
import type { ModelRef } from '@lathe/contracts/lathe/common/v1/model_ref';
import type { ModelVersion } from '@lathe/contracts/lathe/registry/v1/model';
import {
  DownloadModelRequest,
  RegistryServiceService,
} from '@lathe/contracts/lathe/registry/v1/registry_service';

/** Where a download starts: a file path and a byte offset in it ('' and 0: from the start). */
export interface ResumePoint {
  readonly path: string;
  readonly offset: number;
}

/** Options of {@link downloadToDir}. */
export interface DownloadToDirOptions {
  readonly resume?: ResumePoint;
  readonly chunkSize?: number;
  readonly deadlineMs?: number;
  /** Called after each chunk is written, with the bytes written so far in this call. */
  readonly onChunk?: (bytesThisCall: number, cancel: () => void) => void;
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const c of createReadStream(path) as AsyncIterable<Buffer>) hash.update(c);
  return hash.digest('hex');
}

/**
 * Downloads one version into `outDir` over DownloadModel, writing each file at the offset its
 * header gives (so a resumed file continues where it stopped) and checking each completed file
 * against the sha256 the server sent first. Returns the version; rejects with the stream's
 * error when it is cut, leaving what arrived on disk for {@link resumePointOf}.
 */
export async function downloadToDir(
  channel: Client,
  ref: ModelRef,
  outDir: string,
  options: DownloadToDirOptions = {},
): Promise<ModelVersion> {
  const d = RegistryServiceService.downloadModel;
  const call = channel.makeServerStreamRequest(
    d.path,
    d.requestSerialize,
    d.responseDeserialize,
    DownloadModelRequest.fromPartial({
      ref,
      resumePath: options.resume?.path ?? '',
      resumeOffset: options.resume?.offset ?? 0,
      chunkSize: options.chunkSize ?? 0,
    }),
    { deadline: Date.now() + (options.deadlineMs ?? 600_000) },
  );
  let version: ModelVersion | undefined;
  let current:
    | {
        path: string;
        sha256: string;
        size: number;
        out: WriteStream;
        at: number;
        // Hashed as it arrives when the file starts at 0; a resumed file is hashed from disk.
        hash: Hash | undefined;
      }
    | undefined;
  let bytes = 0;
  const finishFile = async (): Promise<void> => {
    if (current === undefined) return;
    const f = current;
    current = undefined;
    f.out.end();
    await once(f.out, 'close');
    const full = join(outDir, ...f.path.split('/'));
    const got = f.hash === undefined ? await sha256OfFile(full) : f.hash.digest('hex');
    if (got !== f.sha256 || (await stat(full)).size !== f.size)
      throw new Error(`downloaded "${f.path}" hashes to ${got}, the registry said ${f.sha256}`);
  };
  try {
    for await (const msg of call as AsyncIterable<{
      message?: { $case: string } & Record<string, unknown>;
    }>) {
      const m = msg.message as
        | { $case: 'version'; version: ModelVersion }
        | {
            $case: 'file';
            file: { path: string; sizeBytes: number; sha256: string; offset: number };
          }
        | { $case: 'chunk'; chunk: Buffer }
        | undefined;
      if (m === undefined) continue;
      if (m.$case === 'version') version = m.version;
      else if (m.$case === 'file') {
        await finishFile();
        const full = join(outDir, ...m.file.path.split('/'));
        await mkdir(dirname(full), { recursive: true });
        if (m.file.offset > 0) await truncate(full, m.file.offset);
        current = {
          path: m.file.path,
          sha256: m.file.sha256,
          size: m.file.sizeBytes,
          at: m.file.offset,
          hash: m.file.offset === 0 ? createHash('sha256') : undefined,
          out: createWriteStream(full, {
            flags: m.file.offset > 0 ? 'r+' : 'w',
            start: m.file.offset,
          }),
        };
      } else {
        if (current === undefined)
          throw new Error('the registry sent a chunk before a file header');
        current.hash?.update(m.chunk);
        if (!current.out.write(m.chunk)) await once(current.out, 'drain');
        current.at += m.chunk.length;
        bytes += m.chunk.length;
        options.onChunk?.(bytes, () => call.cancel());
      }
    }
    await finishFile();
  } catch (error) {
    if (current !== undefined) {
      current.out.end();
      await once(current.out, 'close');
    }
    throw error;
  }
  if (version === undefined) throw new Error('the registry sent no version');
  return version;
}

/**
 * Where to resume a download into `outDir` of `files` (sorted by path): the first file that is
 * missing or shorter than its size, at its current length; undefined when all are complete.
 */
export async function resumePointOf(
  outDir: string,
  files: ReadonlyArray<{ path: string; artifact?: { sizeBytes: number } | undefined }>,
): Promise<ResumePoint | undefined> {
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    let size = 0;
    try {
      size = (await stat(join(outDir, ...f.path.split('/')))).size;
    } catch {
      return { path: f.path, offset: 0 };
    }
    if (size < (f.artifact?.sizeBytes ?? 0)) return { path: f.path, offset: size };
  }
  return undefined;
}
