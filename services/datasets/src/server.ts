import { DatasetServiceService } from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import type {
  MethodRoles,
  RequestRules,
  ServiceDescriptor,
  ServiceHandlers,
} from '@lathe/service-kit';
import { DATASETS_DEFAULT_PORT, DATASETS_SERVICE } from './config.js';

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
};

/** Implemented rpcs: none yet; every rpc answers UNIMPLEMENTED after its request checks. */
export const datasetHandlers: ServiceHandlers<Definition> = {};

/** The datasets service as the kit runs it. */
export const datasetsService: ServiceDescriptor<Definition> = {
  name: DATASETS_SERVICE,
  fullName: 'lathe.datasets.v1.DatasetService',
  protoFile: 'lathe/datasets/v1/dataset_service.proto',
  defaultPort: DATASETS_DEFAULT_PORT,
  definition: DatasetServiceService,
  handlers: datasetHandlers,
  roles: datasetRoles,
  rules: datasetRules,
};
