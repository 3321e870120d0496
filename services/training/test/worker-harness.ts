// A mesh for the trainer worker's integration tests: real NATS and PostgreSQL, the registry and
// datasets services and trainer workers as real processes, stories260K imported and alpaca_tiny
// curated through the services, and jobs queued the way the training service queues them.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { connectJetStreamBus, type EventBus, type WorkQueue } from '@lathe/bus';
import { JobQueued } from '@lathe/contracts/lathe/training/v1/events';
import { DatasetKind, RecordFormat } from '@lathe/contracts/lathe/datasets/v1/dataset';
import {
  DatasetServiceClient,
  DatasetServiceService,
} from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import type { DatasetVersionRef } from '@lathe/contracts/lathe/common/v1/dataset_ref';
import type { ModelVersionRef } from '@lathe/contracts/lathe/common/v1/model_ref';
import { RegistryServiceService } from '@lathe/contracts/lathe/registry/v1/registry_service';
import { type Job, JobState } from '@lathe/contracts/lathe/training/v1/job';
import { Device, JobSpec, Method } from '@lathe/contracts/lathe/training/v1/job_spec';
import { readSafetensors } from '@lathe/llm';
import { createClient, type LatheClient } from '@lathe/service-kit';
import {
  REPO_ROOT,
  spawnProcess,
  spawnService,
  type SpawnedService,
} from '@lathe/service-kit/testing';
import { createTestDatabase, startNats, type TestDatabase, type TestNats } from '@lathe/testkit';
import { credentials } from '@grpc/grpc-js';
import { Readable } from 'node:stream';
import { once } from 'node:events';
import { openJobStore, type OpenedJobStore } from '../src/store/open-job-store.js';
import { isTerminal } from '../src/store/job-store.js';
import { trainingQueueName } from '../src/worker/trainer-worker.js';

/** `../shared` beside the repository: the models and data sets the tests read. */
export const SHARED = resolve(REPO_ROOT, '..', 'shared');
/** The tiny Llama the tests train. */
export const STORIES_DIR = join(SHARED, 'models', 'stories260K');
/** 100 Alpaca records. */
export const ALPACA_TINY = join(SHARED, 'data', 'sft', 'alpaca_tiny.json');

/** Why the worker tests cannot run here, or undefined when they can. */
export function missingShared(): string | undefined {
  if (!existsSync(join(STORIES_DIR, 'config.json'))) return `${STORIES_DIR} is absent`;
  if (!existsSync(ALPACA_TINY)) return `${ALPACA_TINY} is absent`;
  return undefined;
}

const WORKER_ENTRY = 'services/training/src/worker-main.ts';

/** The built `--import` entry of @lathe/telemetry (child processes load workspace packages from dist). */
export const TELEMETRY_REGISTER = join(
  REPO_ROOT,
  'libs',
  'telemetry',
  'dist',
  'src',
  'register.js',
);

/** A worker process of the mesh. */
export interface WorkerProcess {
  readonly id: string;
  readonly proc: Omit<SpawnedService, 'address'>;
  /** Parsed JSON log lines so far. */
  logs(): { msg: string; fields?: Record<string, unknown> }[];
}

/** The running mesh. */
export class WorkerMesh {
  private constructor(
    readonly nats: TestNats,
    readonly db: TestDatabase,
    readonly dir: string,
    readonly registryProc: SpawnedService,
    readonly datasetsProc: SpawnedService,
    readonly registry: LatheClient<typeof RegistryServiceService>,
    readonly datasets: LatheClient<typeof DatasetServiceService>,
    readonly store: OpenedJobStore,
    readonly bus: EventBus,
    readonly queue: WorkQueue<JobQueued>,
    readonly ackWaitMs: number,
    readonly tracesFile: string | undefined,
  ) {}

  readonly workers: WorkerProcess[] = [];
  base!: ModelVersionRef;
  dataset!: DatasetVersionRef;

