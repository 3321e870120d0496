// Materializes a job's inputs on local disk: the base model's files and the dataset's splits,
// each cached by digest under the worker's scratch directory.
import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import type { ArtifactStore } from '@lathe/artifacts';
import { DatasetSplit, type DatasetVersionRef } from '@lathe/contracts/lathe/common/v1/dataset_ref';
import type { ModelVersionRef } from '@lathe/contracts/lathe/common/v1/model_ref';
import type { DatasetServiceClient } from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import {
  ExportFormat,
  type ExportDatasetVersionResponse,
} from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import type { RegistryServiceService } from '@lathe/contracts/lathe/registry/v1/registry_service';
import { fromServiceError, type LatheClient } from '@lathe/service-kit';

/** The registry calls the worker makes. */
export type RegistryClient = LatheClient<typeof RegistryServiceService>;

/** Local copies of a job's inputs. */
export interface LocalInputs {
  /** The base model, Hugging Face layout. */
  readonly modelDir: string;
  /** Train split, OpenAI chat JSONL. */
  readonly trainPath: string;
  /** Eval split, when the version has eval records. */
  readonly evalPath: string | undefined;
}

/** Where a job's inputs come from. */
export interface JobInputSources {
  readonly registry: RegistryClient;
  /** The registry's artifact namespace, from which model files are read (verified by digest). */
  readonly registryArtifacts: ArtifactStore;
  readonly datasets: DatasetServiceClient;
  /** Bearer token for the datasets service, if it needs one. */
  readonly token: string | undefined;
  /** Cache root: `models/<manifest>/` and `datasets/<manifest>/` below it. */
  readonly scratchDir: string;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Fills `final` through `fill(tmp)` then a rename, so a half-written cache entry is never seen. */
async function cached(final: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  if (await exists(join(final, '.complete'))) return;
  const tmp = `${final}.${randomUUID()}.partial`;
  await mkdir(tmp, { recursive: true });
  try {
    await fill(tmp);
    await writeFile(join(tmp, '.complete'), '');
    await rm(final, { recursive: true, force: true });
    await rename(tmp, final);
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    // Another job on this worker may have filled it meanwhile.
    if (await exists(join(final, '.complete'))) return;
    throw error;
  }
}

/** Downloads the version's files from the registry's artifact namespace into a cached folder. */
export async function materializeModel(
  sources: JobInputSources,
  ref: ModelVersionRef,
): Promise<string> {
  const { version } = await sources.registry.getModelVersion({
    ref: { name: ref.name, selector: { $case: 'version', version: ref.version } },
    includeDeleted: false,
  });
  if (version === undefined) throw new Error(`registry returned no version for ${ref.name}`);
  const manifest = version.ref?.manifestSha256 ?? '';
  if (ref.manifestSha256 !== '' && manifest !== ref.manifestSha256)
    throw new Error(
      `model ${ref.name} version ${ref.version} now has manifest ${manifest}, the job resolved ${ref.manifestSha256}`,
    );
  const dir = join(sources.scratchDir, 'models', manifest);
  await cached(dir, async (tmp) => {
    for (const file of version.files) {
      const target = resolve(tmp, file.path);
      if (!target.startsWith(resolve(tmp) + sep))
        throw new Error(`model file path "${file.path}" leaves the model folder`);
      await mkdir(dirname(target), { recursive: true });
      const source = await sources.registryArtifacts.get(`sha256:${file.artifact?.sha256 ?? ''}`);
      await pipeline(source, createWriteStream(target));
    }
  });
  return dir;
}

async function exportSplit(
  sources: JobInputSources,
  ref: DatasetVersionRef,
  split: DatasetSplit,
  format: ExportFormat,
  path: string,
): Promise<number> {
  const metadata = new Metadata();
  if (sources.token !== undefined) metadata.set('authorization', `Bearer ${sources.token}`);
  const stream = sources.datasets.exportDatasetVersion({ version: ref, split, format }, metadata, {
    deadline: Date.now() + 600_000,
  });
  const out = createWriteStream(path);
  const hash = createHash('sha256');
  let expected: { sha256: string; size: number; records: number } | undefined;
  let size = 0;
  try {
    for await (const raw of stream) {
      const m = (raw as ExportDatasetVersionResponse).message;
      if (m?.$case === 'header') {
        expected = {
          sha256: m.header.file?.sha256 ?? '',
          size: m.header.file?.sizeBytes ?? 0,
          records: m.header.recordCount,
        };
      } else if (m?.$case === 'chunk') {
        hash.update(m.chunk);
        size += m.chunk.length;
        if (!out.write(m.chunk)) await once(out, 'drain');
      }
    }
  } catch (error) {
    out.destroy();
    throw fromServiceError(error as ServiceError);
  }
  await new Promise<void>((r, j) => out.end((e?: Error | null) => (e ? j(e) : r())));
  if (expected === undefined) throw new Error(`export of ${ref.dataset} sent no header`);
  const digest = hash.digest('hex');
  if (size !== expected.size || (expected.sha256 !== '' && digest !== expected.sha256))
    throw new Error(
      `export of ${ref.dataset} version ${ref.version} arrived as ${size} bytes sha256 ${digest}, announced ${expected.size} bytes sha256 ${expected.sha256}`,
    );
  return expected.records;
}

/**
 * Exports the version's train and eval splits into a cached folder: chat JSONL (SFT) or
 * prompt/chosen/rejected JSONL (preference datasets, for DPO).
 */
export async function materializeDataset(
  sources: JobInputSources,
  ref: DatasetVersionRef,
  layout: 'chat' | 'preference' = 'chat',
): Promise<{ trainPath: string; evalPath: string | undefined }> {
  const format =
    layout === 'chat'
      ? ExportFormat.EXPORT_FORMAT_CHAT_JSONL
      : ExportFormat.EXPORT_FORMAT_PREFERENCE_JSONL;
  const dir = join(
    sources.scratchDir,
    'datasets',
    `${ref.manifestSha256 || `${ref.dataset}-v${ref.version}`}-${layout}`,
  );
  await cached(dir, async (tmp) => {
    await exportSplit(
      sources,
      ref,
      DatasetSplit.DATASET_SPLIT_TRAIN,
      format,
      join(tmp, 'train.jsonl'),
    );
    const evalRecords = await exportSplit(
      sources,
      ref,
      DatasetSplit.DATASET_SPLIT_EVAL,
      format,
      join(tmp, 'eval.jsonl'),
    );
    if (evalRecords === 0) await rm(join(tmp, 'eval.jsonl'));
  });
  const evalPath = join(dir, 'eval.jsonl');
  return {
    trainPath: join(dir, 'train.jsonl'),
    evalPath: (await exists(evalPath)) ? evalPath : undefined,
  };
}
