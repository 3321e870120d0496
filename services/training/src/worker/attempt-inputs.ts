// What a method's run loads before training: the model, the dataset splits and the checkpoint
// to resume from, laid out as the trainer's paths.
import { join } from 'node:path';
import type { ModelVersionRef } from '@lathe/contracts/lathe/common/v1/model_ref';
import { withSpan } from '@lathe/telemetry';
import type { ResumePoint } from './checkpoint-transfer.js';
import { materializeDataset, materializeModel } from './job-inputs.js';
import type { RunningAttempt } from './running-attempt.js';
import type { PlanPaths } from './train-plan.js';

/** A run's materialized inputs. */
export interface AttemptInputs {
  /** The checkpoint resumed from (or step 0). */
  readonly resume: ResumePoint;
  /** The trainer's paths: model, splits, `out/` under the run directory, resume checkpoint. */
  readonly paths: PlanPaths;
}

/**
 * Materializes `model` and the attempt's dataset in `layout`, then fetches the job's latest
 * checkpoint, in one `training.load` span.
 */
export function loadAttemptInputs(
  run: RunningAttempt,
  model: ModelVersionRef,
  layout: 'chat' | 'preference',
): Promise<AttemptInputs> {
  return withSpan('training.load', { 'lathe.attempt': run.begun.attempt }, async () => {
    const modelDir = await materializeModel(run.deps, model);
    const { trainPath, evalPath } = await materializeDataset(run.deps, run.begun.dataset, layout);
    const resume = await run.resumePoint();
    return {
      resume,
      paths: {
        modelDir,
        dataPath: trainPath,
        outDir: join(run.runDir, 'out'),
        ...(evalPath === undefined ? {} : { evalDataPath: evalPath }),
        ...(resume.dir === undefined ? {} : { resumeFrom: resume.dir }),
      },
    };
  });
}
