// The SFT part of an attempt (full, LoRA, QLoRA): load, train through the paced engine, evaluate,
// register. The attempt's life cycle around it is the runner's (attempt-runner.ts).
import { context, trace, type Span } from '@opentelemetry/api';
import { JobState } from '@lathe/contracts/lathe/training/v1/job';
import {
  evaluateSft,
  train,
  type TrainingEngineFactory,
  type TrainingEvent,
  type TrainOptions,
  type TrainResult,
} from '@lathe/llm';
import { withSpan } from '@lathe/telemetry';
import { loadAttemptInputs } from './attempt-inputs.js';
import type { AttemptOutcome } from './attempt-runner.js';
import { hyperparameterLabels } from './register-result.js';
import type { RunningAttempt } from './running-attempt.js';
import { sftTrainOptions } from './train-plan.js';

const tracer = (): ReturnType<typeof trace.getTracer> => trace.getTracer('@lathe/training-worker');

/**
 * Runs a full, LoRA or QLoRA attempt: materializes the model and the chat dataset, trains from
 * the job's latest checkpoint, evaluates on the eval split when there is one and registers the
 * result.
 */
export async function runSftAttempt(run: RunningAttempt): Promise<AttemptOutcome> {
  const { begun, deps } = run;
  // QLoRA over a stored NF4 copy trains on that copy; otherwise on the base itself.
  const inputs = await loadAttemptInputs(run, begun.quantizedBase ?? begun.baseModel, 'chat');
  const settled = await run.settleIfStopped();
  if (settled !== undefined) return settled;

  const { modelDir, outDir, evalDataPath } = inputs.paths;
  const options = sftTrainOptions(
    begun.spec,
    {
      ...inputs.paths,
      ...(begun.quantizedBase === undefined ? {} : { baseModelName: begun.baseModel.name }),
    },
    { checkpointEvery: deps.settings.checkpointEvery },
  );
  await run.setState(JobState.JOB_STATE_RUNNING);
  const result = await trainSft(run, options, inputs.resume.tokensSeen);
  const stopped = await run.settleAfterTraining();
  if (stopped !== undefined) return stopped;

  let evalLoss: number | undefined;
  if (evalDataPath !== undefined) {
    await run.setState(JobState.JOB_STATE_EVALUATING);
    evalLoss = await withSpan('training.eval', { 'lathe.attempt': begun.attempt }, async (s) => {
      const r = await evaluateSft({
        modelDir: options.method === 'full' ? outDir : modelDir,
        ...(options.method === 'full' ? {} : { adapterDir: outDir }),
        dataPath: evalDataPath,
        ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
        ...(options.seqLen === undefined ? {} : { seqLen: options.seqLen }),
        engineFactory: deps.engineFactory,
      });
      s.setAttribute('lathe.eval_loss', r.loss);
      return r.loss;
    });
    run.log.info('evaluated', { evalLoss });
  }
  const cancelled = await run.settleIfStopped();
  if (cancelled !== undefined) return cancelled;

  return run.succeed({
    outDir,
    method: options.method,
    hyperparameters: hyperparameterLabels(options),
    metrics: {
      train_loss: result.finalLoss,
      steps: result.step,
      tokens_seen: result.tokensSeen,
      ...(evalLoss === undefined ? {} : { eval_loss: evalLoss }),
    },
  });
}

/**
 * Trains with `train()`, recording progress, grouping steps into spans of the configured size and
 * queueing the upload of each checkpoint it writes.
 */
async function trainSft(
  run: RunningAttempt,
  options: TrainOptions,
  tokensAtStart: number,
): Promise<TrainResult> {
  const attempt = run.begun.attempt;
  const settings = run.deps.settings;
  let stepsPerEpoch = 1;
  const recordProgress = run.progressRecorder();
  let lastLoss = NaN;
  let evalLoss: number | undefined;
  let tokensSeen = tokensAtStart;
  let group: { span: Span; from: number } | undefined;
  const attemptContext = context.active();
  const endGroup = (to: number): void => {
    group?.span.setAttribute('lathe.step_to', to);
    group?.span.end();
    group = undefined;
  };
  const poll = run.pollCancel();
  const onProgress = (e: TrainingEvent): void => {
    if (e.type === 'start') {
      stepsPerEpoch = Math.max(1, e.stepsPerEpoch);
      run.log.info('training', { startStep: e.startStep, totalSteps: e.totalSteps });
    } else if (e.type === 'step') {
      lastLoss = e.loss;
      tokensSeen += e.tokens;
      if (group === undefined)
        group = {
          span: tracer().startSpan(
            'training.steps',
            { attributes: { 'lathe.attempt': attempt, 'lathe.step_from': e.step } },
            attemptContext,
          ),
          from: e.step,
        };
      if (e.step - group.from + 1 >= settings.stepSpanGroup || e.step === e.totalSteps)
        endGroup(e.step);
      recordProgress(e, () => ({
        step: e.step,
        totalSteps: e.totalSteps,
        epoch: e.step / stepsPerEpoch,
        loss: e.loss,
        ...(evalLoss === undefined ? {} : { evalLoss }),
        learningRate: e.lr,
        gradNorm: e.gradNorm,
        tokensPerSecond: e.tokensPerSecond,
        eta: { seconds: Math.floor(e.etaSeconds), nanos: Math.round((e.etaSeconds % 1) * 1e9) },
        tokensSeen,
      }));
    } else if (e.type === 'eval') {
      evalLoss = e.loss;
    } else {
      run.queueCheckpointUpload(e, stepsPerEpoch, lastLoss, evalLoss, attemptContext);
    }
  };
  try {
    return await train(options, {
      onProgress,
      signal: run.signal,
      engineFactory: pacedEngineFactory(run),
    });
  } finally {
    clearInterval(poll);
    endGroup(-1);
  }
}

/**
 * The worker's engine, made to wait before each micro-batch until the store writes of the
 * previous steps are done: training never runs ahead of its recorded progress, and a cancel
 * (or a refusal) that a write brings back stops the run at the next step boundary.
 */
function pacedEngineFactory(run: RunningAttempt): TrainingEngineFactory {
  return async (model, method) => {
    const engine = await run.deps.engineFactory(model, method);
    return {
      trainableShapes: engine.trainableShapes,
      step: async (batch, lossWeight, trainable, dropoutSeed) => {
        await run.queuedWrites();
        return engine.step(batch, lossWeight, trainable, dropoutSeed);
      },
      lossSum: (batch, trainable) => engine.lossSum(batch, trainable),
      close: () => engine.close(),
    };
  };
}
