import { parseArgs } from 'node:util';
import { train, type TrainOptions, type Projection } from '@lathe/llm';
import { ProgressReporter, type ProgressMode } from '../progress-bar.js';
import { UsageError, numberFlag } from '../usage-error.js';
import { reportFailure } from '../report-failure.js';

/** One line for `lathe --help`. */
export const summary =
  'fine-tune a model (full or LoRA) on SFT data, with checkpoints and exact resume';

/** Every flag with its default; printed by `lathe train --help`. */
export const usage = `usage: lathe train --method full|lora --model DIR --data FILE --out DIR [flags]

Fine-tunes a Hugging Face Llama-family model. Writes to --out: the PEFT adapter
(adapter_config.json, adapter_model.safetensors) for LoRA or the model (model.safetensors +
config and tokenizer files) for full fine-tuning, checkpoints/, and training_summary.json.

required:
  --method full|lora       what to train: every parameter, or LoRA adapters on a frozen base
  --model DIR              Hugging Face model directory (config.json, *.safetensors, tokenizer.json)
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
  --seed N                 seed of data order, LoRA init and dropout [42]
  --checkpoint-every N     checkpoint every N steps (and at the end), 0 = end only [50]
  --keep-checkpoints N     checkpoints kept, 0 = all [2]
  --eval-every N           also evaluate every N steps, 0 = before and after only [0]
  --skip-bad-records       drop bad data records (counted) instead of stopping [stop]
  --resume DIR             continue a run from its --out DIR or a checkpoint directory [fresh]
  --progress bar|lines|json|none   bar on a terminal, lines in logs, JSON Lines events [auto]
  -h, --help               this help

Ctrl-C stops between steps after writing a checkpoint; --resume continues exactly.`;

const TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

function parse(argv: string[]): { options: TrainOptions; progress: ProgressMode } | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      method: { type: 'string' },
      model: { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string' },
      'eval-data': { type: 'string' },
      'max-steps': { type: 'string' },
      epochs: { type: 'string' },
      lr: { type: 'string' },
      'warmup-steps': { type: 'string' },
      decay: { type: 'string' },
      'min-lr-ratio': { type: 'string' },
      'weight-decay': { type: 'string' },
      'max-grad-norm': { type: 'string' },
      'batch-size': { type: 'string' },
      'grad-accum': { type: 'string' },
      'seq-len': { type: 'string' },
      'no-pack': { type: 'boolean' },
      'lora-r': { type: 'string' },
      'lora-alpha': { type: 'string' },
      'lora-dropout': { type: 'string' },
      'lora-targets': { type: 'string' },
      seed: { type: 'string' },
      'checkpoint-every': { type: 'string' },
      'keep-checkpoints': { type: 'string' },
      'eval-every': { type: 'string' },
      'skip-bad-records': { type: 'boolean' },
      resume: { type: 'string' },
      progress: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) return 'help';
  for (const flag of ['method', 'model', 'data', 'out'] as const) {
    if (values[flag] === undefined) throw new UsageError(`--${flag} is required`);
  }
  const method = values.method;
  if (method !== 'full' && method !== 'lora')
    throw new UsageError(`--method must be full or lora, got "${method}"`);
  const loraFlags = ['lora-r', 'lora-alpha', 'lora-dropout', 'lora-targets'] as const;
  if (method === 'full') {
    const given = loraFlags.find((f) => values[f] !== undefined);
    if (given !== undefined) throw new UsageError(`--${given} applies to --method lora only`);
  }
  const targets = values['lora-targets']?.split(',').map((t) => t.trim());
  for (const t of targets ?? []) {
    if (!TARGETS.includes(t))
      throw new UsageError(`--lora-targets: "${t}" is not one of ${TARGETS.join(', ')}`);
  }
  const decay = values.decay;
  if (decay !== undefined && decay !== 'cosine' && decay !== 'linear' && decay !== 'constant') {
    throw new UsageError(`--decay must be cosine, linear or constant, got "${decay}"`);
  }
  const progress = values.progress ?? (process.stderr.isTTY ? 'bar' : 'lines');
  if (!['bar', 'lines', 'json', 'none'].includes(progress)) {
    throw new UsageError(`--progress must be bar, lines, json or none, got "${progress}"`);
  }
  const int = (f: keyof typeof values): number | undefined =>
    numberFlag(f, values[f] as string | undefined, 'integer');
  const num = (f: keyof typeof values): number | undefined =>
    numberFlag(f, values[f] as string | undefined);
  const options: TrainOptions = {
    method,
    modelDir: values.model ?? '',
    dataPath: values.data ?? '',
    outDir: values.out ?? '',
    evalDataPath: values['eval-data'],
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
    pack: values['no-pack'] !== true,
    lora:
      method === 'lora'
        ? {
            r: int('lora-r'),
            alpha: num('lora-alpha'),
            dropout: num('lora-dropout'),
            targetModules: targets as Projection[] | undefined,
          }
        : undefined,
    seed: int('seed'),
    checkpointEvery: int('checkpoint-every'),
    keepCheckpoints: int('keep-checkpoints'),
    evalEvery: int('eval-every'),
    skipBadRecords: values['skip-bad-records'] === true,
    resumeFrom: values.resume,
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
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
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
