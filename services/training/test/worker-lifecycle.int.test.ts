// The trainer worker against real NATS, PostgreSQL, registry and datasets processes: a LoRA job
// on stories260K and alpaca_tiny runs to SUCCEEDED and its adapter is registered with lineage.
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
    const queued = await mesh.queueJob(mesh.loraSpec({}, 'stories-lora-happy'));
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
});
