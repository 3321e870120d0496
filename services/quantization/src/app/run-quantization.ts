import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { ArtifactStore } from '@lathe/artifacts';
import type { QualityReport } from '@lathe/contracts/lathe/quantization/v1/quality_report';
import { ModelVersionState } from '@lathe/contracts/lathe/registry/v1/model';
import type { StoredFile } from '@lathe/contracts/lathe/registry/v1/registry_service';
import type { Logger } from '@lathe/service-kit';
import type { RegistryGateway } from '../clients/registry.js';
import { modelTensors, qualityReportOf } from '../domain/quality-report.js';
import type { JobFigures, QuantizationJobRecord, VersionRef } from '../domain/quantization-job.js';
import type { QuantizationStore } from '../store/quantization-store.js';
import { quantizeInThread } from '../worker/quantize-in-thread.js';

/** What one quantization needs. */
export interface RunDeps {
  readonly store: QuantizationStore;
  readonly registry: RegistryGateway;
  readonly artifacts: ArtifactStore;
  readonly scratchDir: string;
  readonly log: Logger;
}

/** What a successful run produced. */
export interface RunOutcome {
  readonly result: VersionRef;
  readonly figures: JobFigures;
  readonly report: QualityReport;
}

/** Progress is written at most this often, ms: a large model has hundreds of tensors. */
const PROGRESS_INTERVAL_MS = 250;

/** Files under `dir`, as '/'-separated paths relative to it, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split('\\').join('/'))
    .sort();
}

/** Puts every file of `dir` into the registry's artifact store. */
async function storeFiles(
  dir: string,
  artifacts: ArtifactStore,
  signal: AbortSignal,
): Promise<StoredFile[]> {
  const files: StoredFile[] = [];
  for (const path of await filesUnder(dir)) {
    signal.throwIfAborted();
    const { sha256, size, digest } = await artifacts.put(createReadStream(join(dir, path)));
    files.push({
      path,
      artifact: {
        sha256,
        sizeBytes: size,
        mediaType: path.endsWith('.json') ? 'application/json' : 'application/octet-stream',
        uri: `${artifacts.namespace}/${digest}`,
      },
    });
  }
  return files;
}

/**
 * One quantization, start to registration: downloads the source version into the job's scratch
 * directory (verified file by file), quantizes it on a worker thread (streaming, one tensor in
 * memory at a time) while recording progress, puts the files into the registry's artifact store
 * and registers them with RegisterQuantizedModel under the job's cache key (a retry after a crash
 * gets the same version back). The scratch directory is always removed.
 */
export async function runQuantization(
  job: QuantizationJobRecord,
  signal: AbortSignal,
  deps: RunDeps,
): Promise<RunOutcome> {
  const dir = join(deps.scratchDir, `job-${job.id}`);
  await rm(dir, { recursive: true, force: true });
  const sourceDir = join(dir, 'source');
  const outDir = join(dir, 'quantized');
  await mkdir(sourceDir, { recursive: true });
  try {
    await deps.registry.download(job.source, sourceDir, signal);
    const tensors = await modelTensors(sourceDir);
    await deps.store.progress(job.id, 0, tensors.length);
    // The thread reports quantized tensors only; the tensors kept before one are done too.
    const position = new Map(tensors.map((t, i) => [t.name, i + 1]));
    let done = 0;
    let lastWrite = 0;
    let writing: Promise<void> = Promise.resolve();
    const report = await quantizeInThread(sourceDir, outDir, job.config, {
      signal,
      onTensor: (name) => {
        done = Math.max(done, position.get(name) ?? done);
        const now = Date.now();
        if (now - lastWrite < PROGRESS_INTERVAL_MS) return;
        lastWrite = now;
        const n = done;
        writing = writing
          .then(() => deps.store.progress(job.id, n, tensors.length))
          .catch((error: unknown) =>
            deps.log.warn('progress not recorded', { jobId: job.id, error: String(error) }),
          );
      },
    });
    await writing;
    const quality = qualityReportOf(job.id, job.config, tensors, report);
    const files = await storeFiles(outDir, deps.artifacts, signal);
    signal.throwIfAborted();
    const fourBit = job.config.scheme !== 'int8';
    const version = await deps.registry.registerQuantized({
      name: job.outputName,
      source: { ...job.source },
      files,
      scheme: job.config.scheme,
      blockSize: fourBit ? job.config.blockSize : 0,
      doubleQuant: fourBit && job.config.doubleQuant,
      quantizationJobId: job.id,
      bitsPerParameter: quality.figures.bitsPerParameter,
      description: `${job.config.scheme} quantization of ${job.source.name}@${String(job.source.version)}`,
      idempotencyKey: `quantization-${job.cacheKey}`,
    });
    if (version.ref === undefined) throw new Error('registry returned a version without its ref');
    // The registry answers a repeated idempotency key with the first version, even a deleted one
    // (an earlier result of this cache key that someone deleted): say so rather than succeed.
    if (version.state === ModelVersionState.MODEL_VERSION_STATE_DELETED)
      throw new Error(
        `the registry returned ${version.ref.name}@${String(version.ref.version)}, an earlier result with the same bytes that was deleted; quantize under another output name`,
      );
    return { result: { ...version.ref }, figures: quality.figures, report: quality.report };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
