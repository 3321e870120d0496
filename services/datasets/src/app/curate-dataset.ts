import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { BlobInfo } from '@lathe/artifacts';
import { DatasetSplit } from '@lathe/contracts/lathe/common/v1/dataset_ref';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import { CurationSpec } from '@lathe/contracts/lathe/datasets/v1/curation';
import { DatasetKind } from '@lathe/contracts/lathe/datasets/v1/dataset';
import type {
  CurateDatasetRequest,
  CurateDatasetResponse,
} from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import { DatasetStats } from '@lathe/contracts/lathe/datasets/v1/dataset_version';
import { Record as ProtoRecord } from '@lathe/contracts/lathe/datasets/v1/record';
import { isLatheError, LatheError, reasonName } from '@lathe/service-kit';
import type { CanonicalRecord } from '../domain/canonical-record.js';
import type { KeptRecord, SourceRecord } from '../domain/curate-records.js';
import { curateRecords } from '../domain/curate-records.js';
import type { RemovalLog } from '../domain/removal-log.js';
import { countRecordTokens } from '../domain/token-count.js';
import { CurationSpecError, resolveCurationOptions } from '../domain/curation-options.js';
import type { VersionManifest } from '../domain/version-manifest.js';
import { removalCounts, stableStringify } from '../domain/version-manifest.js';
import { curationFailedEvent, versionCreatedEvent } from '../events/dataset-events.js';
import type {
  DatasetRow,
  NewVersion,
  RemovedRow,
  UploadRow,
  VersionRow,
} from '../store/datasets-store.js';
import { UploadsTakenError } from '../store/datasets-store.js';
import type { DatasetsDeps } from './datasets-deps.js';
import {
  canonicalOf,
  recordContent,
  REMOVAL_REASON,
  statsOf,
  toDatasetVersion,
  toStats,
} from './proto-mapping.js';
import { readVersionRecords, splitBlobs } from './version-records.js';

/** A JSONL blob being written to the artifact store while curation decides records. */
class JsonlBlobWriter {
  private readonly stream = new PassThrough();
  private readonly stored: Promise<BlobInfo>;
  count = 0;

  constructor(deps: DatasetsDeps) {
    this.stored = deps.artifacts.put(this.stream);
    this.stored.catch(() => undefined);
  }

  async write(line: string): Promise<void> {
    this.count++;
    if (!this.stream.write(`${line}\n`))
      await Promise.race([once(this.stream, 'drain'), this.stored]);
  }

  async finish(): Promise<BlobInfo> {
    this.stream.end();
    return this.stored;
  }

  abort(): void {
    this.stream.destroy();
  }
}

async function uploadsToCurate(
  deps: DatasetsDeps,
  dataset: DatasetRow,
  ids: readonly string[],
): Promise<UploadRow[]> {
  const pending = await deps.store.pendingUploads(dataset.id);
  if (ids.length === 0) return pending;
  return ids.map((id, i) => {
    const upload = pending.find((u) => u.id === id);
    if (upload === undefined)
      throw LatheError.failedPrecondition(
        `upload ${id} is not a completed upload of dataset "${dataset.name}" waiting for curation`,
        [
          {
            type: 'UPLOAD',
            subject: `uploadIds[${i}]`,
            description: 'not staged in this dataset, or already curated',
          },
        ],
        { reason: ErrorReason.ERROR_REASON_UPLOAD_NOT_FOUND },
      );
    return upload;
  });
}

/** Staged rows read per query while curating. */
const STAGED_PAGE_ROWS = 250;

async function* sourceRecords(
  deps: DatasetsDeps,
  base: VersionRow | undefined,
  uploads: readonly UploadRow[],
): AsyncGenerator<SourceRecord> {
  if (base !== undefined) {
    let line = 0;
    for await (const r of readVersionRecords(
      deps,
      splitBlobs(base, DatasetSplit.DATASET_SPLIT_UNSPECIFIED),
      0,
    )) {
      line++;
      yield {
        id: r.id,
        record: canonicalOf(r.content),
        uploadId: `version-${base.version}`,
        line,
        ...(r.metadata === undefined ? {} : { metadata: r.metadata }),
      };
    }
  }
  // Small pages: a page's rows live until curation has judged them all, long enough for a large
  // page to be promoted to V8's old space and grow the heap with the run.
  for await (const staged of deps.store.readStaged(uploads, STAGED_PAGE_ROWS))
    yield {
      id: staged.recordId,
      record: JSON.parse(staged.content) as CanonicalRecord,
      uploadId: staged.uploadId,
      line: staged.line,
      ...(staged.metadata === ''
        ? {}
        : { metadata: JSON.parse(staged.metadata) as Record<string, unknown> }),
    };
}

