import type { ArtifactStore } from '@lathe/artifacts';
import { LatheError } from '@lathe/service-kit';
import type { ManifestFile } from './manifest.js';

/** One part of a download: a file header, or the next bytes of the current file. */
export type DownloadPart =
  | { readonly kind: 'file'; readonly file: ManifestFile; readonly offset: number }
  | { readonly kind: 'chunk'; readonly bytes: Uint8Array };

/** Where to start and how to cut a download. */
export interface DownloadPlan {
  /** Only these paths; empty means every file. */
  readonly paths: readonly string[];
  /** Skip files sorting before this path; '' means from the first. */
  readonly resumePath: string;
  /** Byte offset within resumePath. */
  readonly resumeOffset: number;
  /** Bytes per chunk. */
  readonly chunkSize: number;
}

/** 1 MiB, the default chunk. */
export const DEFAULT_CHUNK = 1024 * 1024;
/** 4 MiB, the largest chunk (the default gRPC message limit). */
export const MAX_CHUNK = 4 * 1024 * 1024;

/**
 * Streams `files` (sorted by path) as headers and chunks from the artifact store, starting at
 * `resumePath` + `resumeOffset`. The artifact store verifies each blob while it is read, so a
 * blob whose bytes changed in the store fails the stream instead of completing it.
 */
export async function* downloadParts(
  artifacts: ArtifactStore,
  files: readonly ManifestFile[],
  plan: DownloadPlan,
  signal: AbortSignal,
): AsyncGenerator<DownloadPart> {
  const wanted = plan.paths.length === 0 ? files : files.filter((f) => plan.paths.includes(f.path));
  for (const p of plan.paths)
    if (!files.some((f) => f.path === p))
      throw LatheError.invalidArgument([
        { field: 'paths', description: `"${p}" is not a file of this version` },
      ]);
  if (plan.resumePath !== '' && !wanted.some((f) => f.path === plan.resumePath))
    throw LatheError.invalidArgument([
      { field: 'resume_path', description: `"${plan.resumePath}" is not a file of this download` },
    ]);
  const chunkSize = plan.chunkSize <= 0 ? DEFAULT_CHUNK : Math.min(plan.chunkSize, MAX_CHUNK);
  for (const file of wanted) {
    if (plan.resumePath !== '' && file.path < plan.resumePath) continue;
    const offset = file.path === plan.resumePath ? plan.resumeOffset : 0;
    if (offset > file.size)
      throw LatheError.invalidArgument([
        {
          field: 'resume_offset',
          description: `${String(offset)} is past the end of "${file.path}" (${String(file.size)} bytes)`,
        },
      ]);
    yield { kind: 'file', file, offset };
    // The store verifies the whole blob as it is read and holds back its last chunk until the
    // digest matched, so a corrupted blob fails the stream before its end is sent. Bytes before
    // the offset are read (and so verified) and dropped.
    const stream = await artifacts.get(`sha256:${file.sha256}`);
    let position = 0;
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    try {
      for await (const raw of stream as AsyncIterable<Buffer>) {
        signal.throwIfAborted();
        let piece: Uint8Array = raw;
        if (position + raw.length <= offset) {
          position += raw.length;
          continue;
        }
        if (position < offset) piece = raw.subarray(offset - position);
        position += raw.length;
        pending.push(piece);
        pendingBytes += piece.length;
        while (pendingBytes >= chunkSize) {
          const all = Buffer.concat(pending);
          yield { kind: 'chunk', bytes: all.subarray(0, chunkSize) };
          const rest = all.subarray(chunkSize);
          pending = rest.length > 0 ? [rest] : [];
          pendingBytes = rest.length;
        }
      }
    } finally {
      stream.destroy();
    }
    if (position !== file.size)
      throw LatheError.internal(
        new Error(
          `blob of "${file.path}" is ${String(position)} bytes, its manifest says ${String(file.size)}`,
        ),
      );
    if (pendingBytes > 0) yield { kind: 'chunk', bytes: Buffer.concat(pending) };
  }
}
