// QLoRA memory and speed benchmark: one training step (forward, loss, backward for the LoRA
// tensors) of a random ~158M-parameter Llama whose frozen projections are held 4-bit (NF4, block
// 64, double quantization) inside the training graph, against the same LoRA step on the fp32
// base, each with and without activation checkpointing. Each measurement runs in its own child
// process so its peak RSS is its own.
//
//   node --conditions=lathe-source --import tsx bench/src/qlora-step.ts [--threads 2] [--batch 4]
//        [--seq 256] [--steps 3] [--warmup 1] [--rank 8] [--targets q_proj,v_proj] [--rounds 1]
//        [--malloc-arena-max 1|N|unset] [--four-bit-kernel matmul-bnb4|dequantize]
//        [--checkpoint-policy keep-qkv|keep-projections|recompute-all]
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import {
  SeededRandom,
  createLlamaEngine,
  createLoraConfig,
  createQuantConfig,
  defaultGradientCheckpointing,
  initLoraTensors,
  isQuantizedLayer,
  parameterShapes,
  parseLlamaConfig,
  quantizeTensor,
  type Float32Tensor,
  type LlamaConfig,
  type LlamaModel,
  type LoraConfig,
  type Quantized4bit,
  type TrainingEngine,
} from '@lathe/llm';
import { randomLlamaModel } from './random-llama.js';
import {
  configParameterCount,
  describeMallocArenaMax,
  parseStepBenchArgs,
  randomBatch,
  runMeasurement,
  stepBenchFlags,
  stepTimes,
} from './step-bench.js';

/**
 * The benchmark's model: a Llama of about 158M parameters (D 1024, 12 layers, 16 query and 8
 * key/value heads, SwiGLU 2816, vocabulary 8192, untied head); 90% of the parameters are in the
 * linear projections, which QLoRA holds 4-bit.
 */
export const QLORA_BENCH_CONFIG = {
  architectures: ['LlamaForCausalLM'],
  hidden_size: 1024,
  intermediate_size: 2816,
  num_hidden_layers: 12,
  num_attention_heads: 16,
  num_key_value_heads: 8,
  vocab_size: 8192,
  max_position_embeddings: 1024,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: false,
} as const;

/** Memory at one point of a measurement (MiB). */
interface MemoryPoint {
  readonly at: string;
  readonly rss: number;
  /** JS typed-array memory (the weights the main thread holds). */
  readonly arrayBuffers: number;
  /** Peak RSS so far. */
  readonly peak: number;
}

/**
 * lora: LoRA on the fp32 base; qlora: the same adapters on the 4-bit base; `+ckpt`: with
 * activation checkpointing (`gradientCheckpointing`). All with the engine's other defaults.
 */
const METHODS = ['lora', 'lora+ckpt', 'qlora', 'qlora+ckpt'] as const;
type Method = (typeof METHODS)[number];

interface Measurement {
  readonly method: Method;
  readonly times_s: number[];
  readonly setup_s: number;
  readonly peak_rss_mib: number;
  readonly memory: MemoryPoint[];
  readonly weight_bytes: number;
}

/**
 * MALLOC_ARENA_MAX as Lathe's trainer image ships it (deploy/docker/Dockerfile.trainer): unset,
 * glibc's default, every child's by default so the figures are those of a step as trainers run
 * it; `--malloc-arena-max 1` measures the memory-bound setting operators may choose (bench/README.md).
 */
const SHIPPED_MALLOC_ARENA_MAX = 'unset';

/** The default micro-batch of `lathe train` (batchSize 4 rows of seqLen 256 tokens). */
const DEFAULT_BATCH = 4;

const opts = parseStepBenchArgs({
  batch: DEFAULT_BATCH,
  steps: 3,
  warmup: 1,
  rounds: 1,
  mallocArenaMax: SHIPPED_MALLOC_ARENA_MAX,
  fourBitKernel: 'matmul-bnb4', // the engine's default
});

const MIB = 1024 * 1024;

function memoryPoint(at: string): MemoryPoint {
  const m = process.memoryUsage();
  const peak = process.resourceUsage().maxRSS / 1024;
  return { at, rss: m.rss / MIB, arrayBuffers: m.arrayBuffers / MIB, peak };
}

/**
 * The 4-bit base as QLoRA loads it from an fp32 directory: one tensor at a time is made (the same
 * seeded values as {@link randomLlamaModel}) and, for a projection, quantized at once, so the fp32
 * model never exists whole.
 */
