import { RegistryServiceService } from '@lathe/contracts/lathe/registry/v1/registry_service';
import type {
  MethodRoles,
  RequestRules,
  ServiceDescriptor,
  ServiceHandlers,
} from '@lathe/service-kit';
import { REGISTRY_DEFAULT_PORT, REGISTRY_SERVICE } from './config.js';

type Definition = typeof RegistryServiceService;

const READ = ['model-reader', 'model-editor', 'admin'];
const WRITE = ['model-editor', 'admin'];
const ADMIN = ['admin'];

/** Who may call each rpc: readers read and download, editors register and alias, admins delete. */
export const registryRoles: MethodRoles<Definition> = {
  importModel: WRITE,
  importModelFromPath: WRITE,
  registerAdapter: WRITE,
  registerFineTunedModel: WRITE,
  registerQuantizedModel: WRITE,
  registerMergedModel: WRITE,
  mergeAdapter: WRITE,
  getModelVersion: READ,
  listModels: READ,
  listModelVersions: READ,
  setAlias: WRITE,
  getAliasHistory: READ,
  getLineage: READ,
  downloadModel: READ,
  deleteModelVersion: ADMIN,
};

/** Request checks that need no storage. */
export const registryRules: RequestRules<Definition> = {
  importModelFromPath: (r, v) => v.resourceName('name', r.name).required('path', r.path),
  registerAdapter: (r, v) => v.resourceName('name', r.name).present('base', r.base),
  mergeAdapter: (r, v) => v.modelRef('adapter', r.adapter).resourceName('outputName', r.outputName),
  getModelVersion: (r, v) => v.modelRef('ref', r.ref),
  listModelVersions: (r, v) => v.resourceName('name', r.name),
  setAlias: (r, v) =>
    v
      .resourceName('name', r.name)
      .resourceName('alias', r.alias)
      .check(r.version >= 1, 'version', 'must be 1 or more'),
  getAliasHistory: (r, v) => v.resourceName('name', r.name).resourceName('alias', r.alias),
  getLineage: (r, v) =>
    v.modelRef('ref', r.ref).check(r.maxDepth >= 0, 'maxDepth', 'must not be negative'),
  downloadModel: (r, v) =>
    v.modelRef('ref', r.ref).check(r.resumeOffset >= 0, 'resumeOffset', 'must not be negative'),
  deleteModelVersion: (r, v) =>
    v.resourceName('name', r.name).check(r.version >= 1, 'version', 'must be 1 or more'),
};

/** Implemented rpcs: none yet; every rpc answers UNIMPLEMENTED after its request checks. */
export const registryHandlers: ServiceHandlers<Definition> = {};

/** The registry service as the kit runs it. */
export const registryService: ServiceDescriptor<Definition> = {
  name: REGISTRY_SERVICE,
  fullName: 'lathe.registry.v1.RegistryService',
  protoFile: 'lathe/registry/v1/registry_service.proto',
  defaultPort: REGISTRY_DEFAULT_PORT,
  definition: RegistryServiceService,
  handlers: registryHandlers,
  roles: registryRoles,
  rules: registryRules,
};
