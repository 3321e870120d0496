// What the training-step benchmarks share: their command-line options, the random batch they
// train on, and running one measurement in a child process (so its peak RSS is its own).
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import {
  CHECKPOINT_POLICIES,
  PROJECTIONS,
  SeededRandom,
  parameterShapes,
  parseLlamaConfig,
  type CheckpointPolicy,
  type FourBitKernel,
  type Projection,
  type TrainingBatch,
} from '@lathe/llm';

/** Options of a training-step benchmark (each a `--name value` flag). */
export interface StepBenchOptions {
  /** onnxruntime intra-op threads (and PyTorch's). */
  readonly threads: number;
  /** Rows per step. */
  readonly batch: number;
  /** Tokens per row. */
  readonly seq: number;
  /** Timed steps after the warm-up. */
  readonly steps: number;
  /** Untimed steps first. */
  readonly warmup: number;
  /** LoRA rank (alpha is twice it). */
  readonly rank: number;
  /** Projections with LoRA adapters. */
  readonly targets: readonly Projection[];
  /** Alternating rounds of all measurements. */
  readonly rounds: number;
  /** When given, this process is a child that measures this one thing. */
  readonly only: string | undefined;
  /**
   * glibc's MALLOC_ARENA_MAX in every child's environment alike (`--malloc-arena-max N|unset`): a
   * count of malloc arenas, or `'unset'` (glibc's default, up to 8 per core). glibc reads it when a
   * process starts, so the parent sets it for the children. Undefined in a benchmark without a
   * default (which refuses the flag): its children inherit the parent's environment as it is.
   */
  readonly mallocArenaMax: MallocArenaMax | undefined;
  /**
   * How QLoRA multiplies by its 4-bit weights (`--four-bit-kernel matmul-bnb4|dequantize`, the
   * engine's `fourBitKernel`). Undefined in a benchmark without 4-bit weights (which refuses it).
   */
  readonly fourBitKernel: FourBitKernel | undefined;
  /** `--checkpoint-policy`: what checkpointed layers keep (the engine's default when absent). */
  readonly checkpointPolicy: CheckpointPolicy | undefined;
}

/** A MALLOC_ARENA_MAX setting: a count of arenas, or none (glibc's default). */
export type MallocArenaMax = number | 'unset';

/** Defaults of the options that differ between benchmarks. */
export type StepBenchDefaults = Pick<StepBenchOptions, 'batch' | 'steps' | 'warmup' | 'rounds'> & {
  readonly mallocArenaMax?: MallocArenaMax;
  readonly fourBitKernel?: FourBitKernel;
};

const FOUR_BIT_KERNELS: readonly FourBitKernel[] = ['matmul-bnb4', 'dequantize'];

/** Parses the benchmark's arguments; unknown flags and values that are not integers >= 1 fail. */
export function parseStepBenchArgs(defaults: StepBenchDefaults): StepBenchOptions {
  const { values } = parseArgs({
    options: {
      threads: { type: 'string', default: '2' },
      batch: { type: 'string', default: String(defaults.batch) },
      seq: { type: 'string', default: '256' },
      steps: { type: 'string', default: String(defaults.steps) },
      warmup: { type: 'string', default: String(defaults.warmup) },
      rank: { type: 'string', default: '8' },
      targets: { type: 'string', default: 'q_proj,v_proj' },
      rounds: { type: 'string', default: String(defaults.rounds) },
      only: { type: 'string' },
      'malloc-arena-max': { type: 'string' },
      'four-bit-kernel': { type: 'string' },
      'checkpoint-policy': { type: 'string' },
    },
  });
  const count = (name: string, raw: string, min: number): number => {
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < min)
      throw new Error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
    return n;
  };
  const targets = values.targets.split(',');
  const unknown = targets.filter((t) => !(PROJECTIONS as readonly string[]).includes(t));
  if (unknown.length > 0)
    throw new Error(
      `--targets: unknown projection(s) ${unknown.join(', ')} (${PROJECTIONS.join(', ')})`,
    );
  const arenas = values['malloc-arena-max'];
  // A benchmark without a default does not hand the setting to its children: refuse it there
  // rather than measure without it.
  if (arenas !== undefined && defaults.mallocArenaMax === undefined)
    throw new Error('--malloc-arena-max is not an option of this benchmark');
  const kernel = values['four-bit-kernel'];
  if (kernel !== undefined && defaults.fourBitKernel === undefined)
    throw new Error('--four-bit-kernel is not an option of this benchmark');
  if (kernel !== undefined && !(FOUR_BIT_KERNELS as readonly string[]).includes(kernel))
    throw new Error(`--four-bit-kernel must be one of ${FOUR_BIT_KERNELS.join(', ')}`);
  const policy = values['checkpoint-policy'];
  if (policy !== undefined && !(CHECKPOINT_POLICIES as readonly string[]).includes(policy))
    throw new Error(`--checkpoint-policy must be one of ${CHECKPOINT_POLICIES.join(', ')}`);
  return {
    threads: count('threads', values.threads, 1),
    batch: count('batch', values.batch, 1),
    seq: count('seq', values.seq, 2),
    steps: count('steps', values.steps, 1),
    warmup: count('warmup', values.warmup, 0),
    rank: count('rank', values.rank, 1),
    targets: targets as Projection[],
    rounds: count('rounds', values.rounds, 1),
    only: values.only,
    mallocArenaMax:
      arenas === undefined
        ? defaults.mallocArenaMax
        : arenas === 'unset'
          ? 'unset'
          : count('malloc-arena-max', arenas, 1),
    fourBitKernel: (kernel as FourBitKernel | undefined) ?? defaults.fourBitKernel,
    checkpointPolicy: policy as CheckpointPolicy | undefined,
  };
}

