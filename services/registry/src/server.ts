import {
  LineageDirection,
  RegistryServiceService,
} from '@lathe/contracts/lathe/registry/v1/registry_service';
import type {
  DownloadModelResponse,
  RegisterAdapterRequest,
  StoredFile,
} from '@lathe/contracts/lathe/registry/v1/registry_service';
import type {
  CallContext,
  MethodRoles,
  RequestRules,
  ServiceDescriptor,
  RequestValidator,
  ServiceHandlers,
} from '@lathe/service-kit';
import { REGISTRY_DEFAULT_PORT, REGISTRY_SERVICE } from './config.js';
import { downloadParts } from './domain/download.js';
import type { Registry, StoredFileRef } from './domain/registry.js';
import type { TrainingFacts } from './domain/model-version.js';
import { walkLineage } from './domain/lineage.js';
import { pageOf } from './paging.js';
import {
  aliasChangeOut,
  exactSelectorOf,
  lineageDirectionOf,
  lineageOut,
  modelVersionOut,
  selectorOf,
} from './wire.js';

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

/** Every stored file names an artifact by its sha256. */
function storedFileRules(v: RequestValidator, files: readonly StoredFile[]): RequestValidator {
  return v.check(files.length > 0, 'files', 'must list the model files').check(
    files.every((f) => f.artifact !== undefined && /^[0-9a-f]{64}$/.test(f.artifact.sha256)),
    'files',
    'every file needs an artifact with a 64-hex sha256',
  );
}

/** Request checks that need no storage. */
export const registryRules: RequestRules<Definition> = {
  importModelFromPath: (r, v) => v.resourceName('name', r.name).required('path', r.path),
  registerAdapter: (r, v) =>
    storedFileRules(v.resourceName('name', r.name).present('base', r.base), r.files),
  registerFineTunedModel: (r, v) =>
    storedFileRules(v.resourceName('name', r.name).present('base', r.base), r.files),
  registerMergedModel: (r, v) =>
    storedFileRules(
      v.resourceName('name', r.name).present('base', r.base).present('adapter', r.adapter),
      r.files,
    ),
  registerQuantizedModel: (r, v) =>
    storedFileRules(
      v
        .resourceName('name', r.name)
        .present('source', r.source)
        .check(['nf4', 'fp4', 'int8'].includes(r.scheme), 'scheme', 'must be nf4, fp4 or int8')
        .check(r.blockSize >= 0, 'blockSize', 'must not be negative'),
      r.files,
    ),
  mergeAdapter: (r, v) =>
    v
      .check(
        r.dtype === '' || r.dtype === 'float32',
        'dtype',
        'only float32 merges are written today (float16 and bfloat16 are not implemented)',
      )
      .check(
        r.outputAlias === '' ||
          (/^[a-z][a-z0-9-]{0,62}$/.test(r.outputAlias) && !/^[0-9]+$/.test(r.outputAlias)),
        'outputAlias',
        'must be an alias name',
      )
      .modelRef('adapter', r.adapter)
      .check(
        r.outputName === '' || /^[a-z0-9][a-z0-9.-]{0,62}$/.test(r.outputName),
        'outputName',
        'must be a model name',
      ),
  getModelVersion: (r, v) => v.modelRef('ref', r.ref),
  listModelVersions: (r, v) => v.resourceName('name', r.name),
  setAlias: (r, v) =>
    v
      .resourceName('name', r.name)
      .resourceName('alias', r.alias)
      .check(!/^[0-9]+$/.test(r.alias), 'alias', 'must not be a number')
      .check(r.version >= 0, 'version', 'must be 0 (remove) or a version')
      .check(r.expectedCurrentVersion >= 0, 'expectedCurrentVersion', 'must not be negative'),
  getAliasHistory: (r, v) => v.resourceName('name', r.name).resourceName('alias', r.alias),
  getLineage: (r, v) =>
    v
      .modelRef('ref', r.ref)
      .check(r.maxDepth >= 0, 'maxDepth', 'must not be negative')
      .check(
        [
          LineageDirection.LINEAGE_DIRECTION_UNSPECIFIED,
          LineageDirection.LINEAGE_DIRECTION_UPSTREAM,
          LineageDirection.LINEAGE_DIRECTION_DOWNSTREAM,
          LineageDirection.LINEAGE_DIRECTION_BOTH,
        ].includes(r.direction),
        'direction',
        'must be UNSPECIFIED (both), UPSTREAM, DOWNSTREAM or BOTH',
      ),
  downloadModel: (r, v) =>
    v.modelRef('ref', r.ref).check(r.resumeOffset >= 0, 'resumeOffset', 'must not be negative'),
  deleteModelVersion: (r, v) =>
    v.resourceName('name', r.name).check(r.version >= 1, 'version', 'must be 1 or more'),
};