function randomFourBitModel(): LlamaModel {
  const config = parseLlamaConfig(QLORA_BENCH_CONFIG, 'benchmark config');
  const quant = createQuantConfig({});
  const rng = SeededRandom.fromSeed(0);
  const weights = new Map<string, Float32Tensor>();
  const quantized = new Map<string, Quantized4bit>();
  for (const [name, shape] of parameterShapes(config)) {
    const count = shape.reduce((a, d) => a * d, 1);
    const data = name.endsWith('norm.weight')
      ? new Float32Array(count).fill(1)
      : rng.split(name).uniformArray(count, -0.0346, 0.0346);
    if (!isQuantizedLayer(name, shape)) {
      weights.set(name, { shape, data });
      continue;
    }
    const q = quantizeTensor(name, { shape, data }, quant);
    if (q.kind !== '4bit') throw new Error('nf4 gave a non-4-bit tensor');
    quantized.set(name, q);
  }
  return { config, weights, quantized };
}

function weightBytes(model: LlamaModel): number {
  let n = 0;
  for (const t of model.weights.values()) n += t.data.byteLength;
  for (const q of model.quantized?.values() ?? []) {
    n += q.packed.byteLength;
    n += q.absmax instanceof Float32Array ? q.absmax.byteLength : q.absmax.codes.byteLength;
  }
  return n;
}

/** The engine of a measurement; the model is dropped once the session holds its weights. */
async function openEngine(
  method: Method,
  lora: LoraConfig,
  memory: MemoryPoint[],
): Promise<{ engine: TrainingEngine; config: LlamaConfig; weightBytes: number }> {
  const fourBit = method.startsWith('qlora');
  const model = fourBit ? randomFourBitModel() : randomLlamaModel(QLORA_BENCH_CONFIG);
  // The children run with --expose-gc: making the random weights leaves garbage (the fp32 values
  // QLoRA quantized) that is no part of a training step's memory.
  (globalThis as { gc?: () => void }).gc?.();
  memory.push(memoryPoint('model loaded'));
  const engine = await createLlamaEngine(
    model,
    {
      method: 'lora',
      lora,
      gradientCheckpointing: method.endsWith('+ckpt'),
      checkpointPolicy: opts.checkpointPolicy, // the engine's default when not given
      fourBitKernel: opts.fourBitKernel,
    },
    { session: { intraOpThreads: opts.threads, interOpThreads: 1 } },
  );
  return { engine, config: model.config, weightBytes: weightBytes(model) };
}

/** One measurement, in this process. */
async function measure(method: Method): Promise<Measurement> {
  const memory = [memoryPoint('start')];
  const setupStart = performance.now();
  const lora = createLoraConfig({
    r: opts.rank,
    alpha: 2 * opts.rank,
    targetModules: opts.targets,
  });
  const { engine, config, weightBytes } = await openEngine(method, lora, memory);
  (globalThis as { gc?: () => void }).gc?.();
  memory.push(memoryPoint('session created'));
  const trainable = new Map<string, Float32Array>();
  for (const [name, t] of initLoraTensors(config, lora, SeededRandom.fromSeed(1)))
    trainable.set(name, t.data);
  const setup = (performance.now() - setupStart) / 1000;
  const batch = randomBatch(config.vocabSize, opts);
  const times: number[] = [];
  for (let i = 0; i < opts.warmup + opts.steps; i++) {
    const t0 = performance.now();
    await engine.step(batch, 1 / batch.targetTokens, trainable, i);
    if (i >= opts.warmup) times.push((performance.now() - t0) / 1000);
    if (i === 0) memory.push(memoryPoint('after first step'));
  }
  await engine.close();
  return {
    method,
    times_s: times,
    setup_s: setup,
    peak_rss_mib: process.resourceUsage().maxRSS / 1024,
    memory,
    weight_bytes: weightBytes,
  };
}

function runChild(method: Method): Measurement {
  const self = fileURLToPath(import.meta.url);
  const args = [
    ...process.execArgv,
    '--expose-gc',
    self,
    '--only',
    method,
    ...stepBenchFlags(opts),
  ];
  return runMeasurement<Measurement>(process.execPath, args, opts.mallocArenaMax);
}

