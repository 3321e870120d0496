import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Client } from '@grpc/grpc-js';
import type { ImportModelRequest } from '@lathe/contracts/lathe/registry/v1/registry_service';
import {
  RegistryServiceService,
  type ImportModelResponse,
} from '@lathe/contracts/lathe/registry/v1/registry_service';

/** Options of {@link uploadModelDir}. */
export interface UploadModelDirOptions {
  readonly description?: string;
  readonly labels?: Record<string, string>;
  readonly deadlineMs?: number;
  /** Bytes per chunk message; default 1 MiB. */
  readonly chunkSize?: number;
  /** Test hook: stop sending a file after this many of its bytes (a truncated upload). */
  readonly truncateAfter?: number;
}

async function filesOf(
  dir: string,
): Promise<Array<{ path: string; full: string; size: number; sha256: string }>> {
  const out = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const full = join(e.parentPath, e.name);
    const path = relative(dir, full).split(sep).join('/');
    if (path.split('/').some((s) => s.startsWith('.'))) continue;
    const hash = createHash('sha256');
    let size = 0;
    for await (const c of createReadStream(full) as AsyncIterable<Buffer>) {
      hash.update(c);
      size += c.length;
    }
    out.push({ path, full, size, sha256: hash.digest('hex') });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Imports a model directory over the ImportModel client stream: the header, then per file its
 * size and sha256 and its bytes in chunks, with flow control (waits when the channel is full).
 */
export async function uploadModelDir(
  channel: Client,
  name: string,
  dir: string,
  options: UploadModelDirOptions = {},
): Promise<ImportModelResponse> {
  const files = await filesOf(dir);
  const d = RegistryServiceService.importModel;
  let settle: ((v: ImportModelResponse) => void) | undefined;
  let fail: ((e: unknown) => void) | undefined;
  const result = new Promise<ImportModelResponse>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  // The server may refuse the stream while chunks are still being written (a truncated file, a bad
  // header): its status is the answer the caller wants, so the pending writes must neither leave
  // this promise rejected with nobody listening nor replace the status with a local write error.
  let answered = false;
  result.catch(() => undefined);
  const call = channel.makeClientStreamRequest(
    d.path,
    d.requestSerialize,
    d.responseDeserialize,
    { deadline: Date.now() + (options.deadlineMs ?? 600_000) },
    (error, value) => {
      answered = true;
      if (error !== null || value === undefined) fail?.(error ?? new Error('no response'));
      else settle?.(value);
    },
  );
  const send = async (m: ImportModelRequest): Promise<void> => {
    if (answered) throw new Error('the server answered before the upload ended');
    if (!call.write(m)) await Promise.race([new Promise((r) => call.once('drain', r)), result]);
  };
  try {
    await send({
      message: {
        $case: 'model',
        model: {
          name,
          description: options.description ?? '',
          labels: options.labels ?? {},
          fileCount: files.length,
        },
      },
    });
    for (const f of files) {
      await send({
        message: { $case: 'file', file: { path: f.path, sizeBytes: f.size, sha256: f.sha256 } },
      });
      let sent = 0;
      const chunk = options.chunkSize ?? 1024 * 1024;
      for await (const c of createReadStream(f.full, {
        highWaterMark: chunk,
      }) as AsyncIterable<Buffer>) {
        const room =
          options.truncateAfter === undefined
            ? c.length
            : Math.max(0, options.truncateAfter - sent);
        if (room > 0)
          await send({
            message: { $case: 'chunk', chunk: c.subarray(0, Math.min(room, c.length)) },
          });
        sent += c.length;
      }
    }
    call.end();
  } catch (error) {
    call.cancel();
    if (answered) return result;
    throw error;
  }
  return result;
}