function actorOf(ctx: CallContext): string {
  return ctx.principal?.subject ?? 'anonymous';
}

/** StoredFile messages as the domain's file references (rules checked each has an artifact). */
function storedFiles(files: readonly StoredFile[]): StoredFileRef[] {
  return files.map((f) => ({
    path: f.path,
    sha256: f.artifact?.sha256 ?? '',
    size: f.artifact?.sizeBytes ?? 0,
  }));
}

function trainingOf(
  r: Pick<RegisterAdapterRequest, 'trainingJobId' | 'dataset' | 'metrics' | 'labels'>,
  ctx: CallContext,
): TrainingFacts | undefined {
  if (r.trainingJobId === '' && r.dataset === undefined && Object.keys(r.metrics).length === 0)
    return undefined;
  // The trace of the run that produced the adapter travels in the caller's traceparent header.
  const traceparent = ctx.metadata.get('traceparent')[0];
  const traceId = typeof traceparent === 'string' ? (traceparent.split('-')[1] ?? '') : '';
  return {
    jobId: r.trainingJobId,
    dataset: r.dataset === undefined ? undefined : { ...r.dataset },
    metrics: { ...r.metrics },
    traceId,
    hyperparameters: Object.fromEntries(
      Object.entries(r.labels).filter(([k]) => k.startsWith('hp.')),
    ),
  };
}

