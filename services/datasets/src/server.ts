import type { DatasetVersionRef } from '@lathe/contracts/lathe/common/v1/dataset_ref';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import type { PageRequest } from '@lathe/contracts/lathe/common/v1/paging';
import { DatasetServiceService } from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import type {
  ReadRecordsResponse,
  UploadRecordsRequest,
} from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import type { Record as ProtoRecord } from '@lathe/contracts/lathe/datasets/v1/record';
import type {
  MethodRoles,
  RequestRules,
  ServiceDescriptor,
  ServiceHandlers,
} from '@lathe/service-kit';
import { LatheError } from '@lathe/service-kit';
import { curateDataset } from './app/curate-dataset.js';
import { exportVersion } from './app/export-version.js';
import type { DatasetsDeps } from './app/datasets-deps.js';
import { toDataset, toDatasetVersion, toRemovedRecord, toStats } from './app/proto-mapping.js';
import { stageUpload } from './app/stage-upload.js';
import { readVersionRecords, splitBlobs } from './app/version-records.js';
import { DATASETS_DEFAULT_PORT, DATASETS_SERVICE } from './config.js';
import type { DatasetRow, VersionRow } from './store/datasets-store.js';

type Definition = typeof DatasetServiceService;

const READ = ['dataset-reader', 'dataset-editor', 'admin'];
const WRITE = ['dataset-editor', 'admin'];

/** Who may call each rpc: readers read, editors also create, upload and curate. */
export const datasetRoles: MethodRoles<Definition> = {
  createDataset: WRITE,
  getDataset: READ,
  listDatasets: READ,
  uploadRecords: WRITE,
  importFromArtifact: WRITE,
  curateDataset: WRITE,
  getDatasetVersion: READ,
  listDatasetVersions: READ,
  getDatasetStats: READ,
  readRecords: READ,
  exportDatasetVersion: READ,
  listRemovedRecords: READ,
};

/** Request checks that need no storage, so malformed calls fail fast with every bad field named. */
export const datasetRules: RequestRules<Definition> = {
  createDataset: (r, v) => v.resourceName('name', r.name).enumSet('kind', r.kind),
  getDataset: (r, v) => v.resourceName('name', r.name),
  importFromArtifact: (r, v) =>
    v.resourceName('dataset', r.dataset).present('artifact', r.artifact),
  curateDataset: (r, v) =>
    v
      .resourceName('dataset', r.dataset)
      .check(r.baseVersion >= 0, 'baseVersion', 'must be 0 (none) or more'),
  getDatasetVersion: (r, v) =>
    v
      .resourceName('dataset', r.dataset)
      .check(r.version >= 0, 'version', 'must be 0 (latest) or more'),
  listDatasetVersions: (r, v) => v.resourceName('dataset', r.dataset),
  getDatasetStats: (r, v) =>
    v
      .resourceName('dataset', r.dataset)
      .check(r.version >= 0, 'version', 'must be 0 (latest) or more'),
  readRecords: (r, v) =>
    v
      .present('version', r.version)
      .check(r.offset >= 0, 'offset', 'must not be negative')
      .check(r.limit >= 0, 'limit', 'must not be negative'),
  listRemovedRecords: (r, v) => v.present('version', r.version),
  exportDatasetVersion: (r, v) => v.present('version', r.version),
};

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

function pageSize(page: PageRequest | undefined): number {
  const size = page?.pageSize ?? 0;
  return size <= 0 ? DEFAULT_PAGE : Math.min(size, MAX_PAGE);
}

function badToken(field: string): LatheError {
  return LatheError.invalidArgument(
    [{ field, description: 'is not a token this listing issued' }],
    {
      reason: ErrorReason.ERROR_REASON_INVALID_PAGE_TOKEN,
    },
  );
}

/** A numeric page token (a version or sequence number), or 0 for the first page. */
function numericToken(token: string | undefined, field: string): number {
  if (token === undefined || token === '') return 0;
  if (!/^\d+$/.test(token)) throw badToken(field);
  return Number(token);
}

async function requireDataset(deps: DatasetsDeps, name: string): Promise<DatasetRow> {
  const dataset = await deps.store.getDataset(name);
  if (dataset === undefined)
    throw LatheError.notFound('dataset', name, {
      reason: ErrorReason.ERROR_REASON_DATASET_NOT_FOUND,
    });
  return dataset;
}

