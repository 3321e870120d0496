import {
  createDpoLossConfig,
  createPairLimits,
  trainDpo,
  type DpoEvent,
  type DpoTrainOptions,
  type Projection,
} from '@lathe/llm';
import { CommandArgs } from '../command-args.js';
import { reportFailure } from '../report-failure.js';
import { UsageError } from '../usage-error.js';
import { DPO_LOSS_FLAGS } from './dpo-flags.js';

/** Printed by `lathe train --method dpo --help`. */
export const usage = `usage: lathe train --method dpo --model DIR --data FILE --out DIR [flags]

Direct Preference Optimization: the policy is the model plus LoRA (or every weight with
--policy full); the reference is the model without the adapter, or --reference. Reference
log-probs are computed once per pair and reused every epoch (checkpoints keep them). Writes the
adapter (or model), dpo_metrics.json (held-out metrics over the run, and the data report) and
checkpoints/ to --out.

--data: JSON Lines or a JSON array of preference records, one of:
  {"prompt", "chosen", "rejected"}          strings, or TRL's conversational messages
  {"chosen", "rejected"}                    HH-RLHF transcripts sharing a prompt prefix
  {"conversations", "chosen", "rejected"}   ShareGPT style ({from, value} turns)
  {"question", "response_j", "response_k"}  StackExchange paired
  optional "weight": a positive number scaling the pair's loss
Chat prompts use the model's chat template, or the plain format of SFT without one.

options (default in brackets):
  --beta B                 β [0.1]
  --loss sigmoid|ipo       logistic DPO loss or IPO [sigmoid]
  --label-smoothing E      conservative DPO's ε, sigmoid only [0]
  --reference DIR          frozen reference model [the model without the adapter]
  --policy lora|full       what is trained [lora]
  --eval-data FILE         held-out pairs [--eval-fraction of --data]
  --eval-fraction X        share of --data records held out without --eval-data [0.1]
  --max-length N           prompt + response tokens per row; longer responses are cut [512]
  --max-prompt-length N    prompt tokens [256]
  --long-prompt truncate|skip   an over-long prompt keeps BOS and its last tokens, or the
                           pair is left out; either way it is counted [truncate]
  --lr X                   peak learning rate, cosine decay [5e-5 lora, 5e-7 full]
  --batch-size N           pairs per step [4]
  --epochs E               passes over the pairs [1]
  --max-steps N            stop after N steps [all epochs]
  --eval-every N           evaluate every N steps too [0: before and after only]
  --max-grad-norm X        global gradient-norm clip [1.0]
  --lora-r N, --lora-alpha X, --lora-dropout X, --lora-targets LIST   [8, 16, 0, q_proj,v_proj]
  --seed N                 split, order, LoRA init, dropout [42]
  --checkpoint-every N     checkpoint every N steps (and at the end), 0 = end only [50]
  --keep-checkpoints N     checkpoints kept, 0 = all [2]
  --resume DIR             continue a run from its --out DIR or a checkpoint directory, with
                           the same data and flags (a changed one is refused by name) [fresh]
  --skip-bad-records       leave out bad records (counted) instead of stopping [stop]
  --weight-by-agreement    weight each pair by its "provenance.agreement" (snapshots of the
                           preferences service) instead of "weight" [off]
  --progress lines|json|none   step/eval lines on stderr, or JSON Lines events on stdout [lines]

Ctrl-C stops between steps after writing a checkpoint (exit 130); --resume continues exactly:
the same adapter and losses as a run never stopped. A 4-bit base is dequantized to fp32 in memory.`;

const FLAGS = {
  method: 'string',
  model: 'string',
  data: 'string',
  out: 'string',
  ...DPO_LOSS_FLAGS,
  policy: 'string',
  'eval-data': 'string',
  'eval-fraction': 'string',
  'max-length': 'string',
  'max-prompt-length': 'string',
  'long-prompt': 'string',
  lr: 'string',
  'batch-size': 'string',
  epochs: 'string',
  'max-steps': 'string',
  'eval-every': 'string',
  'max-grad-norm': 'string',
  'lora-r': 'string',
  'lora-alpha': 'string',
  'lora-dropout': 'string',
  'lora-targets': 'string',
  seed: 'string',
  'checkpoint-every': 'string',
  'keep-checkpoints': 'string',
  resume: 'string',
  'skip-bad-records': 'boolean',
  'weight-by-agreement': 'boolean',
  progress: 'string',
} as const;

