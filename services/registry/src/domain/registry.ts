import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArtifactStore } from '@lathe/artifacts';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import type { ImportModelRequest } from '@lathe/contracts/lathe/registry/v1/registry_service';
import {
  ModelFileError,
  QuantizationError,
  loadQuantizedModel,
  mergeAdapterDir,
  readBitsAndBytesConfig,
  readLlamaConfig,
} from '@lathe/llm';
import { LatheError } from '@lathe/service-kit';
import type { RegistryEvents } from '../events/registry-events.js';
import type { NewVersion, RegistryStore } from '../store/registry-store.js';
import { compatibilityDifferences } from './compatibility.js';
import { buildManifest, type ManifestFile } from './manifest.js';
import {
  ModelKindCode,
  Relation,
  type AdapterCompatibility,
  type ArchitectureFacts,
  type VersionDetails,
  type AliasMove,
  type ModelVersionRecord,
  type TrainingFacts,
} from './model-version.js';
import { listDirectory, makeStagingDir, stageFromStore, type StagedDir } from './staging.js';
import { stageUpload } from './upload-staging.js';
import { chatTemplateSha256Of, validateAdapterDir, validateModelDir } from './validate-model.js';

/** A model named by exact version or by alias. */
export type ModelSelector =
  | { readonly name: string; readonly version: number; readonly manifestSha256?: string }
  | { readonly name: string; readonly alias: string };

/** Free-form metadata of a new version. */
export interface VersionMetadata {
  readonly description: string;
  readonly labels: Readonly<Record<string, string>>;
  /** A retry with the same key returns the first version; other files with it are ABORTED. */
  readonly idempotencyKey?: string | undefined;
}

/** What the registry needs: its tables, its artifact namespace, its events and a scratch dir. */
export interface RegistryDeps {
  readonly store: RegistryStore;
  readonly artifacts: ArtifactStore;
  readonly events: RegistryEvents;
  /** Scratch space for staging uploads and merges. */
  readonly workDir: string;
  /** Directories ImportModelFromPath may read under; empty refuses every path. */
  readonly importRoots: readonly string[];
  /** Reports a publish that failed after its version was committed. */
  readonly onPublishError?: (error: unknown) => void;
}

/** A file the caller already put in the registry's artifact namespace. */
export interface StoredFileRef {
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
}

/** Request of {@link Registry.registerAdapter}. */
export interface AdapterRegistration extends VersionMetadata {
  readonly name: string;
  readonly base: ModelSelector;
  readonly quantizedBase: ModelSelector | undefined;
  readonly files: readonly StoredFileRef[];
  readonly method: string;
  readonly training: TrainingFacts | undefined;
}

function modelFilesInvalid(error: ModelFileError): LatheError {
  return LatheError.invalidArgument([{ field: 'files', description: error.message }], {
    reason: ErrorReason.ERROR_REASON_MODEL_FILES_INVALID,
    cause: error,
  });
}

function versionName(ref: { name: string; version: number }): string {
  return `${ref.name}@${String(ref.version)}`;
}

/**
 * The registry's logic: imports and registrations (validated, stored as content-addressed
 * blobs, recorded only once every byte is in), lookups, compare-and-set aliases, resumable
 * downloads, merges, deletion and garbage collection. Free of gRPC wiring; errors are LatheErrors.
 */
export class Registry {
  constructor(private readonly deps: RegistryDeps) {}

  /** Imports a base model from a directory under one of the import roots. */
  async importFromPath(
    name: string,
    path: string,
    meta: VersionMetadata,
  ): Promise<ModelVersionRecord> {
    const root = this.deps.importRoots.find(
      (r) => path === r || path.startsWith(r.endsWith('/') ? r : `${r}/`),
    );
    if (root === undefined || path.split('/').includes('..'))
      throw LatheError.permissionDenied(
        `path "${path}" is outside the registry's import roots (${this.deps.importRoots.join(', ') || 'none configured'})`,
      );
    let files: ManifestFile[];
    try {
      files = await listDirectory(path);
    } catch (cause) {
      throw LatheError.invalidArgument(
        [{ field: 'path', description: `cannot read "${path}": ${(cause as Error).message}` }],
        { cause },
      );
    }
    return this.importBase(name, { dir: path, files, remove: async () => {} }, meta);
  }

