import { createHash } from 'node:crypto';
import type { DatasetSplit } from '@lathe/contracts/lathe/common/v1/dataset_ref';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import { DatasetKind } from '@lathe/contracts/lathe/datasets/v1/dataset';
import { ExportFormat } from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import type { ExportDatasetVersionResponse } from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import { LatheError } from '@lathe/service-kit';
import type { CanonicalMessage } from '../domain/canonical-record.js';
import { jsonlLines } from '../domain/jsonl-lines.js';
import type { DatasetRow, VersionRow } from '../store/datasets-store.js';
import type { DatasetsDeps } from './datasets-deps.js';
import { canonicalOf, JSONL_MEDIA_TYPE } from './proto-mapping.js';
import { splitBlobs } from './version-records.js';
import { Record as ProtoRecord } from '@lathe/contracts/lathe/datasets/v1/record';

const CHUNK_BYTES = 1 << 20;

type LineFormat = (storedLine: string) => string;

const plain = (list: readonly CanonicalMessage[]): { role: string; content: string }[] =>
  list.map((m) => ({ role: m.role, content: m.content }));

/** How each stored line is written in the requested layout. */
function lineFormat(format: ExportFormat, kind: DatasetKind): LineFormat {
  if (
    format === ExportFormat.EXPORT_FORMAT_UNSPECIFIED ||
    format === ExportFormat.EXPORT_FORMAT_LATHE_JSONL
  )
    return (line) => line;
  const wanted =
    format === ExportFormat.EXPORT_FORMAT_CHAT_JSONL
      ? DatasetKind.DATASET_KIND_SFT
      : DatasetKind.DATASET_KIND_PREFERENCE;
  if (
    format !== ExportFormat.EXPORT_FORMAT_CHAT_JSONL &&
    format !== ExportFormat.EXPORT_FORMAT_PREFERENCE_JSONL
  )
    throw LatheError.invalidArgument([
      { field: 'format', description: `unknown export format ${String(format)}` },
    ]);
  if (kind !== wanted)
    throw LatheError.invalidArgument(
      [
        {
          field: 'format',
          description: `${ExportFormat[format]} is for ${wanted === DatasetKind.DATASET_KIND_SFT ? 'SFT' : 'preference'} datasets only`,
        },
      ],
      { reason: ErrorReason.ERROR_REASON_RECORD_KIND_MISMATCH },
    );
  return (line) => {
    const stored = ProtoRecord.fromJSON(JSON.parse(line));
    const record = canonicalOf(stored.content);
    // The record's metadata (e.g. `provenance`, `weight`) goes back beside the content, as it
    // was uploaded; content keys win over a metadata key of the same name.
    const metadata: Record<string, unknown> = stored.metadata ?? {};
    switch (record.type) {
      case 'conversation':
        return JSON.stringify({ ...metadata, messages: plain(record.messages) });
      case 'text':
        // Plain-text records have no chat form; they keep the `text` layout the trainer reads.
        return JSON.stringify({ ...metadata, text: record.text });
      case 'preference':
        return JSON.stringify({
          ...metadata,
          prompt: plain(record.prompt),
          chosen: plain(record.chosen),
          rejected: plain(record.rejected),
        });
    }
  };
}

async function* exportLines(
  deps: DatasetsDeps,
  version: VersionRow,
  split: DatasetSplit,
  format: LineFormat,
): AsyncGenerator<string> {
  for (const blob of splitBlobs(version, split)) {
    const stream = await deps.artifacts.get(`sha256:${blob.sha256}`);
    try {
      for await (const { text } of jsonlLines(stream)) if (text !== '') yield `${format(text)}\n`;
    } finally {
      stream.destroy();
    }
  }
}

/**
 * Streams a version (or one split) as a JSONL file: a header with the file's digest, size and
 * line count, then chunks of up to 1 MiB. The digest must come first, so the file is produced
 * twice from the stored blobs: once to hash it, once to send it (nothing is held in memory).
 */
export async function* exportVersion(
  deps: DatasetsDeps,
  dataset: DatasetRow,
  version: VersionRow,
  split: DatasetSplit,
  format: ExportFormat,
  signal: AbortSignal,
): AsyncGenerator<ExportDatasetVersionResponse> {
  const toLine = lineFormat(format, dataset.kind);
  const hash = createHash('sha256');
  let size = 0;
  let count = 0;
  for await (const line of exportLines(deps, version, split, toLine)) {
    signal.throwIfAborted();
    const bytes = Buffer.from(line, 'utf8');
    hash.update(bytes);
    size += bytes.length;
    count++;
  }
  yield {
    message: {
      $case: 'header',
      header: {
        file: { sha256: hash.digest('hex'), sizeBytes: size, mediaType: JSONL_MEDIA_TYPE, uri: '' },
        recordCount: count,
      },
    },
  };
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const line of exportLines(deps, version, split, toLine)) {
    signal.throwIfAborted();
    const bytes = Buffer.from(line, 'utf8');
    pending.push(bytes);
    pendingBytes += bytes.length;
    if (pendingBytes >= CHUNK_BYTES) {
      yield { message: { $case: 'chunk', chunk: Buffer.concat(pending) } };
      pending = [];
      pendingBytes = 0;
    }
  }
  if (pending.length > 0) yield { message: { $case: 'chunk', chunk: Buffer.concat(pending) } };
}
