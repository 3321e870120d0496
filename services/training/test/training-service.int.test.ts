// The training service as a real process on real NATS and PostgreSQL, beside real registry and
// datasets processes (stories260K imported, alpaca_tiny curated): CreateJob's checks against the
// resolved inputs, the JobQueued message on the work queue, WatchJob, cancel, list paging, QLoRA's
// NF4 base from a real quantization service process, and a watcher that keeps every state change across a restart of the service.
import { join } from 'node:path';
import { credentials, status } from '@grpc/grpc-js';
import { ModelKind } from '@lathe/contracts/lathe/registry/v1/model';
import { JobState } from '@lathe/contracts/lathe/training/v1/job';
import type { JobEvent } from '@lathe/contracts/lathe/training/v1/job_event';
import { Method } from '@lathe/contracts/lathe/training/v1/job_spec';
import {
  TrainingServiceClient,
  TrainingServiceService,
} from '@lathe/contracts/lathe/training/v1/training_service';
import { createClient, isLatheError, type LatheClient, type LatheError } from '@lathe/service-kit';
import { REPO_ROOT, spawnService, type SpawnedService } from '@lathe/service-kit/testing';
import { findFreePort } from '@lathe/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followJob } from '../src/client/follow-job.js';
import { jobCreatedEvent } from '../src/events/training-events.js';
import { JobStateChangedEvent } from '../src/worker/job-event-publisher.js';
import { missingShared, until, WorkerMesh } from './worker-harness.js';

const skip = missingShared();

async function failure(p: Promise<unknown>): Promise<LatheError> {
  const e: unknown = await p.then(
    () => new Error('the call succeeded'),
    (error: unknown) => error,
  );
  if (isLatheError(e)) return e;
  throw e;
}

function stateChanges(events: readonly JobEvent[]): JobState[] {
  return events.flatMap((e) => (e.event?.$case === 'stateChange' ? [e.event.stateChange.to] : []));
}