  /** Imports a base model from an ImportModel client stream (staged, verified, then imported). */
  async importUpload(requests: AsyncIterable<ImportModelRequest>): Promise<ModelVersionRecord> {
    const { header, staged } = await stageUpload(requests, this.deps.workDir);
    try {
      return await this.importBase(header.name, staged, header);
    } finally {
      await staged.remove();
    }
  }

  private async importBase(
    name: string,
    staged: StagedDir,
    meta: VersionMetadata,
  ): Promise<ModelVersionRecord> {
    let validated;
    try {
      validated = await validateModelDir(
        staged.dir,
        staged.files.map((f) => f.path),
      );
    } catch (error) {
      if (error instanceof ModelFileError) throw modelFilesInvalid(error);
      throw error;
    }
    await this.putFiles(staged);
    return this.record({
      name,
      kind: ModelKindCode.base,
      files: staged.files,
      details: { architecture: validated.architecture },
      ...meta,
      parents: [],
    });
  }

  /** Stores every staged file, each verified against the digest it was listed with. */
  private async putFiles(staged: StagedDir): Promise<void> {
    for (const f of staged.files)
      await this.deps.artifacts.put(createReadStream(join(staged.dir, ...f.path.split('/'))), {
        expectedDigest: `sha256:${f.sha256}`,
      });
  }

  /** Records a version whose blobs are all stored, then announces it. */
  private async record(v: Omit<NewVersion, 'manifestSha256'>): Promise<ModelVersionRecord> {
    let manifest;
    try {
      manifest = buildManifest(v.files);
    } catch (e) {
      throw LatheError.invalidArgument([{ field: 'files', description: (e as Error).message }]);
    }
    const { record, created } = await this.deps.store.insertVersion({
      ...v,
      files: manifest.files,
      manifestSha256: manifest.sha256,
    });
    if (created) {
      try {
        await this.deps.events.versionRegistered(record);
      } catch (error) {
        // The version is committed and stays; the event is what is missing, and is reported.
        this.deps.onPublishError?.(error);
      }
    }
    return record;
  }

  /** Resolves a selector to a live version; NOT_FOUND naming it otherwise. */
  async resolve(sel: ModelSelector, includeDeleted = false): Promise<ModelVersionRecord> {
    let version: number;
    if ('alias' in sel) {
      const target = await this.deps.store.aliasTarget(sel.name, sel.alias);
      if (target === undefined)
        throw LatheError.notFound('model alias', `${sel.name}@${sel.alias}`, {
          reason: ErrorReason.ERROR_REASON_MODEL_VERSION_NOT_FOUND,
        });
      version = target;
    } else version = sel.version;
    const record = await this.deps.store.getVersion(sel.name, version);
    if (record === undefined || (record.deleted && !includeDeleted))
      throw LatheError.notFound('model version', versionName({ name: sel.name, version }), {
        reason: ErrorReason.ERROR_REASON_MODEL_VERSION_NOT_FOUND,
        description: `model version "${versionName({ name: sel.name, version })}" ${record === undefined ? 'not found' : 'is deleted'}`,
      });
    if (
      'manifestSha256' in sel &&
      sel.manifestSha256 !== undefined &&
      sel.manifestSha256 !== '' &&
      sel.manifestSha256 !== record.ref.manifestSha256
    )
      throw LatheError.failedPrecondition(
        `model version "${versionName(record.ref)}" has manifest ${record.ref.manifestSha256}, not ${sel.manifestSha256}`,
        [
          {
            type: 'MANIFEST_DIGEST',
            subject: `models/${sel.name}/versions/${String(version)}`,
            description: 'digest differs',
          },
        ],
      );
    return record;
  }

