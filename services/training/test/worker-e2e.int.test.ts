// End to end over real processes: the training service takes a LoRA job over gRPC, one of two
// trainer workers runs it on stories260K and alpaca_tiny (uploaded and curated through the
// datasets service, the base imported into the registry), the adapter lands in the registry with
// lineage, and the training service, the worker and the registry export their spans under the
// job's one trace id.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrainingServiceService } from '@lathe/contracts/lathe/training/v1/training_service';
import { AttemptOutcome, type Job } from '@lathe/contracts/lathe/training/v1/job';
import { createClient, type LatheClient } from '@lathe/service-kit';
import {
  JobState,
  missingShared,
  TELEMETRY_REGISTER,
  until,
  WorkerMesh,
} from './worker-harness.js';

const skip =
  missingShared() ??
  (existsSync(TELEMETRY_REGISTER)
    ? undefined
    : `${TELEMETRY_REGISTER} is not built (run pnpm build)`);
if (skip !== undefined) console.warn(`worker end-to-end test skipped: ${skip}`);

describe.skipIf(skip !== undefined)(
  'a LoRA job through the training service and two workers',
  () => {
    let mesh: WorkerMesh;
    let training: LatheClient<typeof TrainingServiceService>;

    beforeAll(async () => {
      mesh = await WorkerMesh.start({ traces: true });
      const service = await mesh.startTrainingService();
      training = createClient(TrainingServiceService, service.address, {
        idempotent: [],
        deadlineMs: 60_000,
      });
      const workers = [mesh.startWorker(), mesh.startWorker()];
      await Promise.all(workers.map((w) => mesh.workerReady(w)));
    }, 240_000);
    afterAll(async () => {
      training?.close();
      await mesh?.close();
    }, 60_000);

    it('runs to SUCCEEDED, registers the adapter with lineage, and is one trace', async () => {
      const created = await training.createJob({
        spec: mesh.loraSpec({}, 'stories-lora-e2e'),
        displayName: 'e2e',
        labels: { test: 'worker-e2e' },
        idempotencyKey: 'worker-e2e-1',
      });
      const id = created.job?.id ?? '';
      expect(id).not.toBe('');
      let job: Job | undefined;
      await until(
        async () => {
          job = (await training.getJob({ jobId: id })).job;
          return (
            job?.state === JobState.JOB_STATE_SUCCEEDED ||
            job?.state === JobState.JOB_STATE_FAILED ||
            job?.state === JobState.JOB_STATE_CANCELLED
          );
        },
        180_000,
        () => `job ${id} still in state ${String(job?.state)}`,
      );
      expect(job?.failure).toBeUndefined();
      expect(job?.state).toBe(JobState.JOB_STATE_SUCCEEDED);
      const { attempts } = await training.listJobAttempts({ jobId: id });
      expect(attempts.map((a) => a.outcome)).toEqual([AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED]);

      const result = job?.result;
      const { version } = await mesh.registry.getModelVersion({
        ref: {
          name: result?.name ?? '',
          selector: { $case: 'version', version: result?.version ?? 0 },
        },
        includeDeleted: false,
      });
      expect(version?.adapter?.base?.name).toBe(mesh.base.name);
      expect(version?.training?.jobId).toBe(id);
      expect(version?.training?.dataset?.dataset).toBe(mesh.dataset.dataset);
      const { nodes } = await mesh.registry.getLineage({
        ref: {
          name: result?.name ?? '',
          selector: { $case: 'version', version: result?.version ?? 0 },
        },
        direction: 0,
        maxDepth: 0,
      } as never);
      expect(nodes.length).toBeGreaterThanOrEqual(2);

      const traceId = job?.traceId ?? '';
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);
      let inTrace: { name: string; serviceName: string }[] = [];
      await until(
        async () => {
          inTrace = (await mesh.spans()).filter((s) => s.traceId === traceId);
          const services = new Set(inTrace.map((s) => s.serviceName));
          return ['training', 'training-worker', 'registry'].every((s) => services.has(s));
        },
        30_000,
        () =>
          `trace ${traceId} has spans of ${[...new Set(inTrace.map((s) => s.serviceName))].join(', ')}`,
      );
      const names = (service: string): string[] =>
        [...new Set(inTrace.filter((s) => s.serviceName === service).map((s) => s.name))].sort();
      console.log(
        `trace ${traceId}: training [${names('training').join(', ')}]; worker [${names('training-worker').join(', ')}]; registry [${names('registry').join(', ')}]`,
      );
      expect(names('training-worker')).toEqual(
        expect.arrayContaining([
          'training.attempt',
          'training.load',
          'training.steps',
          'training.checkpoint',
          'training.eval',
          'training.register',
        ]),
      );
    }, 300_000);
  },
);