async function requireVersion(
  deps: DatasetsDeps,
  name: string,
  number: number,
  manifestSha256 = '',
): Promise<{ dataset: DatasetRow; version: VersionRow }> {
  const dataset = await requireDataset(deps, name);
  const version = await deps.store.getVersion(dataset.id, number);
  if (version === undefined)
    throw LatheError.notFound(
      'dataset version',
      number === 0 ? `${name}@latest` : `${name}@${number}`,
      {
        reason: ErrorReason.ERROR_REASON_DATASET_VERSION_NOT_FOUND,
        description:
          number === 0
            ? `dataset "${name}" has no version yet`
            : `dataset "${name}" version ${number} not found`,
      },
    );
  if (manifestSha256 !== '' && manifestSha256 !== version.manifestSha256)
    throw LatheError.failedPrecondition(
      `dataset "${name}" version ${version.version} has manifest ${version.manifestSha256}, not ${manifestSha256}`,
      [
        {
          type: 'DIGEST',
          subject: 'version.manifestSha256',
          description: 'does not match the stored version',
        },
      ],
      { reason: ErrorReason.ERROR_REASON_DIGEST_MISMATCH },
    );
  return { dataset, version };
}

/** The version a request's DatasetVersionRef names (its manifest digest checked when set). */
function requireVersionRef(
  deps: DatasetsDeps,
  ref: DatasetVersionRef | undefined,
): Promise<{ dataset: DatasetRow; version: VersionRow }> {
  if (ref === undefined)
    throw LatheError.invalidArgument([{ field: 'version', description: 'is required' }]);
  return requireVersion(deps, ref.dataset, ref.version, ref.manifestSha256);
}

/** The chunks of an UploadRecords stream after its header. */
async function* uploadChunks(
  rest: AsyncIterator<UploadRecordsRequest>,
): AsyncGenerator<Uint8Array> {
  for (;;) {
    const next = await rest.next();
    if (next.done === true) return;
    const message = next.value.message;
    if (message?.$case === 'header')
      throw LatheError.invalidArgument(
        [{ field: 'header', description: 'must be sent once, first' }],
        {
          reason: ErrorReason.ERROR_REASON_UPLOAD_HEADER_REQUIRED,
        },
      );
    if (message?.$case === 'chunk') yield message.chunk;
  }
}