describe.skipIf(skip !== undefined)(
  `the training service process${skip === undefined ? '' : ` (skipped: ${skip})`}`,
  () => {
    let mesh: WorkerMesh;
    let port: number;
    let service: SpawnedService;
    let quantization: SpawnedService;
    let client: LatheClient<typeof TrainingServiceService>;

    const startService = (): Promise<SpawnedService> =>
      spawnService({
        entry: 'services/training/src/main.ts',
        cwd: REPO_ROOT,
        env: {
          NATS_URL: mesh.nats.url,
          LATHE_AUTH_MODE: 'none',
          LATHE_TRAINING_PORT: String(port),
          LATHE_TRAINING_DATABASE_URL: mesh.db.url,
          LATHE_REGISTRY_ADDR: mesh.registryProc.address,
          LATHE_DATASETS_ADDR: mesh.datasetsProc.address,
          LATHE_QUANTIZATION_ADDR: quantization.address,
          LATHE_TRAINING_ACK_WAIT_MS: String(mesh.ackWaitMs),
          LATHE_TRAINING_WATCH_POLL_MS: '100',
        },
        startTimeoutMs: 90_000,
      });

    beforeAll(async () => {
      mesh = await WorkerMesh.start();
      port = await findFreePort();
      quantization = await spawnService({
        entry: 'services/quantization/src/main.ts',
        cwd: REPO_ROOT,
        env: {
          NATS_URL: mesh.nats.url,
          LATHE_AUTH_MODE: 'none',
          LATHE_QUANTIZATION_DATABASE_URL: mesh.db.url,
          LATHE_QUANTIZATION_REGISTRY_ADDR: mesh.registryProc.address,
          LATHE_QUANTIZATION_REGISTRY_ARTIFACTS: join(mesh.dir, 'artifacts'),
          LATHE_QUANTIZATION_SCRATCH_DIR: join(mesh.dir, 'quantization'),
          LATHE_QUANTIZATION_LEASE_MS: '2000',
        },
        startTimeoutMs: 90_000,
      });
      service = await startService();
      client = createClient(TrainingServiceService, service.address, {
        idempotent: [],
        deadlineMs: 30_000,
      });
    }, 240_000);
    afterAll(async () => {
      client.close();
      await service.stop('SIGTERM');
      await quantization.stop('SIGTERM');
      await mesh.close();
    }, 60_000);

    it('refuses a bad spec with every field, unknown inputs with NOT_FOUND, and a method that does not fit its inputs', async () => {
      const spec = mesh.loraSpec({ learningRate: -1, batchSize: 0 });
      const bad = await failure(
        client.createJob({
          spec: { ...spec, dpo: { beta: 0, loss: 0, labelSmoothing: 0 } },
          displayName: '',
          labels: {},
          idempotencyKey: '',
        }),
      );
      expect(bad.code).toBe(status.INVALID_ARGUMENT);
      expect(bad.details.fieldViolations?.map((v) => v.field)).toEqual([
        'spec.hyperparameters.learningRate',
        'spec.hyperparameters.batchSize',
        'spec.dpo',
        'spec.dpo.beta',
      ]);

      const noModel = await failure(
        client.createJob({
          spec: {
            ...mesh.loraSpec(),
            baseModel: { name: 'absent', selector: { $case: 'alias', alias: 'prod' } },
          },
          displayName: '',
          labels: {},
          idempotencyKey: '',
        }),
      );
      expect([noModel.code, noModel.details.errorInfo.reason]).toEqual([
        status.NOT_FOUND,
        'MODEL_VERSION_NOT_FOUND',
      ]);
      expect(noModel.rawMessage).toContain('absent@prod');

      const noData = await failure(
        client.createJob({
          spec: {
            ...mesh.loraSpec(),
            dataset: { dataset: mesh.dataset.dataset, version: 99, manifestSha256: '' },
          },
          displayName: '',
          labels: {},
          idempotencyKey: '',
        }),
      );
      expect(noData.code).toBe(status.NOT_FOUND);
      expect(noData.rawMessage).toContain(`${mesh.dataset.dataset} version 99`);

      // DPO needs a preference dataset; alpaca-tiny is SFT. And a context longer than the model's.
      const dpo = await failure(
        client.createJob({
          spec: { ...mesh.loraSpec({ maxSeqLength: 100_000 }), method: Method.METHOD_DPO },
          displayName: '',
          labels: {},
          idempotencyKey: '',
        }),
      );
      expect(dpo.code).toBe(status.INVALID_ARGUMENT);
      expect(dpo.details.fieldViolations?.map((v) => v.field)).toEqual([
        'spec.dataset',
        'spec.hyperparameters.maxSeqLength',
      ]);
    });

    it('creates a job: QUEUED with its resolved inputs, its JobQueued on the work queue, idempotent by key; then cancels it while queued and the watch ends', async () => {
      const request = {
        spec: mesh.loraSpec(),
        displayName: 'first',
        labels: { suite: 'create' },
        idempotencyKey: `create-${String(Date.now())}`,
      };
      // What the service publishes on lathe.training.*.
      const published: string[] = [];
      const created = await mesh.bus.subscribe(
        jobCreatedEvent,
        (e) => {
          published.push(`created ${e.message.jobId}`);
          return Promise.resolve();
        },
        { durable: `test-created-${String(Date.now())}` },
      );
      const changed = await mesh.bus.subscribe(
        JobStateChangedEvent,
        (e) => {
          published.push(
            `#${String(e.message.sequence)} ${e.message.jobId} ${JobState[e.message.change?.to ?? 0] ?? ''}`,
          );
          return Promise.resolve();
        },
        { durable: `test-changed-${String(Date.now())}` },
      );
      const { job } = await client.createJob(request);
      expect(job?.state).toBe(JobState.JOB_STATE_QUEUED);
      expect(job?.resolvedBaseModel).toEqual(mesh.base);
      expect(job?.resolvedDataset).toEqual(mesh.dataset);
      const id = job?.id ?? '';
      const again = await client.createJob(request);
      expect(again.job?.id).toBe(id);
      const reused = await failure(client.createJob({ ...request, displayName: 'other' }));
      expect([reused.code, reused.details.errorInfo.reason]).toEqual([
        status.ABORTED,
        'IDEMPOTENCY_KEY_REUSED',
      ]);

      const taken = await mesh.queue.take({ waitMs: 10_000 });
      expect(taken?.message.jobId).toBe(id);
      expect(taken?.message.attempt).toBe(1);
      expect(taken?.id).toBe(await mesh.store.store.queueEventId(id));
      // As a trainer would after the store refuses a cancelled job.
      await taken?.ack();

      const raw = new TrainingServiceClient(service.address, credentials.createInsecure());
      const seen: JobEvent[] = [];
      const watching = (async () => {
        for await (const e of followJob(raw, id)) seen.push(e);
      })();
      await until(
        () => seen.length >= 1,
        10_000,
        () => 'no history replayed',
      );
      const cancelled = await client.cancelJob({ jobId: id, reason: 'not needed' });
      expect(cancelled.job?.state).toBe(JobState.JOB_STATE_CANCELLED);
      await watching;
      raw.close();
      expect(stateChanges(seen)).toEqual([JobState.JOB_STATE_QUEUED, JobState.JOB_STATE_CANCELLED]);
      expect(seen.map((e) => e.sequence)).toEqual([1, 2]);
      // The worker that gets the message later is refused by the store.
      expect(await mesh.store.store.beginAttempt(id, 'late', {})).toMatchObject({
        started: false,
        reason: 'terminal',
      });
      const again2 = await failure(client.getJob({ jobId: 'nope' }));
      expect(again2.code).toBe(status.NOT_FOUND);
      // Watching after the last event is refused; at the last event the stream just ends.
      const past = new TrainingServiceClient(service.address, credentials.createInsecure());
      const beyond = await (async () => {
        try {
          for await (const e of followJob(past, id, { afterSequence: 3 })) void e;
          return undefined;
        } catch (error) {
          return error as LatheError;
        }
      })();
      expect(beyond?.code).toBe(status.INVALID_ARGUMENT);
      const none: JobEvent[] = [];
      for await (const e of followJob(past, id, { afterSequence: 2 })) none.push(e);
      expect(none).toEqual([]);
      past.close();
      await until(
        () => published.filter((p) => p.includes(id)).length >= 3,
        10_000,
        () => `published: ${published.join(', ')}`,
      );
      expect(published.filter((p) => p === `created ${id}`)).toHaveLength(1);
      expect(published.filter((p) => p.includes(id) && p.startsWith('#'))).toEqual([
        `#1 ${id} JOB_STATE_QUEUED`,
        `#2 ${id} JOB_STATE_CANCELLED`,
      ]);
      await created.stop();
      await changed.stop();
    });

    it('lists newest first with filters, in pages', async () => {
      const label = { suite: `list-${String(Date.now())}` };
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const { job } = await client.createJob({
          spec: mesh.loraSpec(),
          displayName: `j${String(i)}`,
          labels: label,
          idempotencyKey: '',
        });
        ids.push(job?.id ?? '');
      }
      await client.cancelJob({ jobId: ids[0] ?? '', reason: '' });
      const seen: string[] = [];
      let token = '';
      let pages = 0;
      do {
        const r = await client.listJobs({
          states: [],
          methods: [Method.METHOD_LORA],
          baseModel: '',
          dataset: mesh.dataset.dataset,
          labels: label,
          createdAfter: undefined,
          createdBefore: undefined,
          creator: '',
          page: { pageSize: 2, pageToken: token },
        });
        seen.push(...r.jobs.map((j) => j.id));
        token = r.page?.nextPageToken ?? '';
        pages++;
      } while (token !== '');
      expect(seen).toEqual([...ids].reverse());
      expect(pages).toBe(3);
      const queued = await client.listJobs({
        states: [JobState.JOB_STATE_QUEUED],
        methods: [],
        baseModel: mesh.base.name,
        dataset: '',
        labels: label,
        createdAfter: undefined,
        createdBefore: undefined,
        creator: '',
        page: undefined,
      });
      expect(queued.jobs.map((j) => j.id)).toEqual(ids.slice(1).reverse());
      const bad = await failure(
        client.listJobs({
          states: [JobState.JOB_STATE_FAILED],
          methods: [],
          baseModel: '',
          dataset: '',
          labels: label,
          createdAfter: undefined,
          createdBefore: undefined,
          creator: '',
          page: { pageSize: 2, pageToken: 'x' + token },
        }),
      );
      expect(bad.code).toBe(status.INVALID_ARGUMENT);
      // Leave nothing on the queue for other tests: cancel them (workers would be refused).
      for (const id of ids.slice(1)) await client.cancelJob({ jobId: id, reason: '' });
      for (;;) {
        const m = await mesh.queue.take({ waitMs: 1000 });
        if (m === undefined) break;
        await m.ack();
      }
    });

    it('QLoRA: asks the quantization service for the NF4 base, records it on the job, then queues it; a second job reuses it', async () => {
      const spec = { ...mesh.loraSpec(), method: Method.METHOD_QLORA };
      const first = (
        await client.createJob({ spec, displayName: 'qlora', labels: {}, idempotencyKey: '' })
      ).job;
      expect(first?.state).toBe(JobState.JOB_STATE_QUEUED);
      const id = first?.id ?? '';
      const taken = await mesh.queue.take({ waitMs: 180_000 });
      if (taken === undefined)
        throw new Error(
          `not queued: ${JSON.stringify(await mesh.store.store.getJob(id))}\n${service.stdout.slice(-10).join('\n')}\n${quantization.stdout.slice(-10).join('\n')}`,
        );
      expect(taken.message.jobId).toBe(id);
      await taken.ack();
      const nf4 = await mesh.store.store.quantizedBaseOf(id);
      if (nf4 === undefined) throw new Error('no NF4 base recorded before queueing');
      const { version } = await mesh.registry.getModelVersion({
        ref: { name: nf4.name, selector: { $case: 'version', version: nf4.version } },
        includeDeleted: false,
      });
      expect(version?.kind).toBe(ModelKind.MODEL_KIND_QUANTIZED);
      expect(version?.quantization?.scheme).toBe('nf4');
      expect(version?.quantization?.blockSize).toBe(64);
      expect(version?.quantization?.doubleQuant).toBe(true);
      expect(version?.quantization?.source).toEqual(mesh.base);

      const second = (
        await client.createJob({ spec, displayName: 'qlora 2', labels: {}, idempotencyKey: '' })
      ).job;
      const next = await mesh.queue.take({ waitMs: 60_000 });
      expect(next?.message.jobId).toBe(second?.id);
      await next?.ack();
      expect(await mesh.store.store.quantizedBaseOf(second?.id ?? '')).toEqual(nf4);
      for (const j of [id, second?.id ?? '']) await client.cancelJob({ jobId: j, reason: '' });
    }, 300_000);

    it('keeps a watcher whole across a restart of the service: every state change, in order, once; the restarted service queues a job left unpublished', async () => {
      const { job } = await client.createJob({
        spec: mesh.loraSpec(),
        displayName: 'restart',
        labels: {},
        idempotencyKey: '',
      });
      const id = job?.id ?? '';
      const taken = await mesh.queue.take({ waitMs: 10_000 });
      expect(taken?.message.jobId).toBe(id);
      const store = mesh.store.store;

      const raw = new TrainingServiceClient(
        `127.0.0.1:${String(port)}`,
        credentials.createInsecure(),
      );
      const seen: JobEvent[] = [];
      let reconnects = 0;
      const watching = (async () => {
        for await (const e of followJob(raw, id, {
          retryDelayMs: 200,
          onReconnect: () => reconnects++,
        }))
          seen.push(e);
      })();

      // A trainer's writes, through the store's fenced worker methods.
      const begun = await store.beginAttempt(id, 'test-trainer', { device: 'cpu' });
      if (!begun.started) throw new Error(begun.message);
      const a = begun.attempt;
      await store.setState(id, a, JobState.JOB_STATE_RUNNING);
      await store.recordProgress(id, a, {
        step: 1,
        totalSteps: 4,
        epoch: 0.1,
        loss: 5,
        learningRate: 1e-3,
        gradNorm: 1,
        tokensPerSecond: 100,
        eta: undefined,
        tokensSeen: 10,
      });
      await until(
        () => seen.length >= 4,
        10_000,
        () => `watcher saw ${String(seen.length)} events`,
      );

      // The service goes away (killed: no goodbye) while the job moves on.
      await service.stop('SIGKILL');
      await store.recordCheckpoint(id, a, {
        step: 2,
        epoch: 0.2,
        artifact: {
          sha256: 'e'.repeat(64),
          sizeBytes: 1,
          mediaType: 'application/octet-stream',
          uri: '',
        },
        loss: 4,
      });
      await store.setState(id, a, JobState.JOB_STATE_EVALUATING);
      await store.setState(id, a, JobState.JOB_STATE_RUNNING);
      // A job recorded whose JobQueued was never published (the service died in between): the
      // outbox sweep at start queues it.
      const orphan = (
        await store.createJob({
          spec: mesh.loraSpec(),
          displayName: 'orphan',
          creator: '',
          labels: {},
          baseModel: mesh.base,
          dataset: mesh.dataset,
          idempotencyKey: '',
          requestSha256: '',
          trace: { traceparent: '', tracestate: '' },
          maxAttempts: 3,
        })
      ).job;
      service = await startService();
      await store.setState(id, a, JobState.JOB_STATE_REGISTERING);
      await store.finishAttempt(id, a, 'succeeded', {
        result: { name: 'stories260k-lora', version: 1, manifestSha256: 'f'.repeat(64) },
      });
      await taken?.ack();
      await watching;
      const swept = await mesh.queue.take({ waitMs: 30_000 });
      expect(swept?.message.jobId).toBe(orphan.id);
      expect(swept?.id).toBe(await store.queueEventId(orphan.id));
      await swept?.ack();
      expect((await store.unpublishedJobs()).map((j) => j.id)).not.toContain(orphan.id);
      await store.requestCancel(orphan.id, '');
      raw.close();

      expect(reconnects).toBeGreaterThan(0);
      expect(seen.map((e) => e.sequence)).toEqual(seen.map((_, i) => i + 1));
      expect(seen.length).toBe((await store.requireJob(id)).lastSequence);
      expect(stateChanges(seen)).toEqual([
        JobState.JOB_STATE_QUEUED,
        JobState.JOB_STATE_PREPARING,
        JobState.JOB_STATE_RUNNING,
        JobState.JOB_STATE_EVALUATING,
        JobState.JOB_STATE_RUNNING,
        JobState.JOB_STATE_REGISTERING,
        JobState.JOB_STATE_SUCCEEDED,
      ]);
      expect(seen.some((e) => e.event?.$case === 'checkpoint')).toBe(true);
      client.close();
      client = createClient(TrainingServiceService, service.address, {
        idempotent: [],
        deadlineMs: 30_000,
      });
      const attempts = await client.listJobAttempts({ jobId: id });
      expect(attempts.attempts.map((x) => x.workerId)).toEqual(['test-trainer']);
      const cks = await client.listCheckpoints({ jobId: id, page: undefined });
      expect(cks.checkpoints.map((c) => c.step)).toEqual([2]);
    });
  },
);
