// The other methods on a real mesh: QLoRA (the base quantized to NF4 on load) and DPO (a LoRA
// policy on alpaca_tiny preference pairs curated through the datasets service), each registered
// as an adapter of its method; a DPO job stopped by SIGTERM resumes from its checkpoint.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetVersionRef } from '@lathe/contracts/lathe/common/v1/dataset_ref';
import { AttemptOutcome } from '@lathe/contracts/lathe/training/v1/job';
import { DpoLoss, JobSpec, Method } from '@lathe/contracts/lathe/training/v1/job_spec';
import { JobState, missingShared, WorkerMesh } from './worker-harness.js';

const skip = missingShared();
if (skip !== undefined) console.warn(`worker method tests skipped: ${skip}`);

describe.skipIf(skip !== undefined)('trainer worker methods', () => {
  let mesh: WorkerMesh;
  let pairsVersion: Promise<DatasetVersionRef> | undefined;
  /** alpaca_tiny's preference pairs, curated once for the DPO tests. */
  const pairs = (): Promise<DatasetVersionRef> => (pairsVersion ??= mesh.preferenceDataset());
  /** A DPO job (LoRA policy, sigmoid loss, beta 0.1) on the pairs; `hp` as in loraSpec. */
  const dpoSpec = (
    dataset: DatasetVersionRef,
    hp: Parameters<WorkerMesh['loraSpec']>[0],
    outputName: string,
  ): JobSpec =>
    JobSpec.fromPartial({
      ...mesh.loraSpec({ learningRate: 1e-3, ...hp }, outputName),
      method: Method.METHOD_DPO,
      dataset,
      dpo: { beta: 0.1, loss: DpoLoss.DPO_LOSS_SIGMOID, labelSmoothing: 0 },
    });

  beforeAll(async () => {
    mesh = await WorkerMesh.start();
    await mesh.workerReady(mesh.startWorker());
  }, 180_000);
  afterAll(async () => {
    await mesh?.close();
  }, 60_000);

  it('trains QLoRA (base quantized to NF4 on load) and registers a qlora adapter', async () => {
    const spec = mesh.loraSpec({ length: { $case: 'maxSteps', maxSteps: 4 } }, 'stories-qlora');
    spec.method = Method.METHOD_QLORA;
    spec.qlora = { blockSize: 64, doubleQuant: true, quantizedBase: undefined };
    const job = await mesh.terminal((await mesh.queueJob(spec)).id);
    expect(job.failure).toBeUndefined();
    expect(job.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    const { version } = await mesh.registry.getModelVersion({
      ref: {
        name: 'stories-qlora',
        selector: { $case: 'version', version: job.result?.version ?? 0 },
      },
      includeDeleted: false,
    });
    expect(version?.adapter?.method).toBe('qlora');
    expect(version?.adapter?.base?.name).toBe(mesh.base.name);
    expect(version?.labels['hp.quant_scheme']).toBe('nf4');
  }, 300_000);
  it('trains DPO on preference pairs and registers a dpo adapter with its metrics', async () => {
    const dataset = await pairs();
    const spec = dpoSpec(dataset, { length: { $case: 'maxSteps', maxSteps: 3 } }, 'stories-dpo');
    const job = await mesh.terminal((await mesh.queueJob(spec, undefined, dataset)).id);
    expect(job.failure).toBeUndefined();
    expect(job.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(job.progress?.step).toBe(3);
    expect(job.progress?.rewardAccuracy).toBeGreaterThanOrEqual(0);
    const { version } = await mesh.registry.getModelVersion({
      ref: {
        name: 'stories-dpo',
        selector: { $case: 'version', version: job.result?.version ?? 0 },
      },
      includeDeleted: false,
    });
    expect(version?.adapter?.method).toBe('dpo');
    expect(version?.training?.dataset?.dataset).toBe(dataset.dataset);
    expect(version?.training?.metrics['eval_loss']).toBeGreaterThan(0);
    expect(version?.labels['hp.dpo_beta']).toBe('0.1');
  }, 300_000);

  it('resumes a DPO job stopped by SIGTERM from its checkpoint step on the next worker', async () => {
    const dataset = await pairs();
    // No periodic checkpoint before the end: the one resumed from is the one the stop wrote.
    const spec = dpoSpec(
      dataset,
      { length: { $case: 'maxSteps', maxSteps: 5 }, checkpointEverySteps: 1000 },
      'stories-dpo-resumed',
    );
    const queued = await mesh.queueJob(spec, undefined, dataset);
    await mesh.reachesStep(queued.id, 2);
    const stopping = mesh.workers.find((w) => w.proc.child.exitCode === null);
    expect(await stopping?.proc.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    await mesh.workerReady(mesh.startWorker());
    const job = await mesh.terminal(queued.id);
    expect(job.failure).toBeUndefined();
    expect(job.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(job.progress?.step).toBe(5);

    const attempts = await mesh.store.store.listAttempts(queued.id);
    expect(attempts.map((a) => a.outcome)).toEqual([
      AttemptOutcome.ATTEMPT_OUTCOME_LOST,
      AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED,
    ]);
    const atStop = (await mesh.store.store.listCheckpoints(queued.id)).find((c) => c.attempt === 1);
    expect(atStop?.step).toBeGreaterThanOrEqual(2);
    expect(atStop?.step).toBeLessThan(5);
    expect(attempts[1]?.resumedFromCheckpointId).toBe(atStop?.id);
    expect(attempts[1]?.resumedFromStep).toBe(atStop?.step);
    // The trainer itself went on from there: attempt 2's first step is the checkpoint's next.
    const resumedSteps = (await mesh.store.store.listEvents(queued.id, 0)).flatMap((e) =>
      e.attempt === 2 && e.event?.$case === 'progress' ? [e.event.progress.step] : [],
    );
    console.log(
      `DPO stopped at checkpoint step ${String(atStop?.step)}; attempt 2 trained steps ${resumedSteps.join(', ')}`,
    );
    expect(resumedSteps[0]).toBe((atStop?.step ?? 0) + 1);
    expect(resumedSteps.at(-1)).toBe(5);
  }, 300_000);
});