  /** Stats every referenced file in the registry's namespace; NOT_FOUND naming a missing one. */
  private async checkStored(files: readonly StoredFileRef[]): Promise<void> {
    for (const f of files) {
      const digest = `sha256:${f.sha256}`;
      if (!(await this.deps.artifacts.has(digest)))
        throw LatheError.notFound('artifact', digest, {
          reason: ErrorReason.ERROR_REASON_ARTIFACT_NOT_FOUND,
          description: `file "${f.path}": artifact ${digest} is not in the registry's store`,
        });
      const info = await this.deps.artifacts.stat(digest);
      if (info.size !== f.size)
        throw LatheError.invalidArgument(
          [
            {
              field: 'files',
              description: `file "${f.path}": artifact is ${String(info.size)} bytes, not ${String(f.size)}`,
            },
          ],
          { reason: ErrorReason.ERROR_REASON_DIGEST_MISMATCH },
        );
    }
  }

  /**
   * Registers a PEFT LoRA adapter already in the artifact store: module names and shapes are
   * checked against the base's config, and the adapter records what it is only valid with (the
   * base's manifest digest, quantization state and chat-template hash).
   */
  async registerAdapter(req: AdapterRegistration): Promise<ModelVersionRecord> {
    const base = await this.resolve(req.base);
    if (base.kind !== ModelKindCode.base && base.kind !== ModelKindCode.merged)
      throw LatheError.failedPrecondition(
        `base "${versionName(base.ref)}" is not a complete model`,
        [
          {
            type: 'MODEL_KIND',
            subject: `models/${base.ref.name}`,
            description: 'adapters need a BASE or MERGED base',
          },
        ],
      );
    const quantized =
      req.quantizedBase === undefined ? undefined : await this.resolve(req.quantizedBase);
    await this.checkStored(req.files);
    const baseDir = await stageFromStore(
      this.deps.artifacts,
      base.files.filter((f) => f.path === 'config.json' || f.path === 'tokenizer_config.json'),
      this.deps.workDir,
      'base',
    );
    const adapterDir = await stageFromStore(
      this.deps.artifacts,
      req.files,
      this.deps.workDir,
      'adapter',
    );
    try {
      let checked;
      try {
        const baseConfig = await readLlamaConfig(join(baseDir.dir, 'config.json'));
        checked = await validateAdapterDir(adapterDir.dir, baseConfig);
      } catch (error) {
        if (error instanceof ModelFileError)
          throw LatheError.invalidArgument(
            [
              {
                field: 'files',
                description: `adapter does not fit base "${versionName(base.ref)}": ${error.message.replaceAll(adapterDir.dir + '/', '')}`,
              },
            ],
            { reason: ErrorReason.ERROR_REASON_ADAPTER_BASE_MISMATCH, cause: error },
          );
        throw error;
      }
      const compatibility: AdapterCompatibility = {
        baseManifestSha256: base.ref.manifestSha256,
        quantization:
          quantized?.details.quantization === undefined
            ? undefined
            : {
                scheme: quantized.details.quantization.scheme,
                blockSize: quantized.details.quantization.blockSize,
                doubleQuant: quantized.details.quantization.doubleQuant,
              },
        chatTemplateSha256: await chatTemplateSha256Of(baseDir.dir),
      };
      return await this.record({
        name: req.name,
        kind: ModelKindCode.adapter,
        files: req.files.map((f) => ({ path: f.path, sha256: f.sha256, size: f.size })),
        details: {
          architecture: {
            ...(base.details.architecture ?? emptyArchitecture()),
            parameterCount: checked.parameterCount,
          },
          adapter: {
            base: base.ref,
            quantizedBase: quantized?.ref,
            r: checked.r,
            alpha: checked.alpha,
            targetModules: checked.targetModules,
            useRslora: checked.useRslora,
            method: req.method === '' ? (quantized === undefined ? 'lora' : 'qlora') : req.method,
            compatibility,
          },
          ...(req.training === undefined ? {} : { training: req.training }),
        },
        description: req.description,
        labels: req.labels,
        idempotencyKey: req.idempotencyKey,
        parents: [
          { ref: base.ref, relation: Relation.adapterOf },
          ...(quantized === undefined
            ? []
            : [{ ref: quantized.ref, relation: Relation.adapterOf }]),
        ],
      });
    } finally {
      await baseDir.remove();
      await adapterDir.remove();
    }
  }

