import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import type { ImportModelRequest } from '@lathe/contracts/lathe/registry/v1/registry_service';
import { LatheError } from '@lathe/service-kit';
import { pathProblem, type ManifestFile } from './manifest.js';
import { makeStagingDir, type StagedDir } from './staging.js';

/** The model header of an upload. */
export interface UploadHeader {
  readonly name: string;
  readonly description: string;
  readonly labels: Readonly<Record<string, string>>;
}

function bad(
  field: string,
  description: string,
  reason = ErrorReason.ERROR_REASON_INVALID_ARGUMENT,
): LatheError {
  return LatheError.invalidArgument([{ field, description }], { reason });
}

interface OpenFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  readonly out: WriteStream;
  readonly hash: ReturnType<typeof createHash>;
  received: number;
}

/**
 * Writes an ImportModel client stream into a staging directory: a model header first, then per
 * file a header and its chunks. Each file must add up to its declared size and hash to its
 * declared sha256 (DIGEST_MISMATCH otherwise), and the declared file count must arrive; on any
 * failure the directory is removed and nothing else happened.
 */
export async function stageUpload(
  requests: AsyncIterable<ImportModelRequest>,
  workDir: string,
): Promise<{ header: UploadHeader; staged: StagedDir }> {
  const dir = await makeStagingDir(workDir, 'upload');
  const files: ManifestFile[] = [];
  let header: (UploadHeader & { fileCount: number }) | undefined;
  let current: OpenFile | undefined;
  const finish = async (): Promise<void> => {
    if (current === undefined) return;
    const f = current;
    current = undefined;
    f.out.end();
    await once(f.out, 'close');
    if (f.received !== f.size)
      throw bad(
        'chunk',
        `file "${f.path}" ended after ${String(f.received)} of its ${String(f.size)} bytes (truncated upload)`,
        ErrorReason.ERROR_REASON_DIGEST_MISMATCH,
      );
    const sha256 = f.hash.digest('hex');
    if (sha256 !== f.sha256)
      throw bad(
        'file.sha256',
        `file "${f.path}" hashes to ${sha256}, not the declared ${f.sha256}`,
        ErrorReason.ERROR_REASON_DIGEST_MISMATCH,
      );
    files.push({ path: f.path, sha256, size: f.size });
  };
  try {
    for await (const req of requests) {
      const m = req.message;
      if (m === undefined) throw bad('message', 'each message must set model, file or chunk');
      if (m.$case === 'model') {
        if (header !== undefined) throw bad('model', 'the model header must come exactly once');
        header = {
          name: m.model.name,
          description: m.model.description,
          labels: m.model.labels,
          fileCount: m.model.fileCount,
        };
      } else if (header === undefined) {
        throw bad(
          'model',
          'the first message must be the model header',
          ErrorReason.ERROR_REASON_UPLOAD_HEADER_REQUIRED,
        );
      } else if (m.$case === 'file') {
        await finish();
        const problem = pathProblem(m.file.path);
        if (problem !== undefined) throw bad('file.path', `"${m.file.path}" ${problem}`);
        if (files.some((f) => f.path === m.file.path))
          throw bad('file.path', `"${m.file.path}" is sent twice`);
        if (!/^[0-9a-f]{64}$/.test(m.file.sha256))
          throw bad('file.sha256', 'must be 64 lowercase hex digits');
        if (m.file.sizeBytes < 0) throw bad('file.size_bytes', 'must not be negative');
        const target = join(dir, ...m.file.path.split('/'));
        await mkdir(dirname(target), { recursive: true });
        current = {
          path: m.file.path,
          size: m.file.sizeBytes,
          sha256: m.file.sha256,
          out: createWriteStream(target),
          hash: createHash('sha256'),
          received: 0,
        };
      } else {
        const f = current;
        if (f === undefined) throw bad('chunk', 'a chunk must follow a file header');
        f.received += m.chunk.length;
        if (f.received > f.size)
          throw bad(
            'chunk',
            `file "${f.path}" got more than its declared ${String(f.size)} bytes`,
            ErrorReason.ERROR_REASON_DIGEST_MISMATCH,
          );
        f.hash.update(m.chunk);
        if (!f.out.write(m.chunk)) await once(f.out, 'drain');
      }
    }
    if (header === undefined)
      throw bad(
        'model',
        'the stream carried no model header',
        ErrorReason.ERROR_REASON_UPLOAD_HEADER_REQUIRED,
      );
    await finish();
    if (files.length !== header.fileCount)
      throw bad(
        'model.file_count',
        `the header announced ${String(header.fileCount)} files but ${String(files.length)} arrived`,
      );
  } catch (error) {
    current?.out.destroy();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const { fileCount: _count, ...rest } = header;
  return {
    header: rest,
    staged: { dir, files, remove: () => rm(dir, { recursive: true, force: true }) },
  };
}