/** The rpcs the registry implements, over one {@link Registry}. */
export function createRegistryHandlers(registry: Registry): ServiceHandlers<Definition> {
  return {
    importModel: async (requests) => ({
      version: modelVersionOut(await registry.importUpload(requests)),
    }),
    importModelFromPath: async (r) => ({
      version: modelVersionOut(
        await registry.importFromPath(r.name, r.path, {
          description: r.description,
          labels: r.labels,
        }),
      ),
    }),
    registerAdapter: async (r, ctx) => ({
      version: modelVersionOut(
        await registry.registerAdapter({
          name: r.name,
          base: exactSelectorOf(r.base, 'base'),
          quantizedBase:
            r.quantizedBase === undefined
              ? undefined
              : exactSelectorOf(r.quantizedBase, 'quantizedBase'),
          files: storedFiles(r.files),
          method: r.method,
          training: trainingOf(r, ctx),
          description: r.description,
          labels: r.labels,
          idempotencyKey: r.idempotencyKey,
        }),
      ),
    }),
    registerFineTunedModel: async (r, ctx) => ({
      version: modelVersionOut(
        await registry.registerFineTuned({
          name: r.name,
          base: exactSelectorOf(r.base, 'base'),
          files: storedFiles(r.files),
          training: trainingOf(r, ctx),
          meta: { description: r.description, labels: r.labels, idempotencyKey: r.idempotencyKey },
        }),
      ),
    }),
    registerMergedModel: async (r) => ({
      version: modelVersionOut(
        await registry.registerMerged({
          name: r.name,
          base: exactSelectorOf(r.base, 'base'),
          adapter: exactSelectorOf(r.adapter, 'adapter'),
          files: storedFiles(r.files),
          dtype: r.dtype,
          meta: { description: r.description, labels: {}, idempotencyKey: r.idempotencyKey },
        }),
      ),
    }),
    registerQuantizedModel: async (r) => ({
      version: modelVersionOut(
        await registry.registerQuantized({
          name: r.name,
          source: exactSelectorOf(r.source, 'source'),
          files: storedFiles(r.files),
          scheme: r.scheme,
          blockSize: r.blockSize,
          doubleQuant: r.doubleQuant,
          quantizationJobId: r.quantizationJobId,
          bitsPerParameter: r.bitsPerParameter,
          meta: { description: r.description, labels: {}, idempotencyKey: r.idempotencyKey },
        }),
      ),
    }),
    mergeAdapter: async (r, ctx) => {
      const adapter = selectorOf(r.adapter, 'adapter');
      const outputName = r.outputName === '' ? `${adapter.name}-merged` : r.outputName;
      // The alias moves only if nobody moved it while the merge ran (compare-and-set).
      const aliasBefore =
        r.outputAlias === ''
          ? 0
          : ((await registry.store.aliasTarget(outputName, r.outputAlias)) ?? 0);
      const merged = await registry.mergeAdapter(adapter, outputName, {
        description: '',
        labels: {},
        idempotencyKey: r.idempotencyKey,
      });
      if (r.outputAlias !== '' && aliasBefore !== merged.ref.version)
        await registry.setAlias({
          name: outputName,
          alias: r.outputAlias,
          to: merged.ref.version,
          expected: aliasBefore,
          actor: actorOf(ctx),
          reason: `merge of ${adapter.name}`,
        });
      return {
        version: modelVersionOut(
          await registry.resolve({ name: outputName, version: merged.ref.version }),
        ),
      };
    },
    getModelVersion: async (r) => ({
      version: modelVersionOut(await registry.resolve(selectorOf(r.ref, 'ref'), r.includeDeleted)),
    }),
    listModelVersions: async (r) => {
      const all = await registry.store.listVersions(r.name, r.includeDeleted);
      const { items, page } = pageOf(all, r.page, [r.name, r.includeDeleted]);
      return { versions: items.map(modelVersionOut), page };
    },
    listModels: async (r) => {
      const wanted = Object.entries(r.labels);
      const all = (await registry.store.listModels(r.kind, r.namePrefix)).filter((m) =>
        wanted.every(([k, v]) => m.labels[k] === v),
      );
      const { items, page } = pageOf(all, r.page, [r.kind, r.namePrefix, wanted.sort()]);
      return {
        models: items.map((m) => ({
          name: m.name,
          kind: m.kind,
          latestVersion: m.latestVersion,
          aliases: { ...m.aliases },
          description: m.description,
          createTime: m.createTime,
          updateTime: m.updateTime,
        })),
        page,
      };
    },
    setAlias: async (r, ctx) => ({
      change: aliasChangeOut(
        await registry.setAlias({
          name: r.name,
          alias: r.alias,
          to: r.version,
          expected: r.expectedCurrentVersion,
          actor: actorOf(ctx),
          reason: r.reason,
        }),
      ),
    }),
    getAliasHistory: async (r) => {
      const all = await registry.aliasHistory(r.name, r.alias);
      const { items, page } = pageOf(all, r.page, [r.name, r.alias]);
      return { changes: items.map(aliasChangeOut), page };
    },
    getLineage: async (r) => {
      // Lineage outlives files: a deleted version still answers with its edges.
      const start = await registry.resolve(selectorOf(r.ref, 'ref'), true);
      const graph = await walkLineage(
        registry.store,
        start,
        lineageDirectionOf(r.direction),
        r.maxDepth,
      );
      return lineageOut(graph);
    },
    deleteModelVersion: async (r) => ({
      version: modelVersionOut(await registry.deleteVersion(r.name, r.version, r.force)),
    }),
    downloadModel: async function* (r, ctx): AsyncGenerator<DownloadModelResponse> {
      const version = await registry.resolve(selectorOf(r.ref, 'ref'));
      yield { message: { $case: 'version', version: modelVersionOut(version) } };
      const parts = downloadParts(
        registry.artifacts,
        version.files,
        {
          paths: r.paths,
          resumePath: r.resumePath,
          resumeOffset: r.resumeOffset,
          chunkSize: r.chunkSize,
        },
        ctx.signal,
      );
      for await (const p of parts) {
        if (p.kind === 'file')
          yield {
            message: {
              $case: 'file',
              file: {
                path: p.file.path,
                sizeBytes: p.file.size,
                sha256: p.file.sha256,
                offset: p.offset,
              },
            },
          };
        else
          yield {
            message: {
              $case: 'chunk',
              chunk: Buffer.from(p.bytes.buffer, p.bytes.byteOffset, p.bytes.byteLength),
            },
          };
      }
    },
  };
}

/** The registry service as the kit runs it, over `registry`. */
export function registryService(registry: Registry): ServiceDescriptor<Definition> {
  return {
    name: REGISTRY_SERVICE,
    fullName: 'lathe.registry.v1.RegistryService',
    protoFile: 'lathe/registry/v1/registry_service.proto',
    defaultPort: REGISTRY_DEFAULT_PORT,
    definition: RegistryServiceService,
    handlers: createRegistryHandlers(registry),
    roles: registryRoles,
    rules: registryRules,
  };
}
