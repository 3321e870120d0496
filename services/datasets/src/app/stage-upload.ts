import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { ArtifactIntegrityError } from '@lathe/artifacts';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import { RecordFormat } from '@lathe/contracts/lathe/datasets/v1/dataset';
import type { RejectedRecord, Upload } from '@lathe/contracts/lathe/datasets/v1/dataset';
import { LatheError } from '@lathe/service-kit';
import { FormatKindMismatchError, ingestRecords } from '../domain/ingest-records.js';
import { JsonArrayBodyError } from '../domain/record-source.js';
import { recordsUploadedEvent } from '../events/dataset-events.js';
import type { DatasetsDeps } from './datasets-deps.js';
import { toUpload } from './proto-mapping.js';

/** What the caller states about an upload. */
export interface UploadRequest {
  readonly dataset: string;
  readonly format: RecordFormat;
  readonly sourceName: string;
  readonly maxReportedRejections: number;
}

/** The report of an upload or import. */
export interface UploadReport {
  readonly upload: Upload;
  readonly rejected: RejectedRecord[];
  readonly rejectedTruncated: boolean;
}

/** Where the raw bytes are kept: stored while streaming (upload), or already stored (import). */
export type RawBytes =
  | { readonly kind: 'store'; readonly expectedSha256: string | undefined }
  | { readonly kind: 'stored'; readonly sha256: string; readonly size: number };

/**
 * Stages a JSONL body arriving in chunks into a dataset: each line is parsed and normalized,
 * accepted records are written to the schema in batches as they come (so memory does not grow
 * with the body), and the raw bytes are stored as an artifact at the same time. Until the last
 * chunk the upload is `receiving` and invisible to curation; a failure removes it entirely.
 */
export async function stageUpload(
  deps: DatasetsDeps,
  request: UploadRequest,
  chunks: AsyncIterable<Uint8Array>,
  raw: RawBytes,
): Promise<UploadReport> {
  if (
    request.format === RecordFormat.RECORD_FORMAT_UNSPECIFIED ||
    request.format === RecordFormat.UNRECOGNIZED
  )
    throw LatheError.invalidArgument([
      { field: 'format', description: 'must be set (AUTO detects it)' },
    ]);
  if (request.maxReportedRejections < 0)
    throw LatheError.invalidArgument([
      { field: 'maxReportedRejections', description: 'must not be negative' },
    ]);
  const dataset = await deps.store.getDataset(request.dataset);
  if (dataset === undefined)
    throw LatheError.notFound('dataset', request.dataset, {
      reason: ErrorReason.ERROR_REASON_DATASET_NOT_FOUND,
    });
  const maxReported = request.maxReportedRejections === 0 ? 1000 : request.maxReportedRejections;
  const uploadId = randomUUID();
  await deps.store.beginUpload(uploadId, dataset.id, request.format, request.sourceName);

  const spool = raw.kind === 'store' ? new PassThrough() : undefined;
  const stored =
    spool === undefined
      ? undefined
      : deps.artifacts.put(
          spool,
          raw.kind === 'store' && raw.expectedSha256 !== undefined
            ? { expectedDigest: `sha256:${raw.expectedSha256}` }
            : {},
        );
  // Observed below; this keeps an early storage failure from being reported as unhandled.
  stored?.catch(() => undefined);
  let size = 0;
  async function* tee(): AsyncGenerator<Uint8Array> {
    for await (const chunk of chunks) {
      size += chunk.byteLength;
      if (spool !== undefined && stored !== undefined && !spool.write(chunk))
        await Promise.race([once(spool, 'drain'), stored]);
      yield chunk;
    }
    spool?.end();
  }

  try {
    const result = await ingestRecords(tee(), {
      format: request.format,
      kind: dataset.kind,
      maxReported,
      stage: (batch) =>
        deps.store.stageRecords(
          uploadId,
          batch.map((r) => ({
            line: r.line,
            recordId: r.id,
            content: r.json,
            metadata: r.metadata,
          })),
        ),
    });
    let rawSha256: string;
    let rawSize: number;
    if (raw.kind === 'stored') {
      if (size !== raw.size)
        throw LatheError.invalidArgument(
          [
            {
              field: 'artifact.sizeBytes',
              description: `is ${raw.size} but the artifact holds ${size} bytes`,
            },
          ],
          { reason: ErrorReason.ERROR_REASON_DIGEST_MISMATCH },
        );
      [rawSha256, rawSize] = [raw.sha256, raw.size];
    } else {
      const info = await (stored as Promise<{ sha256: string; size: number }>);
      [rawSha256, rawSize] = [info.sha256, info.size];
    }
    const upload = toUpload(
      await deps.store.completeUpload(uploadId, {
        detectedFormat: result.detectedFormat,
        accepted: result.acceptedCount,
        rejected: result.rejectedCount,
        rawSha256,
        rawSize,
      }),
    );
    await deps.bus.publish(
      recordsUploadedEvent,
      { eventId: uploadId, occurredAt: new Date(), upload },
      { id: `upload-${uploadId}` },
    );
    return {
      upload,
      rejected: result.rejected.map((r) => ({
        lineNumber: r.line,
        reason: r.reason,
        fieldPath: r.fieldPath,
        excerpt: r.excerpt,
      })),
      rejectedTruncated: result.rejectedCount > result.rejected.length,
    };
  } catch (error) {
    spool?.destroy();
    await deps.store.abandonUpload(uploadId);
    if (error instanceof FormatKindMismatchError)
      throw LatheError.invalidArgument([{ field: 'format', description: error.message }], {
        reason: ErrorReason.ERROR_REASON_RECORD_KIND_MISMATCH,
      });
    if (error instanceof JsonArrayBodyError)
      throw LatheError.invalidArgument([{ field: 'chunk', description: error.message }]);
    if (error instanceof ArtifactIntegrityError)
      throw LatheError.invalidArgument(
        [{ field: 'header.sha256', description: `does not match the body: ${error.message}` }],
        { reason: ErrorReason.ERROR_REASON_DIGEST_MISMATCH },
      );
    throw error;
  }
}
