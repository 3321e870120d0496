import { CHECKPOINT_POLICIES, train, type TrainOptions, type Projection } from '@lathe/llm';
import { ProgressReporter, type ProgressMode } from '../progress-bar.js';
import { CommandArgs } from '../command-args.js';
import { UsageError } from '../usage-error.js';
import { reportFailure } from '../report-failure.js';
import { rawFlag } from './dpo-flags.js';
import { runDpoTrain } from './train-dpo.js';

/** One line for `lathe --help`. */
export const summary =
  'fine-tune a model (full, LoRA or QLoRA) on SFT data, with checkpoints and exact resume';

/** Every flag with its default; printed by `lathe train --help`. */
export const usage = `usage: lathe train --method full|lora|qlora --model DIR --data FILE --out DIR [flags]

Fine-tunes a Hugging Face Llama-family model. Writes to --out: the PEFT adapter
(adapter_config.json, adapter_model.safetensors, README.md) for LoRA and QLoRA or the model
(model.safetensors + config and tokenizer files) for full fine-tuning, checkpoints/, and
training_summary.json.

required:
  --method full|lora|qlora what to train: every parameter, LoRA adapters on a frozen fp32 base,
                           or LoRA adapters on a frozen base held 4-bit (QLoRA)
  --model DIR              Hugging Face model directory (config.json, *.safetensors, tokenizer.json);
                           a bitsandbytes-quantized one (lathe quantize, "bnb-4bit") works with
                           lora (dequantized to fp32) and qlora (kept 4-bit as stored)
  --data FILE              training data, JSONL or JSON array: OpenAI "messages", Alpaca
                           instruction/input/output, ShareGPT "conversations", or "text"
  --out DIR                output directory
options (default in brackets):
  --eval-data FILE         held-out data: loss and perplexity before and after training [none]
  --max-steps N            optimizer steps; overrides --epochs [one pass per --epochs]
  --epochs E               passes over the data when --max-steps is absent [1]
  --lr X                   peak learning rate [2e-4 for lora, 2e-5 for full]
  --warmup-steps N         linear warmup steps [0]
  --decay cosine|linear|constant   decay after warmup [cosine]
  --min-lr-ratio X         final learning rate as a fraction of --lr [0]
  --weight-decay X         AdamW decoupled weight decay, not on biases/norms [0]
  --max-grad-norm X        clip gradients to this global L2 norm, 0 = off [1.0]
  --batch-size N           packed rows per micro-batch [4]
  --grad-accum N           micro-batches per optimizer step [1]
  --seq-len N              tokens per packed row; longer examples are truncated [256]
  --no-pack                one example per row instead of packing several [packing on]
  --lora-r N               LoRA rank [8]
  --lora-alpha X           LoRA alpha; the update is scaled by alpha/r [16]
  --lora-dropout X         dropout on the LoRA input while training [0]
  --lora-targets LIST      comma-separated modules among q_proj,k_proj,v_proj,o_proj,
                           gate_proj,up_proj,down_proj [q_proj,v_proj]
  --quant-scheme nf4|fp4   qlora: 4-bit type of the base's linear projections; an fp32 --model is
                           quantized on load, a 4-bit one must be stored with it [nf4]
  --quant-block-size N     qlora: weights per absmax, a power of two 32-4096 [64, or as stored]
  --no-double-quant        qlora: keep the absmax fp32 instead of 8-bit [double quant, or as stored]
  --base-model NAME        base_model_name_or_path the adapter records, e.g. the fp32 model a
                           4-bit --model was quantized from, or a hub id [--model]
  --gradient-checkpointing, --no-gradient-checkpointing
                           recompute each decoder layer's activations in the backward instead of
                           keeping them: less memory for about one more forward
                           [on for qlora, off for full and lora]
  --checkpoint-policy P    with checkpointing, what a layer keeps from the forward: keep-qkv
                           (q/k/v outputs and the residual after attention; recompute the MLP's
                           gate/up and the cheap ops), keep-projections (all projection outputs:
                           more memory, less compute) or recompute-all (least memory) [keep-qkv]
  --seed N                 seed of data order, LoRA init and dropout [42]
  --checkpoint-every N     checkpoint every N steps (and at the end), 0 = end only [50]
  --keep-checkpoints N     checkpoints kept, 0 = all [2]
  --eval-every N           also evaluate every N steps, 0 = before and after only [0]
  --skip-bad-records       drop bad data records (counted) instead of stopping [stop]
  --resume DIR             continue a run from its --out DIR or a checkpoint directory [fresh]
  --progress bar|lines|json|none   bar on a terminal, lines in logs, JSON Lines events [auto]
  -h, --help               this help

Ctrl-C stops between steps after writing a checkpoint; --resume continues exactly.

QLoRA on a machine short of memory: start with MALLOC_ARENA_MAX=1 in the environment
(MALLOC_ARENA_MAX=1 lathe train --method qlora ...); glibc then keeps one arena of freed memory
instead of one per onnxruntime thread: ~7% less peak resident memory for checkpointed QLoRA
(bench/src/qlora-step.ts).

Preference data (DPO): lathe train --method dpo --help`;

const TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

const FLAGS = {
  method: 'string',
  model: 'string',
  data: 'string',
  out: 'string',
  'eval-data': 'string',
  'max-steps': 'string',
  epochs: 'string',
  lr: 'string',
  'warmup-steps': 'string',
  decay: 'string',
  'min-lr-ratio': 'string',
  'weight-decay': 'string',
  'max-grad-norm': 'string',
  'batch-size': 'string',
  'grad-accum': 'string',
  'seq-len': 'string',
  'no-pack': 'boolean',
  'lora-r': 'string',
  'lora-alpha': 'string',
  'lora-dropout': 'string',
  'lora-targets': 'string',
  'quant-scheme': 'string',
  'quant-block-size': 'string',
  'no-double-quant': 'boolean',
  'base-model': 'string',
  'gradient-checkpointing': 'boolean',
  'no-gradient-checkpointing': 'boolean',
  'checkpoint-policy': 'string',
  seed: 'string',
  'checkpoint-every': 'string',
  'keep-checkpoints': 'string',
  'eval-every': 'string',
  'skip-bad-records': 'boolean',
  resume: 'string',
  progress: 'string',
} as const;

/**
 * `lathe train`'s flags as {@link train}'s options (DPO's are train-dpo.ts's).
 *
 * @returns the options and progress mode, or 'help' when --help was given
 * @throws UsageError naming a flag that is unknown, malformed, missing or contradicts another
 */