  /**
   * Registers a complete model whose files a job already put in the artifact store: staged,
   * validated by `validate` (a ModelFileError or QuantizationError becomes INVALID_ARGUMENT
   * MODEL_FILES_INVALID), then recorded with `details` and edges from `parents`.
   */
  private async registerStored(
    kind: ModelKindCode,
    name: string,
    files: readonly StoredFileRef[],
    validate: (dir: string, paths: readonly string[]) => Promise<ArchitectureFacts>,
    details: Omit<VersionDetails, 'architecture'>,
    parents: NewVersion['parents'],
    meta: VersionMetadata,
  ): Promise<ModelVersionRecord> {
    await this.checkStored(files);
    const staged = await stageFromStore(this.deps.artifacts, files, this.deps.workDir, 'stored');
    try {
      let architecture: ArchitectureFacts;
      try {
        architecture = await validate(
          staged.dir,
          files.map((f) => f.path),
        );
      } catch (error) {
        if (error instanceof ModelFileError) throw modelFilesInvalid(error);
        if (error instanceof QuantizationError)
          throw LatheError.invalidArgument([{ field: 'files', description: error.message }], {
            reason: ErrorReason.ERROR_REASON_MODEL_FILES_INVALID,
            cause: error,
          });
        throw error;
      }
      return await this.record({
        name,
        kind,
        files: files.map((f) => ({ path: f.path, sha256: f.sha256, size: f.size })),
        details: { architecture, ...details },
        parents,
        ...meta,
      });
    } finally {
      await staged.remove();
    }
  }

  /** Registers the result of a full fine-tune of `base` (a complete BASE-kind model). */
  async registerFineTuned(req: {
    name: string;
    base: ModelSelector;
    files: readonly StoredFileRef[];
    training: TrainingFacts | undefined;
    meta: VersionMetadata;
  }): Promise<ModelVersionRecord> {
    const base = await this.resolve(req.base);
    return this.registerStored(
      ModelKindCode.base,
      req.name,
      req.files,
      async (dir, paths) => (await validateModelDir(dir, paths)).architecture,
      req.training === undefined ? {} : { training: req.training },
      [{ ref: base.ref, relation: Relation.fineTunedFrom }],
      req.meta,
    );
  }

  /** Registers a merged model produced elsewhere, with lineage to its base and adapter. */
  async registerMerged(req: {
    name: string;
    base: ModelSelector;
    adapter: ModelSelector;
    files: readonly StoredFileRef[];
    dtype: string;
    meta: VersionMetadata;
  }): Promise<ModelVersionRecord> {
    const base = await this.resolve(req.base);
    const adapter = await this.resolve(req.adapter);
    if (adapter.details.adapter === undefined)
      throw LatheError.failedPrecondition(`"${versionName(adapter.ref)}" is not an adapter`, [
        {
          type: 'MODEL_KIND',
          subject: `models/${adapter.ref.name}`,
          description: 'not an adapter',
        },
      ]);
    return this.registerStored(
      ModelKindCode.merged,
      req.name,
      req.files,
      async (dir, paths) => (await validateModelDir(dir, paths)).architecture,
      {
        merge: {
          base: base.ref,
          adapter: adapter.ref,
          dtype: req.dtype === '' ? 'float32' : req.dtype,
        },
      },
      [
        { ref: base.ref, relation: Relation.mergedBase },
        { ref: adapter.ref, relation: Relation.mergedAdapter },
      ],
      req.meta,
    );
  }