/** Peak RSS (largest of the rounds) and step times of one method. */
function summarize(m: readonly Measurement[]): { rss: number; best: number; median: number } {
  return {
    rss: Math.max(...m.map((x) => x.peak_rss_mib)),
    ...stepTimes(m.flatMap((x) => x.times_s)),
  };
}

/** "QLoRA vs LoRA": peak RSS lora/qlora (target >= 3x) and step time qlora/lora (target <= 1.5x). */
function ratios(
  label: string,
  l: ReturnType<typeof summarize>,
  q: ReturnType<typeof summarize>,
): string {
  const memory = l.rss / q.rss;
  const best = q.best / l.best;
  const median = q.median / l.median;
  const met = (ok: boolean): string => (ok ? 'met' : 'MISSED');
  return (
    `${label.padEnd(34)} peak RSS ${memory.toFixed(2)}x lower (>= 3x: ${met(memory >= 3)}), ` +
    `step time best ${best.toFixed(2)}x, median ${median.toFixed(2)}x (<= 1.5x: best ${met(best <= 1.5)}, median ${met(median <= 1.5)})\n`
  );
}

async function main(): Promise<void> {
  const only = METHODS.find((m) => m === opts.only);
  if (only !== undefined) {
    process.stdout.write(`${JSON.stringify(await measure(only))}\n`);
    return;
  }
  if (opts.only !== undefined) throw new Error(`--only must be one of ${METHODS.join(', ')}`);
  const params = configParameterCount(QLORA_BENCH_CONFIG);
  const c = QLORA_BENCH_CONFIG;
  process.stdout.write(
    `Llama ${(params / 1e6).toFixed(1)}M params (D ${c.hidden_size}, ${c.num_hidden_layers} layers, ` +
      `${c.num_attention_heads}/${c.num_key_value_heads} heads, F ${c.intermediate_size}, V ${c.vocab_size}, untied), ` +
      `batch ${opts.batch} x ${opts.seq}, ${opts.threads} threads, LoRA r ${opts.rank} on ${opts.targets.join(',')}; ` +
      `QLoRA base NF4 block 64 double-quant, 4-bit products by ${opts.fourBitKernel}; +ckpt = gradient checkpointing per decoder layer (${opts.checkpointPolicy ?? 'keep-qkv'}); ` +
      `${opts.steps} steps after ${opts.warmup} warm-up, ${opts.rounds} round(s); ` +
      `${describeMallocArenaMax(opts.mallocArenaMax)} in every child` +
      (opts.mallocArenaMax === SHIPPED_MALLOC_ARENA_MAX
        ? " (the trainer's shipped allocator setting)"
        : '') +
      '\n',
  );
  const runs: Record<Method, Measurement[]> = {
    lora: [],
    'lora+ckpt': [],
    qlora: [],
    'qlora+ckpt': [],
  };
  // Alternating, so load from elsewhere on the machine falls on all.
  for (let round = 0; round < opts.rounds; round++) {
    for (const method of METHODS) runs[method].push(runChild(method));
  }
  const rows = Object.fromEntries(METHODS.map((m) => [m, summarize(runs[m])])) as Record<
    Method,
    ReturnType<typeof summarize>
  >;
  for (const method of METHODS) {
    const m = runs[method][0]!;
    const r = rows[method];
    process.stdout.write(
      `${method.padEnd(11)} peak RSS ${r.rss.toFixed(0).padStart(5)} MiB, step best ${r.best.toFixed(3)} s, median ${r.median.toFixed(3)} s, ` +
        `setup ${m.setup_s.toFixed(1)} s, weights loaded ${(m.weight_bytes / MIB).toFixed(0)} MiB; RSS ` +
        m.memory.map((p) => `${p.at} ${p.rss.toFixed(0)} (peak ${p.peak.toFixed(0)})`).join(', ') +
        ' MiB\n',
    );
  }
  const byDefault = (method: 'lora' | 'qlora'): Method =>
    defaultGradientCheckpointing(method) ? `${method}+ckpt` : method;
  const [ld, qd] = [byDefault('lora'), byDefault('qlora')];
  process.stdout.write(
    ratios('qlora vs lora', rows.lora, rows.qlora) +
      ratios('qlora+ckpt vs lora+ckpt', rows['lora+ckpt'], rows['qlora+ckpt']) +
      ratios(`defaults: ${qd} vs ${ld}`, rows[ld], rows[qd]),
  );
}

await main();
