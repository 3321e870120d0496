// The quantization service end to end: the real registry and quantization processes on real
// PostgreSQL and NATS JetStream (events and the registry's Object Store), stories260K imported
// and quantized, the result checked against the model's own weights.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Metadata, status } from '@grpc/grpc-js';
import { connectJetStreamBus, type EventBus } from '@lathe/bus';
import type {
  QuantizationCompleted,
  QuantizationFailed,
} from '@lathe/contracts/lathe/quantization/v1/events';
import {
  QuantizationJobState,
  QuantizationScheme,
  QuantizationSpec,
  type QuantizationJob,
} from '@lathe/contracts/lathe/quantization/v1/quantization_job';
import { QuantizationServiceService } from '@lathe/contracts/lathe/quantization/v1/quantization_service';
import { ModelKind } from '@lathe/contracts/lathe/registry/v1/model';
import { RegistryServiceService } from '@lathe/contracts/lathe/registry/v1/registry_service';
import {
  readModelWeights,
  readQuantizedWeights,
  readSafetensors,
  writeSafetensors,
} from '@lathe/llm';
import { createClient, isLatheError, type LatheClient, type LatheError } from '@lathe/service-kit';
import { spawnService, type SpawnedService } from '@lathe/service-kit/testing';
import { createTestDatabase, startNats, type TestDatabase, type TestNats } from '@lathe/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../src/clients/registry.js';
import {
  QuantizationCompletedEvent,
  QuantizationFailedEvent,
} from '../src/events/quantization-events.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SHARED_MODELS = join(REPO_ROOT, '../shared/models');
const STORIES = join(SHARED_MODELS, 'stories260K');
const STORIES_MISSING = existsSync(join(STORIES, 'model.safetensors'))
  ? ''
  : `shared model not found at ${STORIES}`;
const REGISTRY_MAIN = join(REPO_ROOT, 'services/registry/src/main.ts');
const QUANTIZATION_MAIN = join(REPO_ROOT, 'services/quantization/src/main.ts');
// The telemetry SDK (no exporter), so the gRPC server span joins the caller's trace and the
// job's events carry it.
const TELEMETRY = join(REPO_ROOT, 'libs/telemetry/dist/src/register.js');

const NF4 = QuantizationScheme.QUANTIZATION_SCHEME_NF4;
const SUCCEEDED = QuantizationJobState.QUANTIZATION_JOB_STATE_SUCCEEDED;

async function failure(p: Promise<unknown>): Promise<LatheError> {
  const e: unknown = await p.then(
    () => new Error('the call succeeded'),
    (error: unknown) => error,
  );
  if (isLatheError(e)) return e;
  throw e;
}