  /** Starts servers, services, imports stories260K and curates alpaca_tiny (10% eval). */
  static async start(options: { ackWaitMs?: number; traces?: boolean } = {}): Promise<WorkerMesh> {
    const ackWaitMs = options.ackWaitMs ?? 30_000;
    const nats = await startNats();
    const db = await createTestDatabase();
    const dir = await mkdtemp(join(tmpdir(), 'lathe-worker-mesh-'));
    const tracesFile = options.traces === true ? join(dir, 'spans.jsonl') : undefined;
    const common = { NATS_URL: nats.url, LATHE_AUTH_MODE: 'none' };
    const [registryProc, datasetsProc] = await Promise.all([
      spawnService({
        entry: 'services/registry/src/main.ts',
        cwd: REPO_ROOT,
        env: {
          ...common,
          LATHE_REGISTRY_STORE_URL: db.url,
          LATHE_REGISTRY_ARTIFACTS: join(dir, 'artifacts'),
          LATHE_REGISTRY_WORK_DIR: join(dir, 'registry-work'),
          LATHE_REGISTRY_IMPORT_ROOTS: SHARED,
          ...telemetryEnv(tracesFile, 'registry'),
        },
        startTimeoutMs: 60_000,
      }),
      spawnService({
        entry: 'services/datasets/src/main.ts',
        cwd: REPO_ROOT,
        env: {
          ...common,
          DATABASE_URL: db.url,
          LATHE_DATASETS_ARTIFACT_DIR: join(dir, 'artifacts'),
          ...telemetryEnv(tracesFile, 'datasets'),
        },
        startTimeoutMs: 60_000,
      }),
    ]);
    const registry = createClient(RegistryServiceService, registryProc.address, {
      idempotent: [],
      deadlineMs: 60_000,
    });
    const datasets = createClient(DatasetServiceService, datasetsProc.address, {
      idempotent: [],
      deadlineMs: 60_000,
    });
    const store = await openJobStore(db.url, 'worker-test');
    const bus = await connectJetStreamBus({ servers: nats.url, name: 'worker-test' });
    const queue = await bus.workQueue({
      name: trainingQueueName('cpu'),
      codec: JobQueued,
      ackWaitMs,
      maxDeliveries: 10,
    });
    const mesh = new WorkerMesh(
      nats,
      db,
      dir,
      registryProc,
      datasetsProc,
      registry,
      datasets,
      store,
      bus,
      queue,
      ackWaitMs,
      tracesFile,
    );
    await mesh.seed();
    return mesh;
  }

