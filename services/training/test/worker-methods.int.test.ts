// The other methods on a real mesh: QLoRA (the base quantized to NF4 on load) and DPO (a LoRA
// policy on alpaca_tiny preference pairs curated through the datasets service), each registered
// as an adapter of its method.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DpoLoss, JobSpec, Method } from '@lathe/contracts/lathe/training/v1/job_spec';
import { JobState, missingShared, WorkerMesh } from './worker-harness.js';

const skip = missingShared();
if (skip !== undefined) console.warn(`worker method tests skipped: ${skip}`);

describe.skipIf(skip !== undefined)('trainer worker methods', () => {
  let mesh: WorkerMesh;

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
    const pairs = await mesh.preferenceDataset();
    const spec = JobSpec.fromPartial({
      ...mesh.loraSpec(
        { length: { $case: 'maxSteps', maxSteps: 3 }, learningRate: 1e-3 },
        'stories-dpo',
      ),
      method: Method.METHOD_DPO,
      dataset: pairs,
      dpo: { beta: 0.1, loss: DpoLoss.DPO_LOSS_SIGMOID, labelSmoothing: 0 },
    });
    const job = await mesh.terminal((await mesh.queueJob(spec, undefined, pairs)).id);
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
    expect(version?.training?.dataset?.dataset).toBe(pairs.dataset);
    expect(version?.training?.metrics['eval_loss']).toBeGreaterThan(0);
    expect(version?.labels['hp.dpo_beta']).toBe('0.1');
  }, 300_000);
});