describe.skipIf(STORIES_MISSING !== '')(
  `the quantization service with the registry ${STORIES_MISSING}`,
  () => {
    let db: TestDatabase;
    let nats: TestNats;
    let work: string;
    let registryProcess: SpawnedService;
    let quantProcess: SpawnedService;
    let registry: LatheClient<typeof RegistryServiceService>;
    let quant: LatheClient<typeof QuantizationServiceService>;
    let bus: EventBus;
    const completed: Array<{ message: QuantizationCompleted; headers: Record<string, string> }> =
      [];
    const failed: QuantizationFailed[] = [];
    let job: QuantizationJob;

    const startQuantization = async (): Promise<void> => {
      quantProcess = await spawnService({
        entry: QUANTIZATION_MAIN,
        cwd: REPO_ROOT,
        startTimeoutMs: 60_000,
        env: {
          LATHE_AUTH_MODE: 'none',
          LATHE_QUANTIZATION_DATABASE_URL: db.url,
          NATS_URL: nats.url,
          LATHE_QUANTIZATION_REGISTRY_ADDR: registryProcess.address,
          LATHE_QUANTIZATION_REGISTRY_ARTIFACTS: 'nats',
          LATHE_QUANTIZATION_SCRATCH_DIR: join(work, 'quantization-scratch'),
          NODE_OPTIONS: `--import ${TELEMETRY}`,
          OTEL_TRACES_EXPORTER: 'none',
          OTEL_METRICS_EXPORTER: 'none',
          OTEL_LOGS_EXPORTER: 'none',
        },
      });
      quant = createClient(QuantizationServiceService, quantProcess.address, {
        idempotent: [],
        deadlineMs: 60_000,
      });
    };

    const waitForEnd = async (id: string): Promise<QuantizationJob> => {
      const deadline = Date.now() + 180_000;
      for (;;) {
        const { job: j } = await quant.getQuantizationJob({ jobId: id });
        if (j !== undefined && j.state >= SUCCEEDED) return j;
        if (Date.now() > deadline) throw new Error(`job ${id} still ${String(j?.state)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };

    const jobsRun = (): number =>
      quantProcess.stdout.filter((l) => l.includes('"msg":"job running"')).length;

    beforeAll(async () => {
      db = await createTestDatabase();
      nats = await startNats();
      work = await mkdtemp(join(tmpdir(), 'lathe-quantization-int-'));
      registryProcess = await spawnService({
        entry: REGISTRY_MAIN,
        cwd: REPO_ROOT,
        startTimeoutMs: 60_000,
        env: {
          LATHE_AUTH_MODE: 'none',
          LATHE_REGISTRY_STORE_URL: db.url,
          LATHE_REGISTRY_ARTIFACTS: 'nats',
          NATS_URL: nats.url,
          LATHE_REGISTRY_WORK_DIR: join(work, 'registry-work'),
          LATHE_REGISTRY_IMPORT_ROOTS: `${SHARED_MODELS},${work}`,
        },
      });
      registry = createClient(RegistryServiceService, registryProcess.address, {
        idempotent: [],
        deadlineMs: 120_000,
      });
      await startQuantization();
      bus = await connectJetStreamBus({ servers: nats.url, name: 'quantization-int-test' });
      await bus.subscribe(
        QuantizationCompletedEvent,
        (e) => {
          completed.push({ message: e.message, headers: { ...e.headers } });
          return Promise.resolve();
        },
        { durable: `test-${randomBytes(4).toString('hex')}` },
      );
      await bus.subscribe(
        QuantizationFailedEvent,
        (e) => {
          failed.push(e.message);
          return Promise.resolve();
        },
        { durable: `test-failed-${randomBytes(4).toString('hex')}` },
      );
    }, 180_000);

    afterAll(async () => {
      quant?.close();
      registry?.close();
      await bus?.close();
      await quantProcess?.stop();
      await registryProcess?.stop();
      await nats?.close();
      await db?.close();
      if (work !== undefined) await rm(work, { recursive: true, force: true });
    });

    it('quantizes a registry model to NF4: a new registered version, its report, its event', async () => {
      const imported = await registry.importModelFromPath({
        name: 'stories260k',
        path: STORIES,
        description: '',
        labels: {},
      });
      const source = imported.version!.ref!;
      const traceId = randomBytes(16).toString('hex');
      const metadata = new Metadata();
      metadata.set('traceparent', `00-${traceId}-${randomBytes(8).toString('hex')}-01`);
      const first = await quant.quantizeModel(
        {
          source: { name: 'stories260k', selector: { $case: 'version', version: 1 } },
          spec: QuantizationSpec.fromPartial({ scheme: NF4, doubleQuant: true }),
          outputName: '',
          idempotencyKey: '',
        },
        { metadata },
      );
      expect(first.cached).toBe(false);
      expect(first.job?.source).toEqual(source);
      expect(first.job?.outputName).toBe('stories260k-nf4');
      job = await waitForEnd(first.job!.id);
      expect(job.failure).toBeUndefined();
      expect(job.state).toBe(SUCCEEDED);
      expect(job.tensorsDone).toBe(job.tensorsTotal);
      expect(job.tensorsTotal).toBeGreaterThan(0);

      // The registry holds a new QUANTIZED version recording its source digest and scheme.
      const result = (
        await registry.getModelVersion({
          ref: {
            name: job.result!.name,
            selector: { $case: 'version', version: job.result!.version },
          },
          includeDeleted: false,
        })
      ).version!;
      expect(result.ref).toEqual(job.result);
      expect(result.kind).toBe(ModelKind.MODEL_KIND_QUANTIZED);
      expect(result.quantization).toMatchObject({
        source,
        scheme: 'nf4',
        blockSize: 64,
        doubleQuant: true,
        quantizationJobId: job.id,
      });

      // The report covers every tensor, and its figures are those of the registered bytes:
      // the result is downloaded, dequantized, and compared with the original weights here.
      const { report } = await quant.getQualityReport({ jobId: job.id });
      const original = await readModelWeights(STORIES);
      expect(report!.tensors.map((t) => t.name).sort()).toEqual([...original.keys()].sort());
      const downloaded = join(work, 'downloaded');
      const client = new RegistryClient(registryProcess.address);
      try {
        await mkdir(downloaded, { recursive: true });
        await client.download(job.result!, downloaded, AbortSignal.timeout(60_000));
      } finally {
        client.close();
      }
      const restored = await readQuantizedWeights(downloaded);
      const quantized = report!.tensors.filter((t) => t.quantized);
      expect(quantized.length).toBeGreaterThan(0);
      expect(quantized.every((t) => t.name.endsWith('_proj.weight'))).toBe(true);
      for (const t of quantized) {
        const a = original.get(t.name)!.data;
        const b = restored.get(t.name)!.data;
        let sq = 0;
        for (let i = 0; i < a.length; i++) sq += (a[i]! - b[i]!) ** 2;
        expect(t.rmse).toBeGreaterThan(0);
        expect(Math.abs(t.rmse - Math.sqrt(sq / a.length)) / t.rmse).toBeLessThan(1e-6);
      }
      for (const t of report!.tensors.filter((x) => !x.quantized)) {
        expect(t.rmse).toBe(0);
        expect(t.snrDb).toBe(Number.POSITIVE_INFINITY);
      }
      expect(report!.bytesAfter).toBeLessThan(report!.bytesBefore);
      expect(result.quantization!.bitsPerParameter).toBeCloseTo(report!.bitsPerParameter, 9);

      // QuantizationCompleted reached NATS, in the caller's trace.
      const deadline = Date.now() + 20_000;
      while (!completed.some((e) => e.message.jobId === job.id) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      const event = completed.find((e) => e.message.jobId === job.id);
      expect(event?.message).toMatchObject({
        source,
        result: job.result,
        bytesAfter: report!.bytesAfter,
      });
      expect(event?.headers['traceparent']?.split('-')[1]).toBe(traceId);
    }, 240_000);

    it('answers a second request for the same source and spec from the cache, without quantizing', async () => {
      const runsBefore = jobsRun();
      const started = performance.now();
      const again = await quant.quantizeModel({
        source: { name: 'stories260k', selector: { $case: 'version', version: 1 } },
        // Block 64 spelled out and the nested block size given: the same applied spec.
        spec: QuantizationSpec.fromPartial({
          scheme: NF4,
          blockSize: 64,
          doubleQuant: true,
          doubleQuantBlockSize: 256,
        }),
        outputName: 'another-name',
        idempotencyKey: '',
      });
      const elapsedMs = performance.now() - started;
      expect(again.cached).toBe(true);
      expect(again.job?.id).toBe(job.id);
      expect(again.job?.state).toBe(SUCCEEDED);
      expect(again.job?.result).toEqual(job.result);
      expect(elapsedMs).toBeLessThan(2000);
      expect(jobsRun()).toBe(runsBefore);
      const versions = await registry.listModelVersions({
        name: job.result!.name,
        includeDeleted: false,
        page: undefined,
      });
      expect(versions.versions).toHaveLength(1);
      const listed = await quant.listQuantizationJobs({
        states: [],
        sourceModel: 'stories260k',
        page: undefined,
      });
      expect(listed.jobs.map((j) => j.id)).toEqual([job.id]);
    });

    it('joins a job still running for the same key instead of starting a second one', async () => {
      const request = {
        source: { name: 'stories260k', selector: { $case: 'version' as const, version: 1 } },
        spec: QuantizationSpec.fromPartial({ scheme: QuantizationScheme.QUANTIZATION_SCHEME_FP4 }),
        outputName: '',
        idempotencyKey: '',
      };
      const [a, b] = await Promise.all([
        quant.quantizeModel(request),
        quant.quantizeModel(request),
      ]);
      expect(a.job?.id).toBe(b.job?.id);
      expect([a.cached, b.cached].sort()).toEqual([false, true]);
      const done = await waitForEnd(a.job!.id);
      expect(done.state).toBe(SUCCEEDED);
      expect(done.result?.name).toBe('stories260k-fp4');
      const page1 = await quant.listQuantizationJobs({
        states: [SUCCEEDED],
        sourceModel: '',
        page: { pageSize: 1, pageToken: '' },
      });
      expect(page1.jobs.map((j) => j.id)).toEqual([a.job!.id]);
      expect(page1.page?.totalSize).toBe(2);
      const page2 = await quant.listQuantizationJobs({
        states: [SUCCEEDED],
        sourceModel: '',
        page: { pageSize: 1, pageToken: page1.page!.nextPageToken },
      });
      expect(page2.jobs.map((j) => j.id)).toEqual([job.id]);
      expect(page2.page?.nextPageToken).toBe('');
    }, 240_000);

    it('refuses an unsupported scheme or block size with INVALID_ARGUMENT naming the field', async () => {
      const source = { name: 'stories260k', selector: { $case: 'version' as const, version: 1 } };
      const block = await failure(
        quant.quantizeModel({
          source,
          spec: QuantizationSpec.fromPartial({ scheme: NF4, blockSize: 48 }),
          outputName: '',
          idempotencyKey: '',
        }),
      );
      expect(block.code).toBe(status.INVALID_ARGUMENT);
      expect(block.details.fieldViolations?.map((v) => v.field)).toEqual(['spec.blockSize']);
      expect(block.details.fieldViolations?.[0]?.description).toMatch(/unsupported block size 48/);
      const scheme = await failure(
        quant.quantizeModel({
          source,
          spec: QuantizationSpec.fromPartial({ scheme: 7 as QuantizationScheme }),
          outputName: '',
          idempotencyKey: '',
        }),
      );
      expect(scheme.code).toBe(status.INVALID_ARGUMENT);
      expect(scheme.details.fieldViolations?.map((v) => v.field)).toEqual(['spec.scheme']);
      const unset = await failure(
        quant.quantizeModel({
          source,
          spec: QuantizationSpec.fromPartial({}),
          outputName: '',
          idempotencyKey: '',
        }),
      );
      expect(unset.details.fieldViolations?.map((v) => v.field)).toEqual(['spec.scheme']);
    });

    it('refuses to quantize a quantized model, saying so, and an unknown model with NOT_FOUND', async () => {
      const again = await failure(
        quant.quantizeModel({
          source: {
            name: job.result!.name,
            selector: { $case: 'version', version: job.result!.version },
          },
          spec: QuantizationSpec.fromPartial({ scheme: NF4 }),
          outputName: '',
          idempotencyKey: '',
        }),
      );
      expect(again.code).toBe(status.FAILED_PRECONDITION);
      expect(again.details.errorInfo.reason).toBe('MODEL_NOT_QUANTIZABLE');
      expect(again.rawMessage).toMatch(/is already quantized \(nf4 of stories260k@1\)/);
      const unknown = await failure(
        quant.quantizeModel({
          source: { name: 'no-such-model', selector: { $case: 'version', version: 1 } },
          spec: QuantizationSpec.fromPartial({ scheme: NF4 }),
          outputName: '',
          idempotencyKey: '',
        }),
      );
      expect(unknown.code).toBe(status.NOT_FOUND);
      const cancel = await failure(quant.cancelQuantizationJob({ jobId: job.id }));
      expect(cancel.code).toBe(status.FAILED_PRECONDITION);
      const missing = await failure(quant.getQuantizationJob({ jobId: 'no-such-job' }));
      expect(missing.code).toBe(status.NOT_FOUND);
    });

    it('cancels queued and running jobs: nothing is registered, and a later request starts afresh', async () => {
      const source = { name: 'stories260k', selector: { $case: 'version' as const, version: 1 } };
      const int8 = await quant.quantizeModel({
        source,
        spec: QuantizationSpec.fromPartial({ scheme: QuantizationScheme.QUANTIZATION_SCHEME_INT8 }),
        outputName: '',
        idempotencyKey: '',
      });
      const fp4 = await quant.quantizeModel({
        source,
        spec: QuantizationSpec.fromPartial({
          scheme: QuantizationScheme.QUANTIZATION_SCHEME_FP4,
          blockSize: 128,
        }),
        outputName: 'fp4-128',
        idempotencyKey: '',
      });
      for (const j of [int8.job!, fp4.job!]) {
        const { job: cancelled } = await quant.cancelQuantizationJob({ jobId: j.id });
        expect(cancelled?.state).toBe(QuantizationJobState.QUANTIZATION_JOB_STATE_CANCELLED);
      }
      // Long enough for either job to have finished, had it kept running.
      await new Promise((r) => setTimeout(r, 4000));
      for (const j of [int8.job!, fp4.job!]) {
        const { job: now } = await quant.getQuantizationJob({ jobId: j.id });
        expect(now?.state).toBe(QuantizationJobState.QUANTIZATION_JOB_STATE_CANCELLED);
        expect(now?.result).toBeUndefined();
        const report = await failure(quant.getQualityReport({ jobId: j.id }));
        expect(report.details.errorInfo.reason).toBe('QUALITY_REPORT_NOT_READY');
      }
      for (const name of ['stories260k-int8', 'fp4-128']) {
        const absent = await failure(
          registry.getModelVersion({
            ref: { name, selector: { $case: 'version', version: 1 } },
            includeDeleted: true,
          }),
        );
        expect(absent.code).toBe(status.NOT_FOUND);
      }
      const retry = await quant.quantizeModel({
        source,
        spec: QuantizationSpec.fromPartial({ scheme: QuantizationScheme.QUANTIZATION_SCHEME_INT8 }),
        outputName: '',
        idempotencyKey: '',
      });
      expect(retry.cached).toBe(false);
      expect(retry.job?.id).not.toBe(int8.job?.id);
      const done = await waitForEnd(retry.job!.id);
      expect(done.state).toBe(SUCCEEDED);
      expect(done.spec).toMatchObject({ blockSize: undefined, doubleQuant: false });
    }, 240_000);

    it('fails a job whose model holds NaN, naming the tensor, and announces QuantizationFailed', async () => {
      const dir = join(work, 'stories-nan');
      await mkdir(dir, { recursive: true });
      for (const f of await readdir(STORIES)) await copyFile(join(STORIES, f), join(dir, f));
      const { tensors } = await readSafetensors(join(STORIES, 'model.safetensors'));
      const bad = [...tensors.keys()].find((n) => n.endsWith('mlp.down_proj.weight'))!;
      tensors.get(bad)!.data[5] = Number.NaN;
      await writeSafetensors(join(dir, 'model.safetensors'), tensors);
      await registry.importModelFromPath({
        name: 'stories-nan',
        path: dir,
        description: '',
        labels: {},
      });
      const { job: started } = await quant.quantizeModel({
        source: { name: 'stories-nan', selector: { $case: 'version', version: 1 } },
        spec: QuantizationSpec.fromPartial({ scheme: NF4 }),
        outputName: '',
        idempotencyKey: '',
      });
      const ended = await waitForEnd(started!.id);
      expect(ended.state).toBe(QuantizationJobState.QUANTIZATION_JOB_STATE_FAILED);
      expect(ended.failure?.reason).toBe('MODEL_NOT_QUANTIZABLE');
      expect(ended.failure?.message).toContain(bad);
      expect(ended.failure?.message).toMatch(/NaN/);
      const deadline = Date.now() + 20_000;
      while (!failed.some((e) => e.jobId === ended.id) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      expect(failed.find((e) => e.jobId === ended.id)?.failure).toEqual(ended.failure);
    }, 240_000);

    it('keeps its jobs, reports and cache across a restart, and finishes the job it was running', async () => {
      // A job with a new key, interrupted by the stop (queued or mid-quantization).
      const { job: interrupted } = await quant.quantizeModel({
        source: { name: 'stories260k', selector: { $case: 'version', version: 1 } },
        spec: QuantizationSpec.fromPartial({ scheme: NF4, blockSize: 32 }),
        outputName: 'stories260k-nf4-b32',
        idempotencyKey: 'restart-test',
      });
      quant.close();
      expect(await quantProcess.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      await startQuantization();
      const { job: kept } = await quant.getQuantizationJob({ jobId: job.id });
      expect(kept).toEqual(job);
      const { report } = await quant.getQualityReport({ jobId: job.id });
      expect(report?.tensors.length).toBe(job.tensorsTotal);
      const cached = await quant.quantizeModel({
        source: { name: 'stories260k', selector: { $case: 'version', version: 1 } },
        spec: QuantizationSpec.fromPartial({ scheme: NF4, doubleQuant: true }),
        outputName: '',
        idempotencyKey: '',
      });
      expect(cached).toMatchObject({ cached: true, job: { id: job.id } });
      const resumed = await waitForEnd(interrupted!.id);
      expect(resumed.state).toBe(SUCCEEDED);
      expect(resumed.spec?.blockSize).toBe(32);
      // Only the interrupted job ran in the new process; the cached answer ran nothing.
      expect(jobsRun()).toBe(1);
      // A retry with the idempotency key returns that job; reusing the key for another request is refused.
      const retried = await quant.quantizeModel({
        source: { name: 'stories260k', selector: { $case: 'version', version: 1 } },
        spec: QuantizationSpec.fromPartial({ scheme: NF4, blockSize: 32 }),
        outputName: 'stories260k-nf4-b32',
        idempotencyKey: 'restart-test',
      });
      expect(retried.job?.id).toBe(interrupted!.id);
      const reused = await failure(
        quant.quantizeModel({
          source: { name: 'stories260k', selector: { $case: 'version', version: 1 } },
          spec: QuantizationSpec.fromPartial({ scheme: NF4, blockSize: 256 }),
          outputName: '',
          idempotencyKey: 'restart-test',
        }),
      );
      expect(reused.code).toBe(status.ABORTED);
      expect(reused.details.errorInfo.reason).toBe('IDEMPOTENCY_KEY_REUSED');
    }, 240_000);

    it('quantizes again when the cached result was deleted, and says why a same-name registration cannot succeed', async () => {
      await registry.deleteModelVersion({
        name: job.result!.name,
        version: job.result!.version,
        force: false,
        reason: 'test',
      });
      const request = {
        source: { name: 'stories260k', selector: { $case: 'version' as const, version: 1 } },
        spec: QuantizationSpec.fromPartial({ scheme: NF4, doubleQuant: true }),
        outputName: '',
        idempotencyKey: '',
      };
      const again = await quant.quantizeModel(request);
      expect(again.cached).toBe(false);
      const ended = await waitForEnd(again.job!.id);
      expect(ended.state).toBe(QuantizationJobState.QUANTIZATION_JOB_STATE_FAILED);
      expect(ended.failure?.message).toMatch(
        /stories260k-nf4@1, an earlier result with the same bytes that was deleted/,
      );
      const renamed = await quant.quantizeModel({
        ...request,
        outputName: 'stories260k-nf4-again',
      });
      expect(renamed.cached).toBe(false);
      const done = await waitForEnd(renamed.job!.id);
      expect(done.state).toBe(SUCCEEDED);
      expect(done.result?.name).toBe('stories260k-nf4-again');
      const cached = await quant.quantizeModel(request);
      expect(cached).toMatchObject({ cached: true, job: { id: done.id } });
    }, 240_000);
  },
);