/** How a header names a MALLOC_ARENA_MAX setting. */
export function describeMallocArenaMax(setting: MallocArenaMax | undefined): string {
  if (setting === undefined)
    return `MALLOC_ARENA_MAX as inherited (${process.env.MALLOC_ARENA_MAX ?? 'unset'})`;
  return setting === 'unset'
    ? 'MALLOC_ARENA_MAX unset (glibc default)'
    : `MALLOC_ARENA_MAX=${setting}`;
}

/** The environment of a child: the parent's, with MALLOC_ARENA_MAX as the setting says. */
function childEnvironment(setting: MallocArenaMax | undefined): NodeJS.ProcessEnv {
  if (setting === undefined) return process.env;
  const { MALLOC_ARENA_MAX: _inherited, ...env } = process.env;
  return setting === 'unset' ? env : { ...env, MALLOC_ARENA_MAX: String(setting) };
}

/**
 * The options a child measurement needs, as flags (rounds and --only are the parent's; so is
 * --malloc-arena-max, which reaches a child as its environment).
 */
export function stepBenchFlags(opts: StepBenchOptions): string[] {
  return [
    ...['--threads', String(opts.threads), '--batch', String(opts.batch)],
    ...['--seq', String(opts.seq), '--steps', String(opts.steps)],
    ...['--warmup', String(opts.warmup), '--rank', String(opts.rank)],
    ...['--targets', opts.targets.join(',')],
    ...(opts.fourBitKernel === undefined ? [] : ['--four-bit-kernel', opts.fourBitKernel]),
    ...(opts.checkpointPolicy === undefined ? [] : ['--checkpoint-policy', opts.checkpointPolicy]),
  ];
}

/** A seeded batch of random tokens and labels, every row one sequence with every token a target. */
export function randomBatch(
  vocab: number,
  opts: Pick<StepBenchOptions, 'batch' | 'seq'>,
): TrainingBatch {
  const n = opts.batch * opts.seq;
  const rng = SeededRandom.fromSeed(7);
  return {
    batchSize: opts.batch,
    seqLen: opts.seq,
    inputIds: BigInt64Array.from({ length: n }, () => BigInt(rng.nextInt(vocab))),
    positionIds: BigInt64Array.from({ length: n }, (_, i) => BigInt(i % opts.seq)),
    segmentIds: new BigInt64Array(n).fill(1n),
    labels: BigInt64Array.from({ length: n }, () => BigInt(rng.nextInt(vocab))),
    targetTokens: n,
  };
}

/**
 * Parameters of a model config, counted from its shapes: the parent process must not make the
 * weights, since a child's peak RSS starts at what its parent held when it was spawned (Linux
 * carries the forked copy's high-water mark across exec).
 */
export function configParameterCount(raw: Readonly<Record<string, unknown>>): number {
  let n = 0;
  for (const shape of parameterShapes(parseLlamaConfig(raw, 'benchmark config')).values())
    n += shape.reduce((a, d) => a * d, 1);
  return n;
}

/**
 * Runs a child process that prints its measurement as JSON on its last line, and parses it; the
 * child gets the MALLOC_ARENA_MAX setting given (by default the parent's environment as it is).
 */
export function runMeasurement<T>(
  command: string,
  args: readonly string[],
  mallocArenaMax?: MallocArenaMax,
): T {
  const r = spawnSync(command, args, {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
    env: childEnvironment(mallocArenaMax),
  });
  if (r.status !== 0)
    throw new Error(`${command} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as T;
}

/** Step times of several measurements: the best (least disturbed) and the median (typical). */
export function stepTimes(times: readonly number[]): { best: number; median: number } {
  const sorted = [...times].sort((a, b) => a - b);
  return { best: sorted[0] ?? NaN, median: sorted[Math.floor(sorted.length / 2)] ?? NaN };
}
