// One suite for the job store, run unchanged on PGlite (job-store.test.ts) and on a real
// PostgreSQL database (job-store.int.test.ts).
import { AttemptOutcome, JobState, TrainingProgress } from '@lathe/contracts/lathe/training/v1/job';
import type { JobEvent } from '@lathe/contracts/lathe/training/v1/job_event';
import { JobSpec, Method } from '@lathe/contracts/lathe/training/v1/job_spec';
import { isLatheError } from '@lathe/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isStaleAttemptError,
  type JobStore,
  type NewJob,
  StaleAttemptError,
} from '../src/store/job-store.js';
import type { OpenedJobStore } from '../src/store/open-job-store.js';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/** A resolved job input; `over` replaces fields. */
export function newJob(over: Partial<NewJob> = {}): NewJob {
  return {
    spec: JobSpec.fromPartial({
      method: Method.METHOD_LORA,
      baseModel: { name: 'stories260k', selector: { $case: 'alias', alias: 'prod' } },
      dataset: { dataset: 'alpaca_tiny', version: 1 },
    }),
    displayName: 'a job',
    creator: 'alice',
    labels: { team: 'support' },
    baseModel: { name: 'stories260k', version: 2, manifestSha256: 'a'.repeat(64) },
    dataset: { dataset: 'alpaca_tiny', version: 1, manifestSha256: 'b'.repeat(64) },
    idempotencyKey: '',
    requestSha256: 'r1',
    trace: { traceparent: TRACEPARENT, tracestate: '' },
    maxAttempts: 3,
    ...over,
  };
}

const artifact = (n: number) => ({
  sha256: n.toString(16).padStart(64, '0'),
  sizeBytes: 100 + n,
  mediaType: 'application/octet-stream',
  uri: `training/sha256/${String(n)}`,
});

function states(events: readonly JobEvent[]): JobState[] {
  return events.flatMap((e) => (e.event?.$case === 'stateChange' ? [e.event.stateChange.to] : []));
}

async function started(store: JobStore, jobId: string, worker: string): Promise<number> {
  const begun = await store.beginAttempt(jobId, worker, { device: 'cpu' });
  if (!begun.started) throw new Error(`attempt refused: ${begun.message}`);
  return begun.attempt;
}