  private async seed(): Promise<void> {
    const imported = await this.registry.importModelFromPath({
      name: 'stories260k',
      path: STORIES_DIR,
      description: 'llama2.c stories260K',
      labels: {},
    });
    const ref = imported.version?.ref;
    if (ref === undefined) throw new Error('import returned no version');
    this.base = ref;
    const name = 'alpaca-tiny';
    await this.datasets.createDataset({
      name,
      kind: DatasetKind.DATASET_KIND_SFT,
      description: '',
      labels: {},
    });
    const records = JSON.parse(await readFile(ALPACA_TINY, 'utf8')) as Record<string, unknown>[];
    const body = Buffer.from(records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    await uploadRecords(this.datasetsProc.address, name, body);
    this.dataset = await this.curate(name, 'alpaca_tiny');
  }

  /**
   * Curates a preference dataset (10% eval) from alpaca_tiny: each instruction's own answer is
   * chosen, the next record's answer rejected.
   */
  async preferenceDataset(name = 'alpaca-pairs'): Promise<DatasetVersionRef> {
    await this.datasets.createDataset({
      name,
      kind: DatasetKind.DATASET_KIND_PREFERENCE,
      description: '',
      labels: {},
    });
    const records = JSON.parse(await readFile(ALPACA_TINY, 'utf8')) as {
      instruction: string;
      input: string;
      output: string;
    }[];
    const lines = records.map((r, i) =>
      JSON.stringify({
        prompt: r.input === '' ? r.instruction : `${r.instruction}\n\n${r.input}`,
        chosen: r.output,
        rejected: records[(i + 1) % records.length]?.output ?? '',
      }),
    );
    await uploadRecords(this.datasetsProc.address, name, Buffer.from(lines.join('\n') + '\n'));
    return this.curate(name, 'alpaca_tiny pairs');
  }

  /** Curates the dataset's uploads into a version with a 10% eval split. */
  private async curate(dataset: string, description: string): Promise<DatasetVersionRef> {
    const curated = await this.datasets.curateDataset({
      dataset,
      uploadIds: [],
      baseVersion: 0,
      spec: { split: { evalFraction: 0.1, seed: 1 } } as never,
      description,
      idempotencyKey: '',
    });
    const v = curated.version?.ref;
    if (v === undefined) throw new Error(`curation of ${dataset} returned no version`);
    return v;
  }

  /** Starts a worker process with its own scratch directory. */
  startWorker(env: Readonly<Record<string, string>> = {}): WorkerProcess {
    const id = `worker-${String(this.workers.length + 1)}`;
    const proc = spawnProcess({
      entry: WORKER_ENTRY,
      cwd: REPO_ROOT,
      env: {
        NATS_URL: this.nats.url,
        LATHE_TRAINING_STORE_URL: this.db.url,
        LATHE_REGISTRY_ADDR: this.registryProc.address,
        LATHE_DATASETS_ADDR: this.datasetsProc.address,
        LATHE_WORKER_ARTIFACTS: join(this.dir, 'artifacts'),
        LATHE_WORKER_SCRATCH_DIR: join(this.dir, id),
        LATHE_WORKER_ID: id,
        LATHE_WORKER_ACK_WAIT_MS: String(this.ackWaitMs),
        LATHE_WORKER_THREADS: '1',
        LATHE_WORKER_PROGRESS_INTERVAL_MS: '0',
        LATHE_WORKER_CANCEL_POLL_MS: '200',
        LATHE_WORKER_RETRY_DELAY_MS: '500',
        ...telemetryEnv(this.tracesFile, 'training-worker'),
        ...env,
      },
    });
    // The promise only matters for services; a worker never logs "listening".
    proc.listening.catch(() => undefined);
    const worker: WorkerProcess = {
      id,
      proc,
      logs: () =>
        proc.stdout.flatMap((line) => {
          try {
            return [JSON.parse(line) as { msg: string; fields?: Record<string, unknown> }];
          } catch {
            return [];
          }
        }),
    };
    this.workers.push(worker);
    return worker;
  }

  /** Starts the training service (jobs API) as a process on the mesh. */
  async startTrainingService(): Promise<SpawnedService> {
    const service = await spawnService({
      entry: 'services/training/src/main.ts',
      cwd: REPO_ROOT,
      env: {
        NATS_URL: this.nats.url,
        LATHE_AUTH_MODE: 'none',
        LATHE_TRAINING_DATABASE_URL: this.db.url,
        LATHE_REGISTRY_ADDR: this.registryProc.address,
        LATHE_DATASETS_ADDR: this.datasetsProc.address,
        LATHE_TRAINING_ACK_WAIT_MS: String(this.ackWaitMs),
        LATHE_TRAINING_MAX_DELIVERIES: '10',
        ...telemetryEnv(this.tracesFile, 'training'),
      },
      startTimeoutMs: 60_000,
    });
    this.services.push(service);
    return service;
  }

  private readonly services: SpawnedService[] = [];

  /** Every span the mesh's processes wrote to the traces file so far. */
  async spans(): Promise<{ traceId: string; name: string; serviceName: string }[]> {
    if (this.tracesFile === undefined || !existsSync(this.tracesFile)) return [];
    return (await readFile(this.tracesFile, 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { traceId: string; name: string; serviceName: string });
  }

  /** Waits until `worker` logged "worker started". */
  async workerReady(worker: WorkerProcess, timeoutMs = 60_000): Promise<void> {
    await until(
      () => worker.logs().some((l) => l.msg === 'worker started'),
      timeoutMs,
      () => `${worker.id} did not start: ${worker.proc.stderr.join('\n')}`,
    );
  }

  /** A LoRA spec over the mesh's base and dataset; `hp` overrides the hyperparameters. */
  loraSpec(hp: Partial<NonNullable<JobSpec['hyperparameters']>> = {}, outputName = ''): JobSpec {
    return JobSpec.fromPartial({
      method: Method.METHOD_LORA,
      baseModel: {
        name: this.base.name,
        selector: { $case: 'version', version: this.base.version },
      },
      dataset: this.dataset,
      hyperparameters: {
        length: { $case: 'maxSteps', maxSteps: 6 },
        batchSize: 4,
        maxSeqLength: 128,
        learningRate: 1e-3,
        checkpointEverySteps: 2,
        seed: 7,
        ...hp,
      },
      lora: { r: 4, alpha: 8, dropout: 0.05, targetModules: ['q_proj', 'v_proj'] },
      resources: { device: Device.DEVICE_CPU },
      outputName,
    });
  }

  /**
   * Records a job and publishes its JobQueued message, as the training service's CreateJob does
   * (stored job, then the work message with the job's queue event id and trace context).
   */
  async queueJob(
    spec: JobSpec,
    traceparent = randomTraceparent(),
    dataset: DatasetVersionRef = this.dataset,
  ): Promise<Job> {
    const { job } = await this.store.store.createJob({
      spec,
      displayName: 'worker test',
      creator: '',
      labels: {},
      baseModel: this.base,
      dataset,
      idempotencyKey: '',
      requestSha256: '',
      trace: { traceparent, tracestate: '' },
      maxAttempts: 3,
    });
    const eventId = await this.store.store.queueEventId(job.id);
    await this.queue.enqueue(
      JobQueued.fromPartial({
        eventId,
        occurredAt: new Date(),
        jobId: job.id,
        attempt: 0,
        trace: { traceparent, tracestate: '' },
        device: Device.DEVICE_CPU,
      }),
      { id: eventId },
    );
    await this.store.store.markQueuePublished(job.id);
    return job;
  }

  /** Waits until the job is terminal and returns it. */
  async terminal(jobId: string, timeoutMs = 120_000): Promise<Job> {
    let job: Job | undefined;
    await until(
      async () => {
        job = await this.store.store.getJob(jobId);
        return job !== undefined && isTerminal(job.state);
      },
      timeoutMs,
      () => `job ${jobId} still ${String(job?.state)}`,
    );
    return job as Job;
  }

  /** Waits until the job's recorded progress reached `step`. */
  async reachesStep(jobId: string, step: number, timeoutMs = 120_000): Promise<void> {
    await until(
      async () => ((await this.store.store.getJob(jobId))?.progress?.step ?? 0) >= step,
      timeoutMs,
      () => `job ${jobId} never reached step ${String(step)}`,
    );
  }

  /** Waits until the job has at least `n` checkpoints. */
  async checkpoints(jobId: string, n: number, timeoutMs = 120_000): Promise<void> {
    await until(
      async () => (await this.store.store.countCheckpoints(jobId)) >= n,
      timeoutMs,
      () => `job ${jobId} has fewer than ${String(n)} checkpoints`,
    );
  }

  /** Stops everything and removes the scratch folder. */
  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(async (w) => {
        if (w.proc.child.exitCode === null && w.proc.child.signalCode === null) {
          w.proc.child.kill('SIGCONT');
          await w.proc.stop('SIGKILL');
        }
      }),
    );
    await Promise.all(this.services.map((svc) => svc.stop('SIGTERM')));
    this.registry.close();
    this.datasets.close();
    await Promise.all([this.registryProc.stop('SIGTERM'), this.datasetsProc.stop('SIGTERM')]);
    await this.bus.close();
    await this.store.close();
    await this.db.close();
    await this.nats.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Variables that make a child process export its spans to `file` (nothing without a file). */
function telemetryEnv(file: string | undefined, service: string): Record<string, string> {
  if (file === undefined) return {};
  return {
    NODE_OPTIONS: `--import ${pathToFileURL(TELEMETRY_REGISTER).href}`,
    OTEL_SERVICE_NAME: service,
    OTEL_TRACES_EXPORTER: 'file',
    LATHE_TRACES_FILE: file,
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
  };
}

/** A fresh sampled W3C traceparent. */
export function randomTraceparent(): string {
  const hex = (n: number): string => randomUUID().replaceAll('-', '').slice(0, n);
  return `00-${hex(32)}-${hex(16)}-01`;
}

/** Polls `check` every 100 ms until it is true; fails with `why()` after `timeoutMs`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  why: () => string,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(why());
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function uploadRecords(address: string, dataset: string, body: Buffer): Promise<void> {
  const client = new DatasetServiceClient(address, credentials.createInsecure());
  try {
    await new Promise<void>((resolveUpload, reject) => {
      const call = client.uploadRecords((error) => (error ? reject(error) : resolveUpload()));
      call.write({
        message: {
          $case: 'header',
          header: {
            dataset,
            format: RecordFormat.RECORD_FORMAT_AUTO,
            sourceName: 'alpaca_tiny.jsonl',
            maxReportedRejections: 0,
            sha256: '',
          },
        },
      });
      void (async () => {
        for await (const chunk of Readable.from([body])) {
          if (!call.write({ message: { $case: 'chunk', chunk: chunk as Buffer } }))
            await once(call, 'drain');
        }
        call.end();
      })();
    });
  } finally {
    client.close();
  }
}

export { JobState };

/** The tensors of a registered adapter's `adapter_model.safetensors`, read from the artifact store. */
export async function adapterTensors(
  mesh: WorkerMesh,
  ref: ModelVersionRef,
): Promise<Map<string, Float32Array>> {
  const { version } = await mesh.registry.getModelVersion({
    ref: { name: ref.name, selector: { $case: 'version', version: ref.version } },
    includeDeleted: false,
  });
  const file = version?.files.find((f) => f.path === 'adapter_model.safetensors');
  const sha = file?.artifact?.sha256 ?? '';
  if (sha === '') throw new Error(`${ref.name}@${String(ref.version)} has no adapter weights`);
  const path = join(mesh.dir, 'artifacts', 'registry', 'sha256', sha.slice(0, 2), sha.slice(2));
  const contents = await readSafetensors(path);
  return new Map([...contents.tensors].map(([name, t]) => [name, t.data]));
}

/** Largest absolute difference between same-named tensors; Infinity when the names differ. */
export function maxAbsDifference(
  a: ReadonlyMap<string, Float32Array>,
  b: ReadonlyMap<string, Float32Array>,
): number {
  if (a.size !== b.size) return Infinity;
  let max = 0;
  for (const [name, x] of a) {
    const y = b.get(name);
    if (y === undefined || y.length !== x.length) return Infinity;
    for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs((x[i] ?? 0) - (y[i] ?? 0)));
  }
  return max;
}
