// The DPO part of an attempt: load, train with trainDpo, register. The attempt's life cycle
// around it is the runner's (attempt-runner.ts).
import { context } from '@opentelemetry/api';
import { JobState } from '@lathe/contracts/lathe/training/v1/job';
import { trainDpo, type DpoEvent } from '@lathe/llm';
import { withSpan } from '@lathe/telemetry';
import { loadAttemptInputs } from './attempt-inputs.js';
import type { AttemptOutcome } from './attempt-runner.js';
import { dpoHyperparameterLabels } from './register-result.js';
import type { RunningAttempt } from './running-attempt.js';
import { dpoTrainOptions } from './train-plan.js';

/**
 * Runs a DPO attempt: `trainDpo` over the preference splits, LoRA policy against the frozen base,
 * with checkpoints uploaded and resumed as for SFT; the last evaluation's metrics are registered.
 */
export async function runDpoAttempt(run: RunningAttempt): Promise<AttemptOutcome> {
  const { begun, deps } = run;
  const attempt = begun.attempt;
  const inputs = await loadAttemptInputs(run, begun.baseModel, 'preference');
  const early = await run.settleIfStopped();
  if (early !== undefined) return early;
  const options = {
    ...dpoTrainOptions(begun.spec, inputs.paths, {
      checkpointEvery: deps.settings.checkpointEvery,
    }),
    ...(deps.session === undefined ? {} : { session: deps.session }),
  };
  await run.setState(JobState.JOB_STATE_RUNNING);
  const poll = run.pollCancel();
  const attemptContext = context.active();
  const recordProgress = run.progressRecorder();
  let stepsPerEpoch = 1;
  let lastLoss = NaN;
  let evalLoss: number | undefined;
  // Returns the queued store writes, which trainDpo awaits before its next step: like the
  // paced engine of SFT runs, training never runs ahead of what is recorded.
  const onEvent = (e: DpoEvent): Promise<void> => {
    if (e.type === 'start') {
      stepsPerEpoch = Math.max(1, e.stepsPerEpoch);
      run.log.info('training', { startStep: e.startStep, totalSteps: e.totalSteps });
    } else if (e.type === 'eval') {
      evalLoss = e.metrics.loss;
    } else if (e.type === 'checkpoint') {
      run.queueCheckpointUpload(e, stepsPerEpoch, lastLoss, evalLoss, attemptContext);
    } else if (e.type === 'step') {
      lastLoss = e.metrics.loss;
      recordProgress(e, () => ({
        step: e.step,
        totalSteps: e.totalSteps,
        epoch: e.step / stepsPerEpoch,
        loss: e.metrics.loss,
        ...(evalLoss === undefined ? {} : { evalLoss }),
        learningRate: e.lr,
        gradNorm: e.gradNorm,
        rewardAccuracy: e.metrics['rewards/accuracies'],
        rewardMargin: e.metrics['rewards/margins'],
      }));
    }
    return run.queuedWrites();
  };
  const result = await withSpan('training.steps', { 'lathe.attempt': attempt }, async () => {
    try {
      return await trainDpo(options, onEvent, run.signal);
    } finally {
      clearInterval(poll);
    }
  });
  const stopped = await run.settleAfterTraining();
  if (stopped !== undefined) return stopped;
  const final = result.evals.at(-1)?.metrics;
  return run.succeed({
    outDir: inputs.paths.outDir,
    method: 'dpo',
    hyperparameters: dpoHyperparameterLabels(options),
    metrics: {
      steps: result.steps,
      ...(final === undefined
        ? {}
        : {
            eval_loss: final.loss,
            eval_reward_accuracy: final['rewards/accuracies'],
            eval_reward_margin: final['rewards/margins'],
          }),
    },
  });
}