function parse(argv: string[]): { options: DpoTrainOptions; progress: string } | 'help' {
  const args = CommandArgs.parse(argv, FLAGS, ['method', 'model', 'data', 'out']);
  if (args === 'help') return 'help';
  const policy = args.string('policy') ?? 'lora';
  if (policy !== 'lora' && policy !== 'full')
    throw new UsageError(`--policy must be lora or full, got "${policy}"`);
  const longPrompt = args.string('long-prompt') ?? 'truncate';
  if (longPrompt !== 'truncate' && longPrompt !== 'skip')
    throw new UsageError(`--long-prompt must be truncate or skip, got "${longPrompt}"`);
  const progress = args.string('progress') ?? 'lines';
  if (!['lines', 'json', 'none'].includes(progress))
    throw new UsageError(`--progress must be lines, json or none, got "${progress}"`);
  const loss = args.string('loss');
  if (loss !== undefined && loss !== 'sigmoid' && loss !== 'ipo')
    throw new UsageError(`--loss must be sigmoid or ipo, got "${loss}"`);
  const targets = args
    .string('lora-targets')
    ?.split(',')
    .map((t) => t.trim());
  const limits = createPairLimits({
    maxLength: args.integer('max-length'),
    maxPromptLength: args.integer('max-prompt-length'),
    longPrompt,
  });
  const options: DpoTrainOptions = {
    modelDir: args.required('model'),
    dataPath: args.required('data'),
    outDir: args.required('out'),
    evalDataPath: args.string('eval-data'),
    evalFraction: args.number('eval-fraction'),
    referenceDir: args.string('reference'),
    method: policy,
    lora: {
      r: args.integer('lora-r'),
      alpha: args.number('lora-alpha'),
      dropout: args.number('lora-dropout'),
      targetModules: targets as Projection[] | undefined,
    },
    loss: createDpoLossConfig({
      beta: args.number('beta'),
      lossType: loss,
      labelSmoothing: args.number('label-smoothing'),
    }),
    limits,
    lr: args.number('lr'),
    batchSize: args.integer('batch-size'),
    epochs: args.integer('epochs'),
    maxSteps: args.integer('max-steps'),
    evalEvery: args.integer('eval-every'),
    maxGradNorm: args.number('max-grad-norm'),
    seed: args.integer('seed'),
    checkpointEvery: args.integer('checkpoint-every'),
    keepCheckpoints: args.integer('keep-checkpoints'),
    resumeFrom: args.string('resume'),
    skipBadRecords: args.flag('skip-bad-records'),
    agreementWeights: args.flag('weight-by-agreement'),
  };
  return { options, progress };
}

function describe(e: DpoEvent): string {
  const m = (x: Record<string, number>): string =>
    Object.entries(x)
      .map(([k, v]) => `${k} ${v.toFixed(4)}`)
      .join(', ');
  if (e.type === 'data') {
    const r = (x: typeof e.train): string =>
      `${x.kept} kept; skipped: ${x.emptyResponse} empty response, ${x.identicalResponses} identical, ${x.promptTooLong} prompt too long; truncated: ${x.promptTruncated} prompts, ${x.responseTruncated} responses`;
    return `train pairs: ${r(e.train)}\neval pairs: ${r(e.eval)}`;
  }
  if (e.type === 'start')
    return e.startStep > 0
      ? `resuming at step ${e.startStep}/${e.totalSteps}`
      : `training ${e.totalSteps} steps (${e.stepsPerEpoch} per epoch)`;
  if (e.type === 'checkpoint') return `checkpoint @ step ${e.step}: ${e.path}`;
  if (e.type === 'eval') return `eval @ step ${e.step}: ${m({ ...e.metrics })}`;
  return `step ${e.step}/${e.totalSteps} lr ${e.lr.toExponential(2)} grad-norm ${e.gradNorm.toFixed(3)}: ${m({ ...e.metrics })}`;
}

/**
 * `lathe train --method dpo`.
 *
 * @returns 0 done, 1 a data/model/training problem, 2 a usage error
 */
export async function runDpoTrain(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    process.stderr.write(
      `lathe train: ${(err as Error).message}\n(see lathe train --method dpo --help)\n`,
    );
    return 2;
  }
  if (parsed === 'help') {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const { progress } = parsed;
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const result = await trainDpo(
      parsed.options,
      (e) => {
        if (progress === 'json') process.stdout.write(`${JSON.stringify(e)}\n`);
        else if (progress === 'lines') process.stderr.write(`${describe(e)}\n`);
      },
      controller.signal,
    );
    if (result.status === 'cancelled') {
      process.stderr.write(
        `lathe train: stopped at step ${result.steps}; resume with --resume ${parsed.options.outDir}\n`,
      );
      return 130;
    }
    const first = result.evals[0]?.metrics;
    const last = result.evals.at(-1)?.metrics;
    const evalText =
      first && last
        ? `; held-out loss ${first.loss.toFixed(4)} -> ${last.loss.toFixed(4)}, rewards/accuracies ${first['rewards/accuracies'].toFixed(3)} -> ${last['rewards/accuracies'].toFixed(3)}`
        : '';
    process.stderr.write(
      `done: ${result.steps} steps${evalText}; wrote ${parsed.options.outDir}\n`,
    );
    return 0;
  } catch (err) {
    return reportFailure(err);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