  /**
   * Registers a bitsandbytes-quantized copy of `source`: `@lathe/llm` loads it (every quantized
   * weight decoded, every tensor the config implies checked), and the scheme declared in the
   * request must be the one its config.json records.
   */
  async registerQuantized(req: {
    name: string;
    source: ModelSelector;
    files: readonly StoredFileRef[];
    scheme: string;
    blockSize: number;
    doubleQuant: boolean;
    quantizationJobId: string;
    bitsPerParameter: number;
    meta: VersionMetadata;
  }): Promise<ModelVersionRecord> {
    const source = await this.resolve(req.source);
    return this.registerStored(
      ModelKindCode.quantized,
      req.name,
      req.files,
      async (dir) => {
        const bnb = await readBitsAndBytesConfig(dir);
        const fourBit = bnb?.['bnb_4bit_quant_type'];
        const recorded =
          bnb === undefined
            ? 'none'
            : bnb['load_in_8bit'] === true
              ? 'int8'
              : typeof fourBit === 'string'
                ? fourBit
                : 'none';
        if (recorded !== req.scheme)
          throw new ModelFileError(
            join(dir, 'config.json'),
            `quantization_config records scheme "${recorded}", the request says "${req.scheme}"`,
          );
        const model = await loadQuantizedModel(dir);
        let parameterCount = 0;
        for (const t of model.weights.values()) parameterCount += t.data.length;
        return {
          modelType: model.config.architecture,
          parameterCount,
          hiddenSize: model.config.hiddenSize,
          numLayers: model.config.numLayers,
          vocabSize: model.config.vocabSize,
          contextLength: model.config.maxPositions,
          dtype: req.scheme,
        };
      },
      {
        quantization: {
          source: source.ref,
          scheme: req.scheme,
          blockSize: req.blockSize,
          doubleQuant: req.doubleQuant,
          quantizationJobId: req.quantizationJobId,
          bitsPerParameter: req.bitsPerParameter,
        },
      },
      [{ ref: source.ref, relation: Relation.quantizedFrom }],
      req.meta,
    );
  }

  /**
   * Checks that `adapter` may be used with `base`: the same manifest digest, quantization state
   * and chat template as it was trained with. FAILED_PRECONDITION listing every difference.
   */
  async checkAdapterFor(
    adapter: ModelVersionRecord,
    base: ModelVersionRecord,
    options: { readonly ignoreQuantization?: boolean } = {},
  ): Promise<void> {
    const facts = adapter.details.adapter;
    if (facts === undefined)
      throw LatheError.failedPrecondition(`"${versionName(adapter.ref)}" is not an adapter`, [
        {
          type: 'MODEL_KIND',
          subject: `models/${adapter.ref.name}`,
          description: 'not an adapter',
        },
      ]);
    const staged = await stageFromStore(
      this.deps.artifacts,
      base.files.filter((f) => f.path === 'tokenizer_config.json'),
      this.deps.workDir,
      'check',
    );
    try {
      const q = base.details.quantization;
      const actual: AdapterCompatibility = {
        // A quantized base counts as its source's bytes in a given quantization state.
        baseManifestSha256: q === undefined ? base.ref.manifestSha256 : q.source.manifestSha256,
        quantization:
          options.ignoreQuantization === true || q === undefined
            ? undefined
            : { scheme: q.scheme, blockSize: q.blockSize, doubleQuant: q.doubleQuant },
        chatTemplateSha256: await chatTemplateSha256Of(staged.dir),
      };
      const expected =
        options.ignoreQuantization === true
          ? { ...facts.compatibility, quantization: undefined }
          : facts.compatibility;
      const diffs = compatibilityDifferences(expected, actual);
      if (diffs.length > 0)
        throw LatheError.failedPrecondition(
          `adapter "${versionName(adapter.ref)}" is not valid with "${versionName(base.ref)}": ${diffs.join('; ')}`,
          diffs.map((d) => ({
            type: 'ADAPTER_BASE_MISMATCH',
            subject: `models/${base.ref.name}/versions/${String(base.ref.version)}`,
            description: d,
          })),
          { reason: ErrorReason.ERROR_REASON_ADAPTER_BASE_MISMATCH },
        );
    } finally {
      await staged.remove();
    }
  }