/** Registers the store suite; `open` gives a fresh, migrated store. */
export function describeJobStore(name: string, open: () => Promise<OpenedJobStore>): void {
  describe(name, () => {
    let opened: OpenedJobStore;
    let store: JobStore;
    beforeAll(async () => {
      opened = await open();
      store = opened.store;
    });
    afterAll(async () => {
      await opened.close();
    });

    it('creates a QUEUED job with its first event, its trace id and a stable queue event id', async () => {
      const { job, created, events } = await store.createJob(newJob());
      expect(created).toBe(true);
      expect(job.state).toBe(JobState.JOB_STATE_QUEUED);
      expect(job.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
      expect(job.creator).toBe('alice');
      expect(job.resolvedBaseModel?.version).toBe(2);
      expect(job.spec?.baseModel?.selector).toEqual({ $case: 'alias', alias: 'prod' });
      expect(job.lastSequence).toBe(1);
      expect(events.map((e) => e.sequence)).toEqual([1]);
      expect(await store.listEvents(job.id, 0)).toEqual(events);
      expect(await store.queueEventId(job.id)).toBe(await store.queueEventId(job.id));
      expect((await store.unpublishedJobs()).map((j) => j.id)).toContain(job.id);
      await store.markQueuePublished(job.id);
      expect((await store.unpublishedJobs()).map((j) => j.id)).not.toContain(job.id);
    });

    it("keeps a QLoRA job's NF4 base given at creation and hands it to the trainer", async () => {
      const nf4 = { name: 'stories260k-nf4', version: 1, manifestSha256: 'd'.repeat(64) };
      const { job } = await store.createJob(newJob({ quantizedBase: nf4 }));
      expect(await store.quantizedBaseOf(job.id)).toEqual(nf4);
      const begun = await store.beginAttempt(job.id, 'w1', {});
      expect(begun.started && begun.quantizedBase).toEqual(nf4);
      const plain = (await store.createJob(newJob())).job;
      expect(await store.quantizedBaseOf(plain.id)).toBeUndefined();
    });

    it('returns the first job for a repeated idempotency key and refuses it for another request', async () => {
      const first = await store.createJob(newJob({ idempotencyKey: 'k1', requestSha256: 'x' }));
      const again = await store.createJob(newJob({ idempotencyKey: 'k1', requestSha256: 'x' }));
      expect(again.created).toBe(false);
      expect(again.job.id).toBe(first.job.id);
      const err = await store
        .createJob(newJob({ idempotencyKey: 'k1', requestSha256: 'y' }))
        .catch((e: unknown) => e);
      expect(isLatheError(err) && err.details.errorInfo.reason).toBe('IDEMPOTENCY_KEY_REUSED');
    });

    it('runs a job through attempts: a redelivery marks the first LOST, resumes from its checkpoint and fences it out', async () => {
      const { job } = await store.createJob(newJob());
      const first = await started(store, job.id, 'w1');
      expect(first).toBe(1);
      await store.setState(job.id, first, JobState.JOB_STATE_RUNNING);
      const progress = TrainingProgress.fromPartial({ step: 2, totalSteps: 10, loss: 3.5 });
      const p = await store.recordProgress(job.id, first, progress);
      expect(p.cancelRequested).toBe(false);
      const ck = await store.recordCheckpoint(job.id, first, {
        step: 2,
        epoch: 0.2,
        artifact: artifact(1),
        loss: 3.5,
        evalLoss: 3.7,
      });
      expect(ck.checkpoint.step).toBe(2);
      expect(ck.checkpoint.evalLoss).toBeCloseTo(3.7);

      // w1 stalls; JetStream redelivers to w2.
      const second = await store.beginAttempt(job.id, 'w2', { device: 'cpu', memoryBytes: 1e9 });
      if (!second.started) throw new Error(second.message);
      expect(second.attempt).toBe(2);
      expect(second.lostAttempt).toBe(1);
      expect(second.resumeFrom?.id).toBe(ck.checkpoint.id);
      expect(second.spec.method).toBe(Method.METHOD_LORA);
      expect(second.dataset.manifestSha256).toBe('b'.repeat(64));
      expect(second.trace.traceparent).toBe(TRACEPARENT);

      // Every write of the stale attempt is refused, naming the job and both attempts.
      const stale: (() => Promise<unknown>)[] = [
        () => store.heartbeat(job.id, first),
        () => store.setState(job.id, first, JobState.JOB_STATE_EVALUATING),
        () => store.recordProgress(job.id, first, progress),
        () =>
          store.recordCheckpoint(job.id, first, {
            step: 3,
            epoch: 0.3,
            artifact: artifact(2),
            loss: 3,
          }),
        () =>
          store.finishAttempt(job.id, first, 'succeeded', {
            result: { name: 'x', version: 1, manifestSha256: '' },
          }),
      ];
      for (const write of stale) {
        const err = await write().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StaleAttemptError);
        expect(isStaleAttemptError(err)).toBe(true);
        expect((err as Error).name).toBe('StaleAttemptError');
        expect((err as Error).message).toContain(job.id);
        expect((err as Error).message).toMatch(/attempt 1 .*current attempt 2/);
      }
      expect(await store.countCheckpoints(job.id)).toBe(1);

      await store.setState(job.id, 2, JobState.JOB_STATE_RUNNING);
      await store.recordCheckpoint(job.id, 2, {
        step: 4,
        epoch: 0.4,
        artifact: artifact(3),
        loss: 3,
      });
      expect((await store.latestCheckpoint(job.id))?.step).toBe(4);
      await store.setState(job.id, 2, JobState.JOB_STATE_REGISTERING);
      const done = await store.finishAttempt(job.id, 2, 'succeeded', {
        result: { name: 'stories260k-lora', version: 1, manifestSha256: 'c'.repeat(64) },
      });
      expect(done.requeue).toBe(false);
      expect(done.job.state).toBe(JobState.JOB_STATE_SUCCEEDED);
      expect(done.job.result?.name).toBe('stories260k-lora');
      expect(done.job.endTime).toBeInstanceOf(Date);
      expect(done.job.startTime).toBeInstanceOf(Date);
      expect(done.job.progress?.step).toBe(2);
      await expect(store.heartbeat(job.id, 2)).rejects.toThrow(/already ended/);

      const attempts = await store.listAttempts(job.id);
      expect(attempts.map((a) => [a.number, a.workerId, a.outcome])).toEqual([
        [1, 'w1', AttemptOutcome.ATTEMPT_OUTCOME_LOST],
        [2, 'w2', AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED],
      ]);
      expect(attempts[1]?.resumedFromStep).toBe(2);
      expect(attempts[1]?.resumedFromCheckpointId).toBe(ck.checkpoint.id);

      // The history: gapless sequences, every state change, progress and checkpoints.
      const history = await store.listEvents(job.id, 0);
      expect(history.map((e) => e.sequence)).toEqual(history.map((_, i) => i + 1));
      expect(states(history)).toEqual([
        JobState.JOB_STATE_QUEUED,
        JobState.JOB_STATE_PREPARING,
        JobState.JOB_STATE_RUNNING,
        JobState.JOB_STATE_PREPARING,
        JobState.JOB_STATE_RUNNING,
        JobState.JOB_STATE_REGISTERING,
        JobState.JOB_STATE_SUCCEEDED,
      ]);
      expect(history.filter((e) => e.event?.$case === 'checkpoint')).toHaveLength(2);
      expect(
        (await store.listEvents(job.id, 0, 500, true)).some((e) => e.event?.$case === 'progress'),
      ).toBe(false);
      expect((await store.listEvents(job.id, 5)).map((e) => e.sequence)[0]).toBe(6);
      expect((await store.getJob(job.id))?.lastSequence).toBe(history.length);

      // A redelivery after success is refused.
      const late = await store.beginAttempt(job.id, 'w3', {});
      expect(late).toMatchObject({ started: false, reason: 'terminal' });
    });

    it('cancels a queued job at once and a running one through its worker, keeping checkpoints', async () => {
      const queued = (await store.createJob(newJob())).job;
      const c = await store.requestCancel(queued.id, 'not needed');
      expect(c.job.state).toBe(JobState.JOB_STATE_CANCELLED);
      expect(c.job.cancelReason).toBe('not needed');
      expect(states(c.events)).toEqual([JobState.JOB_STATE_CANCELLED]);
      expect((await store.requestCancel(queued.id, 'again')).events).toEqual([]);
      expect(await store.beginAttempt(queued.id, 'w1', {})).toMatchObject({
        started: false,
        reason: 'terminal',
        state: JobState.JOB_STATE_CANCELLED,
      });

      const running = (await store.createJob(newJob())).job;
      const a = await started(store, running.id, 'w1');
      await store.setState(running.id, a, JobState.JOB_STATE_RUNNING);
      await store.recordCheckpoint(running.id, a, {
        step: 1,
        epoch: 0.1,
        artifact: artifact(4),
        loss: 2,
      });
      const r = await store.requestCancel(running.id, 'stop');
      expect(r.job.state).toBe(JobState.JOB_STATE_RUNNING);
      expect(await store.isCancelRequested(running.id)).toBe(true);
      expect((await store.heartbeat(running.id, a)).cancelRequested).toBe(true);
      const progress = TrainingProgress.fromPartial({ step: 2, loss: 1 });
      expect((await store.recordProgress(running.id, a, progress)).cancelRequested).toBe(true);
      const end = await store.finishAttempt(running.id, a, 'cancelled');
      expect(end.job.state).toBe(JobState.JOB_STATE_CANCELLED);
      expect(await store.countCheckpoints(running.id)).toBe(1);

      const succeeded = (await store.createJob(newJob())).job;
      const s = await started(store, succeeded.id, 'w1');
      await store.finishAttempt(succeeded.id, s, 'succeeded', {
        result: { name: 'm', version: 1, manifestSha256: '' },
      });
      const err = await store.requestCancel(succeeded.id, '').catch((e: unknown) => e);
      expect(isLatheError(err) && err.details.errorInfo.reason).toBe('JOB_ALREADY_TERMINAL');
      const missing = await store.requestCancel('nope', '').catch((e: unknown) => e);
      expect(isLatheError(missing) && missing.details.errorInfo.reason).toBe('JOB_NOT_FOUND');
    });

    it('ends a job whose worker died after a cancel request as CANCELLED at the next delivery', async () => {
      const { job } = await store.createJob(newJob());
      await started(store, job.id, 'w1');
      await store.requestCancel(job.id, 'bye');
      const next = await store.beginAttempt(job.id, 'w2', {});
      expect(next).toMatchObject({ started: false, reason: 'cancelled' });
      const after = await store.requireJob(job.id);
      expect(after.state).toBe(JobState.JOB_STATE_CANCELLED);
      expect((await store.listAttempts(job.id)).map((x) => x.outcome)).toEqual([
        AttemptOutcome.ATTEMPT_OUTCOME_LOST,
      ]);
    });

    it('bounds attempts: the delivery past max_attempts fails the job with reason max_attempts', async () => {
      const { job } = await store.createJob(newJob({ maxAttempts: 2 }));
      await started(store, job.id, 'w1');
      await started(store, job.id, 'w2');
      const third = await store.beginAttempt(job.id, 'w3', {});
      expect(third).toMatchObject({ started: false, reason: 'max_attempts' });
      const failed = await store.requireJob(job.id);
      expect(failed.state).toBe(JobState.JOB_STATE_FAILED);
      expect(failed.failure?.reason).toBe('max_attempts');
      expect(failed.attempt).toBe(2);
    });

    it('requeues a retryable failure while attempts are left and fails a deterministic one once', async () => {
      const { job } = await store.createJob(newJob({ maxAttempts: 2 }));
      const a1 = await started(store, job.id, 'w1');
      const retry = await store.finishAttempt(job.id, a1, 'failed', {
        failure: { reason: 'WORKER_ERROR', message: 'out of file handles', retryable: true },
      });
      expect(retry.requeue).toBe(true);
      expect(retry.job.state).toBe(JobState.JOB_STATE_QUEUED);
      await expect(store.heartbeat(job.id, a1)).rejects.toBeInstanceOf(StaleAttemptError);
      const a2 = await started(store, job.id, 'w2');
      expect(a2).toBe(2);
      const last = await store.finishAttempt(job.id, a2, 'failed', {
        failure: { reason: 'WORKER_ERROR', message: 'out of file handles', retryable: true },
      });
      expect(last.requeue).toBe(false);
      expect(last.job.state).toBe(JobState.JOB_STATE_FAILED);

      const nan = (await store.createJob(newJob())).job;
      const n1 = await started(store, nan.id, 'w1');
      const end = await store.finishAttempt(nan.id, n1, 'failed', {
        failure: {
          reason: 'LOSS_NOT_FINITE',
          message: 'loss became NaN at step 3',
          retryable: false,
        },
      });
      expect(end.requeue).toBe(false);
      expect(end.job.failure).toEqual({
        reason: 'LOSS_NOT_FINITE',
        message: 'loss became NaN at step 3',
        retryable: false,
      });
      expect((await store.listAttempts(nan.id)).map((x) => x.outcome)).toEqual([
        AttemptOutcome.ATTEMPT_OUTCOME_FAILED,
      ]);
    });

    it('lists with filters, newest first, in keyset pages', async () => {
      const label = { batch: `b${String(Date.now())}` };
      const made: string[] = [];
      for (let i = 0; i < 5; i++) {
        const spec = JobSpec.fromPartial({
          method: i % 2 === 0 ? Method.METHOD_LORA : Method.METHOD_FULL,
          baseModel: { name: 'stories260k', selector: { $case: 'version', version: 2 } },
          dataset: { dataset: 'alpaca_tiny', version: 1 },
        });
        made.push((await store.createJob(newJob({ spec, labels: label }))).job.id);
        await new Promise((r) => setTimeout(r, 3));
      }
      const all = await store.listJobs({ labels: label }, 100);
      expect(all.map((j) => j.id)).toEqual([...made].reverse());
      const page1 = await store.listJobs({ labels: label }, 2);
      const last = page1[1];
      if (last?.createTime === undefined) throw new Error('no page');
      const page2 = await store.listJobs({ labels: label }, 2, {
        createTime: last.createTime,
        id: last.id,
      });
      expect([...page1, ...page2].map((j) => j.id)).toEqual(all.slice(0, 4).map((j) => j.id));
      const lora = await store.listJobs({ labels: label, methods: [Method.METHOD_LORA] }, 100);
      expect(lora).toHaveLength(3);
      const none = await store.listJobs(
        { labels: label, states: [JobState.JOB_STATE_RUNNING] },
        100,
      );
      expect(none).toHaveLength(0);
      expect(await store.listJobs({ labels: label, baseModel: 'other' }, 100)).toHaveLength(0);
      expect(
        await store.listJobs({ labels: label, creator: 'alice', dataset: 'alpaca_tiny' }, 100),
      ).toHaveLength(5);
    });

    it('gives concurrent deliveries of one job distinct attempts, exactly one of them current', async () => {
      const { job } = await store.createJob(newJob({ maxAttempts: 10 }));
      const begun = await Promise.all(
        Array.from({ length: 4 }, (_, i) => store.beginAttempt(job.id, `w${String(i)}`, {})),
      );
      const numbers = begun.map((b) => (b.started ? b.attempt : 0)).sort();
      expect(numbers).toEqual([1, 2, 3, 4]);
      const ok = await Promise.allSettled(numbers.map((n) => store.heartbeat(job.id, n)));
      expect(ok.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'fulfilled']);
      const history = await store.listEvents(job.id, 0);
      expect(history.map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5]);
    });
  });
}
