// Jobs no trainer could start, on real NATS (a private nats-server) and PostgreSQL: a job whose
// work message is given back until JetStream's max_deliver ends FAILED with its reason and event,
// a job a running attempt holds is left alone until that attempt gives it up, a job whose running
// attempt stopped heartbeating (its trainer died on the last delivery) fails with that attempt
// LOST, an advisory published while the service was down is handled at its next start, and a QUEUED job whose
// message vanished fails once it has waited past the threshold.
import { connectJetStreamBus, type EventBus, type Job, type WorkQueue } from '@lathe/bus';
import { JobQueued } from '@lathe/contracts/lathe/training/v1/events';
import { AttemptOutcome, JobState } from '@lathe/contracts/lathe/training/v1/job';
import { readEnv } from '@lathe/service-kit';
import { createPostgresClient, type SqlClient } from '@lathe/store';
import { createTestDatabase, startNats, type TestDatabase, type TestNats } from '@lathe/testkit';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainingRuntimeEnvSchema } from '../src/config.js';
import { enqueueJob } from '../src/domain/job-queueing.js';
import { DELIVERIES_EXHAUSTED, WORK_MESSAGE_LOST } from '../src/domain/stranded-jobs.js';
import { trainingQueueName } from '../src/events/training-events.js';
import {
  openTrainingDeps,
  trainingInputs,
  type OpenedTrainingDeps,
} from '../src/open-training-deps.js';
import { createTrainingRuntime, type TrainingRuntime } from '../src/training-runtime.js';
import { JobStateChangedEvent } from '../src/worker/job-event-publisher.js';
import { newJob } from './job-store-suite.js';

const MAX_DELIVERIES = 2;
const QUEUED_LOST_AFTER_MS = 1000;
const STALE_ATTEMPT_MS = 5000;