/**
 * Curates a dataset's staged records (after a base version's, when given) into a new version:
 * runs the recipe, writes the kept records as JSONL artifacts per split while deciding them, then
 * a manifest artifact whose digest names the version, and records it all in one transaction.
 * Publishes `dataset_version_created`, or `curation_failed` with the reason when no version
 * results.
 */
export async function curateDataset(
  deps: DatasetsDeps,
  request: CurateDatasetRequest,
  signal: AbortSignal,
): Promise<CurateDatasetResponse> {
  const dataset = await deps.store.getDataset(request.dataset);
  if (dataset === undefined)
    throw LatheError.notFound('dataset', request.dataset, {
      reason: ErrorReason.ERROR_REASON_DATASET_NOT_FOUND,
    });
  if (request.idempotencyKey !== '') {
    const earlier = await deps.store.versionByKey(dataset.id, request.idempotencyKey);
    if (earlier !== undefined) {
      const same =
        Buffer.from(
          CurationSpec.encode(request.spec ?? CurationSpec.fromPartial({})).finish(),
        ).equals(earlier.spec) &&
        request.baseVersion === earlier.baseVersion &&
        request.description === earlier.description;
      if (!same)
        throw LatheError.aborted(
          `idempotency key "${request.idempotencyKey}" of dataset "${dataset.name}" was used for version ${earlier.version} with a different request`,
          {
            reason: ErrorReason.ERROR_REASON_IDEMPOTENCY_KEY_REUSED,
            metadata: { idempotencyKey: request.idempotencyKey },
          },
        );
      return respond(dataset, earlier);
    }
  }
  try {
    return await curateNew(deps, dataset, request, signal);
  } catch (error) {
    const reason = isLatheError(error)
      ? error.details.errorInfo.reason
      : reasonName(ErrorReason.ERROR_REASON_INTERNAL);
    const message = isLatheError(error)
      ? error.rawMessage
      : `curating dataset "${dataset.name}" failed unexpectedly`;
    await deps.bus
      .publish(curationFailedEvent, {
        eventId: crypto.randomUUID(),
        occurredAt: new Date(),
        dataset: dataset.name,
        reason,
        message,
      })
      .catch(() => undefined); // the caller still gets the original error
    throw error;
  }
}

/** Records the version; losing a race for the uploads is ABORTED (re-read and retry). */
async function insertVersion(deps: DatasetsDeps, version: NewVersion): Promise<VersionRow> {
  try {
    return await deps.store.insertVersion(version);
  } catch (error) {
    if (error instanceof UploadsTakenError)
      throw LatheError.aborted(error.message, { cause: error });
    throw error;
  }
}

function respond(dataset: DatasetRow, row: VersionRow): CurateDatasetResponse {
  const version = toDatasetVersion(dataset, row);
  return { version, stats: { ...toStats(row), ref: version.ref } };
}

/** The logged removals as the store's rows, read from the log's file in order. */
async function* removedRows(log: RemovalLog): AsyncGenerator<Omit<RemovedRow, 'seq'>> {
  for await (const r of log.read())
    yield {
      recordId: r.recordId,
      reason: REMOVAL_REASON[r.reason],
      detail: r.detail,
      duplicateOf: r.duplicateOf,
      similarity: r.similarity,
      uploadId: r.uploadId,
      sourceLine: r.line,
      excerpt: r.excerpt,
    };
}

