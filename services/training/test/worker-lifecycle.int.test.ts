// The trainer worker against real NATS, PostgreSQL, registry and datasets processes: a LoRA job
// on stories260K and alpaca_tiny runs to SUCCEEDED, its adapter is registered with lineage and
// its output alias moved to it;
// 20 queued jobs on two workers each run exactly once, never two at a time per worker; SIGTERM
// checkpoints, gives the job back and exits 0, and the other worker finishes it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttemptOutcome } from '@lathe/contracts/lathe/training/v1/job';
import { JobState, missingShared, WorkerMesh, type WorkerProcess } from './worker-harness.js';

const skip = missingShared();
if (skip !== undefined) console.warn(`worker lifecycle tests skipped: ${skip}`);

describe.skipIf(skip !== undefined)('trainer worker on a real mesh', () => {
  let mesh: WorkerMesh;
  let workers: WorkerProcess[];

  beforeAll(async () => {
    mesh = await WorkerMesh.start();
    workers = [mesh.startWorker(), mesh.startWorker()];
    await Promise.all(workers.map((w) => mesh.workerReady(w)));
  }, 180_000);
  afterAll(async () => {
    await mesh?.close();
  }, 60_000);

  it('runs a LoRA job to SUCCEEDED and registers its adapter with lineage', async () => {
    const spec = mesh.loraSpec({}, 'stories-lora-happy');
    spec.outputAlias = 'candidate';
    const queued = await mesh.queueJob(spec);
    const job = await mesh.terminal(queued.id);
    expect(job.failure).toBeUndefined();
    expect(job.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(job.result?.name).toBe('stories-lora-happy');

    const attempts = await mesh.store.store.listAttempts(job.id);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]?.outcome).toBe(AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED);
    expect(attempts[0]?.lastStep).toBe(6);
    const checkpoints = await mesh.store.store.listCheckpoints(job.id);
    expect(checkpoints.map((c) => c.step)).toEqual([2, 4, 6]);

    const { version } = await mesh.registry.getModelVersion({
      ref: {
        name: 'stories-lora-happy',
        selector: { $case: 'version', version: job.result?.version ?? 0 },
      },
      includeDeleted: false,
    });
    expect(version?.adapter?.base?.name).toBe(mesh.base.name);
    expect(version?.adapter?.base?.version).toBe(mesh.base.version);
    expect(version?.adapter?.r).toBe(4);
    expect(version?.training?.jobId).toBe(job.id);
    expect(version?.training?.dataset?.dataset).toBe(mesh.dataset.dataset);
    expect(version?.training?.dataset?.version).toBe(mesh.dataset.version);
    expect(version?.training?.metrics['eval_loss']).toBeGreaterThan(0);
    expect(version?.files.map((f) => f.path)).toEqual(
      expect.arrayContaining(['adapter_config.json', 'adapter_model.safetensors']),
    );
    expect(version?.files.map((f) => f.path)).not.toContain('training_summary.json');

    const aliased = await mesh.registry.getModelVersion({
      ref: { name: 'stories-lora-happy', selector: { $case: 'alias', alias: 'candidate' } },
      includeDeleted: false,
    });
    expect(aliased.version?.ref?.version).toBe(job.result?.version);

    const history = await mesh.store.store.listEvents(job.id, 0);
    const states = history.flatMap((e) =>
      e.event?.$case === 'stateChange' ? [e.event.stateChange.to] : [],
    );
    expect(states).toEqual([
      JobState.JOB_STATE_QUEUED,
      JobState.JOB_STATE_PREPARING,
      JobState.JOB_STATE_RUNNING,
      JobState.JOB_STATE_EVALUATING,
      JobState.JOB_STATE_REGISTERING,
      JobState.JOB_STATE_SUCCEEDED,
    ]);
  }, 180_000);

  it('fails ALIAS_CONFLICT, keeping the adapter, when the output alias moved during the run', async () => {
    const spec = mesh.loraSpec(
      { length: { $case: 'maxSteps', maxSteps: 30 } },
      'stories-lora-happy',
    );
    spec.outputAlias = 'candidate';
    const queued = await mesh.queueJob(spec);
    await mesh.reachesStep(queued.id, 2);
    // Someone else removes the alias (it pointed at version 1 when the attempt started).
    await mesh.registry.setAlias({
      name: 'stories-lora-happy',
      alias: 'candidate',
      version: 0,
      expectedCurrentVersion: 1,
      reason: 'moved by a person',
    });
    const job = await mesh.terminal(queued.id);
    expect(job.state).toBe(JobState.JOB_STATE_FAILED);
    expect(job.failure?.reason).toBe('ALIAS_CONFLICT');
    expect(job.failure?.retryable).toBe(false);
    const versions = await mesh.registry.listModelVersions({
      name: 'stories-lora-happy',
      includeDeleted: false,
      page: undefined,
    });
    expect(versions.versions.map((v) => v.training?.jobId)).toContain(queued.id);
  }, 300_000);

  it('runs 20 queued jobs on two workers, each exactly once and never two at once per worker', async () => {
    const jobs = [];
    for (let i = 0; i < 20; i++)
      jobs.push(
        await mesh.queueJob(
          mesh.loraSpec(
            { length: { $case: 'maxSteps', maxSteps: 2 }, checkpointEverySteps: 0, seed: i },
            'many-jobs',
          ),
        ),
      );
    const started = Date.now();
    const done = await Promise.all(jobs.map((j) => mesh.terminal(j.id, 300_000)));
    expect(done.map((j) => j.state)).toEqual(done.map(() => JobState.JOB_STATE_SUCCEEDED));
    const runs = [];
    for (const job of done) {
      const attempts = await mesh.store.store.listAttempts(job.id);
      expect(attempts).toHaveLength(1);
      const a = attempts[0];
      expect(a?.outcome).toBe(AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED);
      runs.push({
        worker: a?.workerId ?? '',
        start: a?.startTime?.getTime() ?? 0,
        end: a?.endTime?.getTime() ?? 0,
      });
    }
    const perWorker = new Map<string, typeof runs>();
    for (const r of runs) perWorker.set(r.worker, [...(perWorker.get(r.worker) ?? []), r]);
    expect([...perWorker.keys()].sort()).toEqual(workers.map((w) => w.id).sort());
    for (const list of perWorker.values()) {
      list.sort((x, y) => x.start - y.start);
      for (let i = 1; i < list.length; i++)
        expect(list[i]?.start).toBeGreaterThanOrEqual(list[i - 1]?.end ?? Infinity);
    }
    const versions = await mesh.registry.listModelVersions({
      name: 'many-jobs',
      includeDeleted: false,
      page: { pageSize: 100, pageToken: '' },
    });
    expect(versions.versions).toHaveLength(20);
    console.log(
      `20 jobs in ${String(Date.now() - started)} ms: ${[...perWorker].map(([w, l]) => `${w} ${String(l.length)}`).join(', ')}`,
    );
  }, 400_000);

  it('on SIGTERM checkpoints, gives the job back and exits 0; the other worker finishes it', async () => {
    const queued = await mesh.queueJob(
      mesh.loraSpec({ length: { $case: 'maxSteps', maxSteps: 60 }, checkpointEverySteps: 1000 }),
    );
    await mesh.reachesStep(queued.id, 3);
    const first = (await mesh.store.store.listAttempts(queued.id))[0];
    const stopping = workers.find((w) => w.id === first?.workerId);
    expect(stopping).toBeDefined();
    expect(await stopping?.proc.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    const job = await mesh.terminal(queued.id);
    expect(job.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    const attempts = await mesh.store.store.listAttempts(queued.id);
    expect(attempts).toHaveLength(2);
    expect(attempts[0]?.outcome).toBe(AttemptOutcome.ATTEMPT_OUTCOME_LOST);
    const checkpoints = await mesh.store.store.listCheckpoints(queued.id);
    const atShutdown = checkpoints.find((c) => c.attempt === 1);
    expect(atShutdown?.step).toBeGreaterThanOrEqual(3);
    expect(attempts[1]?.resumedFromCheckpointId).toBe(atShutdown?.id);
    expect(attempts[1]?.resumedFromStep).toBe(atShutdown?.step);
  }, 300_000);
});