export function parseTrainArgs(
  argv: string[],
): { options: TrainOptions; progress: ProgressMode } | 'help' {
  const args = CommandArgs.parse(argv, FLAGS, ['method', 'model', 'data', 'out']);
  if (args === 'help') return 'help';
  const method = args.required('method');
  if (method !== 'full' && method !== 'lora' && method !== 'qlora')
    throw new UsageError(`--method must be full, lora or qlora, got "${method}"`);
  const loraFlags = ['lora-r', 'lora-alpha', 'lora-dropout', 'lora-targets'] as const;
  if (method === 'full') {
    const given = loraFlags.find((f) => args.string(f) !== undefined);
    if (given !== undefined) throw new UsageError(`--${given} applies to --method lora or qlora`);
  }
  const scheme = args.string('quant-scheme');
  const quantGiven =
    scheme !== undefined ||
    args.string('quant-block-size') !== undefined ||
    args.flag('no-double-quant');
  if (quantGiven && method !== 'qlora') {
    throw new UsageError(
      '--quant-scheme, --quant-block-size and --no-double-quant apply to --method qlora',
    );
  }
  if (scheme !== undefined && scheme !== 'nf4' && scheme !== 'fp4') {
    throw new UsageError(`--quant-scheme must be nf4 or fp4, got "${scheme}"`);
  }
  const targets = args
    .string('lora-targets')
    ?.split(',')
    .map((t) => t.trim());
  for (const t of targets ?? []) {
    if (!TARGETS.includes(t))
      throw new UsageError(`--lora-targets: "${t}" is not one of ${TARGETS.join(', ')}`);
  }
  const decay = args.string('decay');
  if (decay !== undefined && decay !== 'cosine' && decay !== 'linear' && decay !== 'constant') {
    throw new UsageError(`--decay must be cosine, linear or constant, got "${decay}"`);
  }
  if (args.flag('gradient-checkpointing') && args.flag('no-gradient-checkpointing'))
    throw new UsageError('--gradient-checkpointing and --no-gradient-checkpointing contradict');
  // Neither flag leaves the choice to train(): on for qlora, off otherwise.
  const checkpointing = args.flag('gradient-checkpointing')
    ? true
    : args.flag('no-gradient-checkpointing')
      ? false
      : undefined;
  const policy = args.string('checkpoint-policy');
  if (policy !== undefined && !(CHECKPOINT_POLICIES as readonly string[]).includes(policy)) {
    throw new UsageError(
      `--checkpoint-policy must be ${CHECKPOINT_POLICIES.join(', ')}, got "${policy}"`,
    );
  }
  const progress = args.string('progress') ?? (process.stderr.isTTY ? 'bar' : 'lines');
  if (!['bar', 'lines', 'json', 'none'].includes(progress)) {
    throw new UsageError(`--progress must be bar, lines, json or none, got "${progress}"`);
  }
  const int = (f: keyof typeof FLAGS): number | undefined => args.integer(f);
  const num = (f: keyof typeof FLAGS): number | undefined => args.number(f);
  const options: TrainOptions = {
    method,
    modelDir: args.required('model'),
    dataPath: args.required('data'),
    outDir: args.required('out'),
    evalDataPath: args.string('eval-data'),
    maxSteps: int('max-steps'),
    epochs: int('epochs'),
    lr: num('lr'),
    warmupSteps: int('warmup-steps'),
    decay,
    minLrRatio: num('min-lr-ratio'),
    weightDecay: num('weight-decay'),
    maxGradNorm: num('max-grad-norm'),
    batchSize: int('batch-size'),
    gradAccum: int('grad-accum'),
    seqLen: int('seq-len'),
    pack: !args.flag('no-pack'),
    lora:
      method !== 'full'
        ? {
            r: int('lora-r'),
            alpha: num('lora-alpha'),
            dropout: num('lora-dropout'),
            targetModules: targets as Projection[] | undefined,
          }
        : undefined,
    quant:
      method === 'qlora'
        ? {
            scheme,
            blockSize: int('quant-block-size'),
            doubleQuant: args.flag('no-double-quant') ? false : undefined,
          }
        : undefined,
    baseModelName: args.string('base-model'),
    gradientCheckpointing: checkpointing,
    checkpointPolicy: policy as TrainOptions['checkpointPolicy'],
    seed: int('seed'),
    checkpointEvery: int('checkpoint-every'),
    keepCheckpoints: int('keep-checkpoints'),
    evalEvery: int('eval-every'),
    skipBadRecords: args.flag('skip-bad-records'),
    resumeFrom: args.string('resume'),
  };
  return { options, progress: progress as ProgressMode };
}

/**
 * `lathe train`: runs {@link train} with a progress bar or JSON events; Ctrl-C (SIGINT) or SIGTERM
 * stops between steps after a checkpoint.
 *
 * @returns 0 done, 1 a data/model/training problem, 2 a usage error, 130 cancelled
 */
export async function run(argv: string[]): Promise<number> {
  if (rawFlag(argv, 'method') === 'dpo') return runDpoTrain(argv);
  let parsed: ReturnType<typeof parseTrainArgs>;
  try {
    parsed = parseTrainArgs(argv);
  } catch (err) {
    process.stderr.write(`lathe train: ${(err as Error).message}\n(see lathe train --help)\n`);
    return 2;
  }
  if (parsed === 'help') {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const reporter = new ProgressReporter(parsed.progress, process.stdout, process.stderr);
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const result = await train(parsed.options, {
      onProgress: (e) => reporter.report(e),
      signal: controller.signal,
    });
    reporter.finish();
    if (result.status === 'cancelled') {
      process.stderr.write(
        `lathe train: stopped at step ${result.step}; resume with --resume ${parsed.options.outDir}\n`,
      );
      return 130;
    }
    const evalText =
      result.evalLoss === undefined
        ? ''
        : `; eval loss ${result.initialEvalLoss?.toFixed(4) ?? '?'} -> ${result.evalLoss.toFixed(4)} (perplexity ${result.evalPerplexity?.toFixed(3)})`;
    process.stderr.write(
      `done: ${result.step} steps, final loss ${result.finalLoss.toFixed(4)}${evalText}; wrote ${result.outputDir}\n`,
    );
    return 0;
  } catch (err) {
    reporter.finish();
    return reportFailure(err);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