async function curateNew(
  deps: DatasetsDeps,
  dataset: DatasetRow,
  request: CurateDatasetRequest,
  signal: AbortSignal,
): Promise<CurateDatasetResponse> {
  let options;
  try {
    options = resolveCurationOptions(request.spec);
  } catch (error) {
    if (error instanceof CurationSpecError) throw LatheError.invalidArgument(error.violations);
    throw error;
  }
  const uploads = await uploadsToCurate(deps, dataset, request.uploadIds);
  let base: VersionRow | undefined;
  if (request.baseVersion > 0) {
    base = await deps.store.getVersion(dataset.id, request.baseVersion);
    if (base === undefined)
      throw LatheError.notFound('dataset version', `${dataset.name}@${request.baseVersion}`, {
        reason: ErrorReason.ERROR_REASON_DATASET_VERSION_NOT_FOUND,
      });
  }
  let countTokens: ((record: CanonicalRecord) => number) | undefined;
  if (options.tokenLength !== undefined) {
    if (deps.tokenizers === undefined)
      throw LatheError.failedPrecondition(
        'spec.tokenLength needs the registry to fetch the tokenizer: set LATHE_DATASETS_REGISTRY_ADDR',
        [
          {
            type: 'CONFIGURATION',
            subject: 'LATHE_DATASETS_REGISTRY_ADDR',
            description: 'not set',
          },
        ],
      );
    const tokenizer = await deps.tokenizers.load(options.tokenLength.tokenizer, signal);
    countTokens = (record) => countRecordTokens(tokenizer, record);
  }
  const writers = { train: new JsonlBlobWriter(deps), eval: new JsonlBlobWriter(deps) };
  let outcome;
  try {
    outcome = await curateRecords(
      sourceRecords(deps, base, uploads),
      options,
      async (kept: KeptRecord) => {
        const writer = writers[kept.split];
        const record = ProtoRecord.toJSON({
          id: kept.id,
          split:
            kept.split === 'eval'
              ? DatasetSplit.DATASET_SPLIT_EVAL
              : DatasetSplit.DATASET_SPLIT_TRAIN,
          index: writer.count,
          content: recordContent(kept.record),
          // Provenance stays out of the blob so that its digest depends on content alone.
          uploadId: '',
          sourceLine: 0,
          tokenCount: kept.tokenCount,
          // Metadata is content the uploader gave (e.g. a pair's provenance): in the blob, so in
          // the version digest, but not in the record id.
          metadata: kept.source.metadata,
        });
        await writer.write(JSON.stringify(record));
      },
      countTokens,
      {
        signal,
        ...(deps.curationMemoryBytes === undefined
          ? {}
          : { memoryBytes: deps.curationMemoryBytes }),
      },
    );
  } catch (error) {
    writers.train.abort();
    writers.eval.abort();
    throw error;
  }
  // The removal log is a temporary file until the version is stored (or not).
  try {
    const [train, evalBlob] = await Promise.all([writers.train.finish(), writers.eval.finish()]);
    if (writers.train.count + writers.eval.count === 0)
      throw LatheError.failedPrecondition(
        `curating dataset "${dataset.name}" left no records: ${outcome.inputCount} considered, ${outcome.removals.size} removed`,
        [
          {
            type: 'RECORDS',
            subject: request.dataset,
            description: 'no staged records survive curation',
          },
        ],
        { reason: ErrorReason.ERROR_REASON_CURATION_EMPTY },
      );
    const spec = request.spec ?? CurationSpec.fromPartial({});
    const counts = removalCounts(outcome);
    const hasEval = options.evalFraction > 0;
    const manifest: VersionManifest = {
      schema: 'lathe.datasets.version/v1',
      kind: dataset.kind === DatasetKind.DATASET_KIND_PREFERENCE ? 'preference' : 'sft',
      spec: CurationSpec.toJSON(spec),
      parent: base?.manifestSha256 ?? null,
      train: { sha256: train.sha256, size: train.size, records: writers.train.count },
      eval: hasEval
        ? { sha256: evalBlob.sha256, size: evalBlob.size, records: writers.eval.count }
        : null,
      inputCount: outcome.inputCount,
      redactedCount: outcome.redactedCount,
      removed: counts,
      statistics: { train: outcome.train, eval: outcome.eval },
    };
    const manifestBlob = await deps.artifacts.put(Buffer.from(stableStringify(manifest), 'utf8'));
    const row = await insertVersion(deps, {
      datasetId: dataset.id,
      manifestSha256: manifestBlob.sha256,
      manifestSize: manifestBlob.size,
      trainSha256: train.sha256,
      trainSize: train.size,
      evalSha256: hasEval ? evalBlob.sha256 : '',
      evalSize: hasEval ? evalBlob.size : 0,
      trainCount: writers.train.count,
      evalCount: writers.eval.count,
      removedCount: outcome.removals.size,
      baseVersion: base?.version ?? 0,
      uploadIds: uploads.map((u) => u.id),
      description: request.description,
      spec: CurationSpec.encode(spec).finish(),
      stats: DatasetStats.encode(statsOf(outcome, counts)).finish(),
      idempotencyKey: request.idempotencyKey === '' ? undefined : request.idempotencyKey,
      removed: removedRows(outcome.removals),
    });
    const response = respond(dataset, row);
    await deps.bus.publish(
      versionCreatedEvent,
      {
        eventId: `${dataset.name}-v${row.version}`,
        occurredAt: row.createdAt,
        version: response.version?.ref,
        kind: dataset.kind,
        trainCount: row.trainCount,
        evalCount: row.evalCount,
        removedCount: row.removedCount,
      },
      { id: `dataset-version-${dataset.name}-${row.version}` },
    );
    return response;
  } finally {
    outcome.removals.close();
  }
}