  /**
   * Merges an adapter into its recorded base (W + scale·B·A by `@lathe/llm`, fp32) and registers
   * the result as a MERGED version with lineage to both.
   */
  async mergeAdapter(
    adapterSel: ModelSelector,
    outputName: string,
    meta: VersionMetadata,
  ): Promise<ModelVersionRecord> {
    const adapter = await this.resolve(adapterSel);
    const facts = adapter.details.adapter;
    if (facts === undefined)
      throw LatheError.failedPrecondition(`"${versionName(adapter.ref)}" is not an adapter`, [
        {
          type: 'MODEL_KIND',
          subject: `models/${adapter.ref.name}`,
          description: 'not an adapter',
        },
      ]);
    const base = await this.resolve(facts.base);
    // PEFT merges a QLoRA adapter into the unquantized weights it was trained from, so only the
    // base bytes and the chat template must match here.
    await this.checkAdapterFor(adapter, base, { ignoreQuantization: true });
    const baseDir = await stageFromStore(
      this.deps.artifacts,
      base.files,
      this.deps.workDir,
      'merge-base',
    );
    const adapterDir = await stageFromStore(
      this.deps.artifacts,
      adapter.files,
      this.deps.workDir,
      'merge-adapter',
    );
    const outDir = await makeStagingDir(this.deps.workDir, 'merged');
    try {
      await mergeAdapterDir(baseDir.dir, adapterDir.dir, outDir);
      const files = await listDirectory(outDir);
      const validated = await validateModelDir(
        outDir,
        files.map((f) => f.path),
      );
      const staged = { dir: outDir, files, remove: async () => {} };
      await this.putFiles(staged);
      return await this.record({
        name: outputName === '' ? `${adapter.ref.name}-merged` : outputName,
        kind: ModelKindCode.merged,
        files,
        details: {
          architecture: validated.architecture,
          merge: { base: base.ref, adapter: adapter.ref, dtype: 'float32' },
        },
        ...meta,
        parents: [
          { ref: base.ref, relation: Relation.mergedBase },
          { ref: adapter.ref, relation: Relation.mergedAdapter },
        ],
      });
    } finally {
      await baseDir.remove();
      await adapterDir.remove();
      await rm(outDir, { recursive: true, force: true });
    }
  }

  /** Compare-and-set move of an alias; the move is announced after it commits. */
  async setAlias(move: {
    name: string;
    alias: string;
    to: number;
    expected: number;
    actor: string;
    reason: string;
  }): Promise<AliasMove> {
    const done = await this.deps.store.moveAlias(move);
    try {
      await this.deps.events.aliasMoved(done);
    } catch (error) {
      this.deps.onPublishError?.(error);
    }
    return done;
  }

  /** An alias's moves, newest first. */
  aliasHistory(name: string, alias: string): Promise<AliasMove[]> {
    return this.deps.store.aliasHistory(name, alias);
  }

  /** Deletes a version's record (kept as DELETED) unless something references it. */
  async deleteVersion(name: string, version: number, force: boolean): Promise<ModelVersionRecord> {
    await this.deps.store.markDeleted(name, version, force);
    return this.resolve({ name, version }, true);
  }

  /** Removes every blob no live version lists; returns how many and how many bytes. */
  async collectGarbage(): Promise<{ blobs: number; bytes: number }> {
    const live = await this.deps.store.liveBlobs();
    let blobs = 0;
    let bytes = 0;
    for await (const b of this.deps.artifacts.list()) {
      if (live.has(b.sha256)) continue;
      if (await this.deps.artifacts.delete(b.digest)) {
        blobs++;
        bytes += b.size;
      }
    }
    return { blobs, bytes };
  }

  /** The artifact store, for streaming downloads. */
  get artifacts(): ArtifactStore {
    return this.deps.artifacts;
  }

  /** The store, for listings. */
  get store(): RegistryStore {
    return this.deps.store;
  }
}

function emptyArchitecture() {
  return {
    modelType: '',
    parameterCount: 0,
    hiddenSize: 0,
    numLayers: 0,
    vocabSize: 0,
    contextLength: 0,
    dtype: '',
  };
}