describe('jobs no trainer could start', () => {
  let nats: TestNats;
  let db: TestDatabase;
  let deps: OpenedTrainingDeps;
  let runtime: TrainingRuntime;
  let workerBus: EventBus;
  let queue: WorkQueue<JobQueued>;
  /** The service's tables, to age an attempt's heartbeat as a dead trainer would. */
  let tables: SqlClient;
  const failedEvents = new Map<string, string>();

  const inputs = () => {
    const config = readEnv(trainingRuntimeEnvSchema, {
      NATS_URL: nats.url,
      LATHE_TRAINING_DATABASE_URL: db.url,
      LATHE_TRAINING_MAX_DELIVERIES: String(MAX_DELIVERIES),
      LATHE_TRAINING_QUEUED_LOST_AFTER_MS: String(QUEUED_LOST_AFTER_MS),
      LATHE_TRAINING_STALE_ATTEMPT_MS: String(STALE_ATTEMPT_MS),
      // The tests run the sweep themselves; the one at start still runs.
      LATHE_TRAINING_STRANDED_SWEEP_MS: '3600000',
    });
    return { config, inputs: trainingInputs(config, deps) };
  };

  beforeAll(async () => {
    // A private server: the work queue's stream is shared by name with every training test.
    nats = await startNats({ restartable: true });
    db = await createTestDatabase();
    const config = readEnv(trainingRuntimeEnvSchema, {
      NATS_URL: nats.url,
      LATHE_TRAINING_DATABASE_URL: db.url,
    });
    deps = await openTrainingDeps(config);
    tables = createPostgresClient({ url: db.url, schema: 'training', maxConnections: 1 });
    runtime = createTrainingRuntime(inputs().inputs);
    runtime.start();
    workerBus = await connectJetStreamBus({ servers: nats.url, name: 'test-trainer' });
    queue = await workerBus.workQueue({
      name: trainingQueueName('cpu'),
      codec: JobQueued,
      ackWaitMs: 30_000,
      maxDeliveries: MAX_DELIVERIES,
    });
    await deps.bus.subscribe(
      JobStateChangedEvent,
      (event) => {
        const change = event.message.change;
        if (change?.to === JobState.JOB_STATE_FAILED)
          failedEvents.set(event.message.jobId, change.failure?.reason ?? '');
        return Promise.resolve();
      },
      { durable: 'test-stranded-failed' },
    );
  }, 60_000);

  afterAll(async () => {
    runtime.stop();
    await workerBus.close();
    await deps.close();
    await tables.close();
    await nats.close();
    await db.close();
  });

  const queuedJob = async (): Promise<string> => {
    const { job } = await deps.store.createJob(newJob());
    await enqueueJob(runtime.deps, job.id);
    return job.id;
  };

  /** Takes the next delivery, which must be `jobId`'s. */
  const take = async (jobId: string): Promise<Job<JobQueued>> => {
    const delivery = await queue.take({ waitMs: 3000 });
    expect(delivery?.message.jobId).toBe(jobId);
    if (delivery === undefined) throw new Error(`no delivery of job ${jobId}`);
    return delivery;
  };

  /** Gives the job's message back until JetStream stops delivering it. */
  const exhaust = async (jobId: string): Promise<void> => {
    for (let i = 0; i < MAX_DELIVERIES; i++) await (await take(jobId)).nak(0);
    expect(await queue.take({ waitMs: 1500 })).toBeUndefined();
  };

  const stateOf = async (jobId: string): Promise<JobState> =>
    (await deps.store.requireJob(jobId)).state;

  const until = async (what: string, check: () => Promise<boolean>): Promise<void> => {
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(50))
      if (await check()) return;
    throw new Error(`timed out waiting for ${what}`);
  };

  const storedJobIds = async (): Promise<string[]> =>
    ((await deps.workQueueWatch?.storedWorkMessages()) ?? []).map((m) => m.job.jobId);

  it('fails a job whose message was given back max_deliver times, with the reason and event', async () => {
    const jobId = await queuedJob();
    await exhaust(jobId);
    await until(
      'the job to fail',
      async () => (await stateOf(jobId)) === JobState.JOB_STATE_FAILED,
    );
    const job = await deps.store.requireJob(jobId);
    expect(job.failure).toEqual({
      reason: DELIVERIES_EXHAUSTED,
      message: `no worker could start job ${jobId} after ${String(MAX_DELIVERIES)} deliveries`,
      retryable: false,
    });
    await until('the job_state_changed event', () => Promise.resolve(failedEvents.has(jobId)));
    expect(failedEvents.get(jobId)).toBe(DELIVERIES_EXHAUSTED);
    // The dead message does not linger in the work queue's stream.
    expect(await storedJobIds()).not.toContain(jobId);
  }, 30_000);

  /**
   * A job whose attempt `workerId` began on the last delivery, which then came back exhausted (a
   * nak stands in for the ack wait running out); the live advisory and a sweep left it alone.
   */
  const heldThroughLastDelivery = async (workerId: string): Promise<string> => {
    const jobId = await queuedJob();
    await (await take(jobId)).nak(0);
    const last = await take(jobId);
    const begun = await deps.store.beginAttempt(jobId, workerId, { device: 'cpu' });
    expect(begun.started).toBe(true);
    await last.nak(0);
    expect(await queue.take({ waitMs: 1500 })).toBeUndefined();
    // The live advisory came and went, and a sweep looks at the captured one again.
    await sleep(500);
    await runtime.sweepStranded();
    expect(await stateOf(jobId)).toBe(JobState.JOB_STATE_PREPARING);
    return jobId;
  };

  it('leaves a job a running attempt holds alone, and fails it once that attempt gave it up', async () => {
    const jobId = await heldThroughLastDelivery('w1');
    const [attempt] = await deps.store.listAttempts(jobId);
    expect(attempt?.outcome).toBe(AttemptOutcome.ATTEMPT_OUTCOME_RUNNING);
    expect(await storedJobIds()).toContain(jobId);

    // The attempt fails retryably: the job is QUEUED again, with no delivery left to start it.
    const finished = await deps.store.finishAttempt(jobId, 1, 'failed', {
      failure: { reason: 'UNAVAILABLE', message: 'datasets unreachable', retryable: true },
    });
    expect(finished.requeue).toBe(true);
    await runtime.sweepStranded();
    expect((await deps.store.requireJob(jobId)).failure?.reason).toBe(DELIVERIES_EXHAUSTED);
    expect(await storedJobIds()).not.toContain(jobId);
  }, 30_000);

  it('fails a job whose trainer died on the last delivery, its attempt LOST, once the heartbeat is stale', async () => {
    const jobId = await heldThroughLastDelivery('w-killed');
    // The trainer was killed: it heartbeats no more, and its heartbeat ages past the threshold.
    await tables.query('UPDATE attempts SET heartbeat_time = $2 WHERE job_id = $1 AND number = 1', [
      jobId,
      new Date(Date.now() - 2 * STALE_ATTEMPT_MS),
    ]);
    await runtime.sweepStranded();
    const job = await deps.store.requireJob(jobId);
    expect(job.state).toBe(JobState.JOB_STATE_FAILED);
    expect(job.failure?.reason).toBe(DELIVERIES_EXHAUSTED);
    expect(job.endTime).toBeDefined();
    const [attempt] = await deps.store.listAttempts(jobId);
    expect(attempt?.outcome).toBe(AttemptOutcome.ATTEMPT_OUTCOME_LOST);
    expect(attempt?.failureMessage).toBe(
      'the worker stopped heartbeating; no delivery was left to retry the job',
    );
    expect(attempt?.endTime).toBeDefined();
    await until('the job_state_changed event', () => Promise.resolve(failedEvents.has(jobId)));
    expect(failedEvents.get(jobId)).toBe(DELIVERIES_EXHAUSTED);
    expect(await storedJobIds()).not.toContain(jobId);
    expect(await deps.workQueueWatch?.capturedExhausted()).toEqual([]);
    // The dead trainer's late writes are refused: its attempt no longer owns the job.
    await expect(deps.store.heartbeat(jobId, 1)).rejects.toThrow(/already ended/);
  }, 30_000);

  it('handles at its next start an advisory published while the service was down', async () => {
    runtime.stop();
    const jobId = await queuedJob();
    await exhaust(jobId);
    await sleep(500);
    expect(await stateOf(jobId)).toBe(JobState.JOB_STATE_QUEUED);
    runtime = createTrainingRuntime(inputs().inputs);
    runtime.start();
    await until(
      'the job to fail',
      async () => (await stateOf(jobId)) === JobState.JOB_STATE_FAILED,
    );
    expect((await deps.store.requireJob(jobId)).failure?.reason).toBe(DELIVERIES_EXHAUSTED);
    expect(await deps.workQueueWatch?.capturedExhausted()).toEqual([]);
  }, 30_000);

  it('fails a QUEUED job whose message vanished once it waited past the threshold', async () => {
    const lost = await queuedJob();
    const kept = await queuedJob();
    const stored = (await deps.workQueueWatch?.storedWorkMessages()) ?? [];
    const message = stored.find((m) => m.job.jobId === lost);
    if (message === undefined) throw new Error(`job ${lost} has no stored message`);
    await deps.workQueueWatch?.removeWorkMessage(message.stream, message.streamSequence);

    await runtime.sweepStranded();
    expect(await stateOf(lost)).toBe(JobState.JOB_STATE_QUEUED);
    await sleep(QUEUED_LOST_AFTER_MS + 100);
    await runtime.sweepStranded();
    const job = await deps.store.requireJob(lost);
    expect(job.state).toBe(JobState.JOB_STATE_FAILED);
    expect(job.failure?.reason).toBe(WORK_MESSAGE_LOST);
    await until('the job_state_changed event', () => Promise.resolve(failedEvents.has(lost)));
    // A job whose message is still there waits for a trainer, however long.
    expect(await stateOf(kept)).toBe(JobState.JOB_STATE_QUEUED);
  }, 30_000);
});