/** The rpcs, over the service's store, artifacts and bus. */
export function datasetHandlers(deps: DatasetsDeps): ServiceHandlers<Definition> {
  return {
    createDataset: async (r) => {
      const row = await deps.store.createDataset(r.name, r.kind, r.description, r.labels);
      if (row === undefined)
        throw LatheError.alreadyExists('dataset', r.name, {
          reason: ErrorReason.ERROR_REASON_DATASET_ALREADY_EXISTS,
        });
      return { dataset: toDataset(row) };
    },
    getDataset: async (r) => ({ dataset: toDataset(await requireDataset(deps, r.name)) }),
    listDatasets: async (r) => {
      const size = pageSize(r.page);
      const rows = await deps.store.listDatasets(r.page?.pageToken ?? '', size + 1, r.kind);
      const wanted = Object.entries(r.labels);
      const page = rows.slice(0, size);
      return {
        // Label filtering after paging keeps tokens simple; a page may hold fewer than asked.
        datasets: page.filter((d) => wanted.every(([k, v]) => d.labels[k] === v)).map(toDataset),
        page: {
          nextPageToken: rows.length > size ? (page[page.length - 1]?.name ?? '') : '',
          totalSize: 0,
        },
      };
    },
    uploadRecords: async (requests) => {
      const it = requests[Symbol.asyncIterator]();
      const first = await it.next();
      const header = first.done === true ? undefined : first.value.message;
      if (header?.$case !== 'header')
        throw LatheError.invalidArgument(
          [{ field: 'header', description: 'must be the first message' }],
          {
            reason: ErrorReason.ERROR_REASON_UPLOAD_HEADER_REQUIRED,
          },
        );
      const h = header.header;
      if (h.sha256 !== '' && !/^[0-9a-f]{64}$/.test(h.sha256))
        throw LatheError.invalidArgument([
          { field: 'header.sha256', description: 'must be 64 lowercase hex digits' },
        ]);
      return stageUpload(
        deps,
        {
          dataset: h.dataset,
          format: h.format,
          sourceName: h.sourceName,
          maxReportedRejections: h.maxReportedRejections,
        },
        uploadChunks(it),
        { kind: 'store', expectedSha256: h.sha256 === '' ? undefined : h.sha256 },
      );
    },
    importFromArtifact: async (r) => {
      const ref = r.artifact;
      if (ref === undefined || !/^[0-9a-f]{64}$/.test(ref.sha256))
        throw LatheError.invalidArgument([
          { field: 'artifact.sha256', description: 'must be 64 lowercase hex digits' },
        ]);
      if (!(await deps.artifacts.has(`sha256:${ref.sha256}`)))
        throw LatheError.notFound('artifact', `sha256:${ref.sha256}`, {
          reason: ErrorReason.ERROR_REASON_ARTIFACT_NOT_FOUND,
        });
      const stream = await deps.artifacts.get(`sha256:${ref.sha256}`);
      try {
        return await stageUpload(
          deps,
          {
            dataset: r.dataset,
            format: r.format,
            sourceName: r.sourceName,
            maxReportedRejections: r.maxReportedRejections,
          },
          stream,
          { kind: 'stored', sha256: ref.sha256, size: ref.sizeBytes },
        );
      } finally {
        stream.destroy();
      }
    },
    curateDataset: (r, ctx) => curateDataset(deps, r, ctx.signal),
    getDatasetVersion: async (r) => {
      const { dataset, version } = await requireVersion(deps, r.dataset, r.version);
      return { version: toDatasetVersion(dataset, version) };
    },
    listDatasetVersions: async (r) => {
      const dataset = await requireDataset(deps, r.dataset);
      const size = pageSize(r.page);
      const rows = await deps.store.listVersions(
        dataset.id,
        numericToken(r.page?.pageToken, 'page.pageToken'),
        size + 1,
      );
      const page = rows.slice(0, size);
      return {
        versions: page.map((v) => toDatasetVersion(dataset, v)),
        page: {
          nextPageToken: rows.length > size ? String(page[page.length - 1]?.version ?? '') : '',
          totalSize: 0,
        },
      };
    },
    getDatasetStats: async (r) => {
      const { dataset, version } = await requireVersion(deps, r.dataset, r.version);
      return { stats: { ...toStats(version), ref: toDatasetVersion(dataset, version).ref } };
    },
    readRecords: async function* (r, ctx): AsyncGenerator<ReadRecordsResponse> {
      const { version } = await requireVersionRef(deps, r.version);
      let offset = r.offset;
      if (r.pageToken !== '') {
        const m = /^([0-9a-f]{64}):(\d+)$/.exec(r.pageToken);
        if (m?.[1] !== version.manifestSha256 || m[2] === undefined) throw badToken('pageToken');
        offset = Number(m[2]);
      }
      const batchSize = r.batchSize <= 0 ? 256 : Math.min(r.batchSize, 4096);
      let remaining = r.limit === 0 ? Infinity : r.limit;
      let batch: ProtoRecord[] = [];
      const flush = (): ReadRecordsResponse => {
        offset += batch.length;
        const out = {
          records: batch,
          resumeToken: `${version.manifestSha256}:${offset}`,
          nextOffset: offset,
        };
        batch = [];
        return out;
      };
      if (remaining <= 0) return;
      for await (const record of readVersionRecords(deps, splitBlobs(version, r.split), offset)) {
        ctx.signal.throwIfAborted();
        batch.push(record);
        remaining--;
        if (batch.length >= batchSize) yield flush();
        if (remaining <= 0) break;
      }
      if (batch.length > 0) yield flush();
    },
    exportDatasetVersion: async function* (r, ctx) {
      const { dataset, version } = await requireVersionRef(deps, r.version);
      yield* exportVersion(deps, dataset, version, r.split, r.format, ctx.signal);
    },
    listRemovedRecords: async (r) => {
      const { dataset, version } = await requireVersionRef(deps, r.version);
      const size = pageSize(r.page);
      const rows = await deps.store.listRemoved(
        dataset.id,
        version.version,
        r.reason,
        numericToken(r.page?.pageToken, 'page.pageToken'),
        size + 1,
      );
      const page = rows.slice(0, size);
      return {
        removed: page.map(toRemovedRecord),
        page: {
          nextPageToken: rows.length > size ? String(page[page.length - 1]?.seq ?? '') : '',
          totalSize: version.removedCount,
        },
      };
    },
  };
}

/** The datasets service as the kit runs it, over its dependencies. */
export function createDatasetsService(deps: DatasetsDeps): ServiceDescriptor<Definition> {
  return {
    name: DATASETS_SERVICE,
    fullName: 'lathe.datasets.v1.DatasetService',
    protoFile: 'lathe/datasets/v1/dataset_service.proto',
    defaultPort: DATASETS_DEFAULT_PORT,
    definition: DatasetServiceService,
    handlers: datasetHandlers(deps),
    roles: datasetRoles,
    rules: datasetRules,
  };
}
