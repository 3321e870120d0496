// QLoRA memory and speed benchmark: one training step (forward, loss, backward for the LoRA
// tensors) of a random ~158M-parameter Llama whose frozen projections are held 4-bit (NF4, block
// 64, double quantization) inside the training graph, against the same LoRA step on the fp32
// base. Each measurement runs in its own child process so its peak RSS is its own.
//
//   node --conditions=lathe-source --import tsx bench/src/qlora-step.ts [--threads 2] [--batch 1]
//        [--seq 256] [--steps 3] [--warmup 1] [--rank 8] [--targets q_proj,v_proj] [--rounds 1]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import {
  PROJECTIONS,
  SeededRandom,
  createLlamaEngine,
  createLoraConfig,
  createQuantConfig,
  initLoraTensors,
  isQuantizedLayer,
  parameterShapes,
  parseLlamaConfig,
  quantizeTensor,
  type Float32Tensor,
  type LlamaModel,
  type Projection,
  type Quantized4bit,
  type TrainingBatch,
} from '@lathe/llm';
import { parameterCount, randomLlamaModel } from './random-llama.js';

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
}

/**
 * lora: LoRA on the fp32 base with the engine's defaults (what train() runs); qlora: the 4-bit
 * base with the engine's defaults (no onnxruntime arena); qlora-arena: the same with the arena and
 * memory pattern on (`memoryArena: true`), to see what the allocator keeps.
 */
type Method = 'lora' | 'qlora' | 'qlora-arena';
const METHODS: readonly Method[] = ['lora', 'qlora', 'qlora-arena'];

interface Measurement {
  readonly method: Method;
  readonly times_s: number[];
  readonly setup_s: number;
  readonly peak_rss_mib: number;
  readonly memory: MemoryPoint[];
  readonly weight_bytes: number;
}

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    batch: { type: 'string', default: '1' },
    seq: { type: 'string', default: '256' },
    steps: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    rank: { type: 'string', default: '8' },
    targets: { type: 'string', default: 'q_proj,v_proj' },
    rounds: { type: 'string', default: '1' },
    only: { type: 'string' },
  },
});
const opts = {
  threads: Number(values.threads),
  batch: Number(values.batch),
  seq: Number(values.seq),
  steps: Number(values.steps),
  warmup: Number(values.warmup),
  rank: Number(values.rank),
  rounds: Number(values.rounds),
  targets: values.targets
    .split(',')
    .filter((t): t is Projection => (PROJECTIONS as readonly string[]).includes(t)),
};

const MIB = 1024 * 1024;

function memoryPoint(at: string): MemoryPoint {
  const m = process.memoryUsage();
  return { at, rss: m.rss / MIB, arrayBuffers: m.arrayBuffers / MIB };
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

/** One measurement, in this process. */
async function measure(method: Method): Promise<Measurement> {
  const memory = [memoryPoint('start')];
  const setupStart = performance.now();
  const model = method === 'lora' ? randomLlamaModel(QLORA_BENCH_CONFIG) : randomFourBitModel();
  // The children run with --expose-gc: making the random weights leaves garbage (the fp32 values
  // QLoRA quantized) that is no part of a training step's memory.
  (globalThis as { gc?: () => void }).gc?.();
  memory.push(memoryPoint('model loaded'));
  const lora = createLoraConfig({
    r: opts.rank,
    alpha: 2 * opts.rank,
    targetModules: opts.targets,
  });
  const engine = await createLlamaEngine(
    model,
    { method: 'lora', lora },
    {
      session: {
        intraOpThreads: opts.threads,
        interOpThreads: 1,
        ...(method === 'qlora-arena' ? { memoryArena: true } : {}),
      },
    },
  );
  memory.push(memoryPoint('session created'));
  const trainable = new Map<string, Float32Array>();
  for (const [name, t] of initLoraTensors(model.config, lora, SeededRandom.fromSeed(1)))
    trainable.set(name, t.data);
  const setup = (performance.now() - setupStart) / 1000;
  const batch = randomBatch(model.config.vocabSize);
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
    weight_bytes: weightBytes(model),
  };
}

function randomBatch(vocab: number): TrainingBatch {
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

function runChild(method: Method): Measurement {
  const self = fileURLToPath(import.meta.url);
  const args = [
    ...process.execArgv,
    '--expose-gc',
    self,
    '--only',
    method,
    ...['--threads', values.threads, '--batch', values.batch, '--seq', values.seq],
    ...['--steps', values.steps, '--warmup', values.warmup, '--rank', values.rank],
    ...['--targets', opts.targets.join(',')],
  ];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${method} measurement failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as Measurement;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function main(): Promise<void> {
  const only = METHODS.find((m) => m === values.only);
  if (only !== undefined) {
    process.stdout.write(`${JSON.stringify(await measure(only))}\n`);
    return;
  }
  const params = parameterCount(randomLlamaModel(QLORA_BENCH_CONFIG));
  const c = QLORA_BENCH_CONFIG;
  process.stdout.write(
    `Llama ${(params / 1e6).toFixed(1)}M params (D ${c.hidden_size}, ${c.num_hidden_layers} layers, ` +
      `${c.num_attention_heads}/${c.num_key_value_heads} heads, F ${c.intermediate_size}, V ${c.vocab_size}, untied), ` +
      `batch ${opts.batch} x ${opts.seq}, ${opts.threads} threads, LoRA r ${opts.rank} on ${opts.targets.join(',')}; ` +
      `QLoRA base NF4 block 64 double-quant; ${opts.steps} steps after ${opts.warmup} warm-up, ${opts.rounds} round(s)\n`,
  );
  const runs: Record<Method, Measurement[]> = { lora: [], qlora: [], 'qlora-arena': [] };
  // Alternating, so load from elsewhere on the machine falls on all.
  for (let round = 0; round < opts.rounds; round++) {
    for (const method of METHODS) runs[method].push(runChild(method));
  }
  const row = (m: Measurement[]): { rss: number; best: number; med: number } => {
    const times = m.flatMap((x) => x.times_s);
    return {
      rss: Math.max(...m.map((x) => x.peak_rss_mib)),
      best: Math.min(...times),
      med: median(times),
    };
  };
  const l = row(runs.lora);
  const n = row(runs['qlora-arena']);
  const q = row(runs.qlora);
  for (const method of METHODS) {
    const m = runs[method][0]!;
    const r = row(runs[method]);
    process.stdout.write(
      `${method.padEnd(13)}  peak RSS ${r.rss.toFixed(0)} MiB, step best ${r.best.toFixed(3)} s, median ${r.med.toFixed(3)} s, ` +
        `setup ${m.setup_s.toFixed(1)} s, weights in JS ${(m.weight_bytes / MIB).toFixed(0)} MiB; RSS ` +
        m.memory.map((p) => `${p.at} ${p.rss.toFixed(0)}`).join(', ') +
        ' MiB\n',
    );
  }
  process.stdout.write(
    `ratios  peak RSS lora/qlora ${(l.rss / q.rss).toFixed(2)}x (target >= 3x), ` +
      `step time qlora/lora best ${(q.best / l.best).toFixed(2)}x, median ${(q.med / l.med).toFixed(2)}x (target <= 1.5x); ` +
      `qlora-arena: peak RSS lora/it ${(l.rss / n.rss).toFixed(2)}x, step time it/lora best ${(n.best / l.best).toFixed(2)}x\n`,
  );
}

await main();
