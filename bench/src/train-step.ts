// Training-throughput benchmark: one LoRA step and one full fine-tuning step of a ~32M-parameter
// Llama in Lathe (onnxruntime, worker thread) and in PyTorch (autograd), same threads and shapes.
// Each measurement runs in its own process, one after another, so peak RSS is per measurement.
//
//   node --conditions=lathe-source --import tsx bench/src/train-step.ts [--threads 2] [--batch 4]
//        [--seq 256] [--steps 5] [--warmup 2] [--rank 8] [--targets q_proj,v_proj] [--rounds 2]
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import {
  SeededRandom,
  createLlamaEngine,
  createLoraConfig,
  initLoraTensors,
  type EngineMethod,
} from '@lathe/llm';
import { BENCH_CONFIG, randomLlamaModel } from './random-llama.js';
import {
  configParameterCount,
  parseStepBenchArgs,
  randomBatch,
  runMeasurement,
  stepBenchFlags,
  stepTimes,
} from './step-bench.js';

interface Measurement {
  readonly method: string;
  readonly median_s: number;
  readonly times_s: number[];
  readonly tokens_per_s: number;
  readonly peak_rss_mib: number;
  readonly setup_s?: number;
}

const opts = parseStepBenchArgs({ batch: 4, steps: 5, warmup: 2, rounds: 2 });
const rounds = opts.rounds;

/** One Lathe measurement, in this process. */
async function measureLathe(method: 'lora' | 'full'): Promise<Measurement> {
  const setupStart = performance.now();
  const model = randomLlamaModel();
  const lora = createLoraConfig({
    r: opts.rank,
    alpha: 2 * opts.rank,
    targetModules: opts.targets,
  });
  const engineMethod: EngineMethod =
    method === 'lora' ? { method: 'lora', lora } : { method: 'full' };
  const engine = await createLlamaEngine(model, engineMethod, {
    session: { intraOpThreads: opts.threads, interOpThreads: 1 },
  });
  const trainable = new Map<string, Float32Array>();
  if (method === 'lora') {
    for (const [name, t] of initLoraTensors(model.config, lora, SeededRandom.fromSeed(1)))
      trainable.set(name, t.data);
  } else {
    for (const [name, t] of model.weights) trainable.set(name, t.data);
  }
  const setup = (performance.now() - setupStart) / 1000;
  const batch = randomBatch(model.config.vocabSize, opts);
  const times: number[] = [];
  for (let i = 0; i < opts.warmup + opts.steps; i++) {
    const t0 = performance.now();
    await engine.step(batch, 1 / batch.targetTokens, trainable, i);
    if (i >= opts.warmup) times.push((performance.now() - t0) / 1000);
  }
  await engine.close();
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)] ?? NaN;
  return {
    method,
    median_s: median,
    times_s: times,
    tokens_per_s: (opts.batch * opts.seq) / median,
    peak_rss_mib: process.resourceUsage().maxRSS / 1024,
    setup_s: setup,
  };
}

async function main(): Promise<void> {
  if (opts.only === 'lora' || opts.only === 'full') {
    process.stdout.write(`${JSON.stringify(await measureLathe(opts.only))}\n`);
    return;
  }
  const self = fileURLToPath(import.meta.url);
  const shared = stepBenchFlags(opts);
  const torchScript = fileURLToPath(new URL('./torch-train-step.py', import.meta.url));
  const params = configParameterCount(BENCH_CONFIG);
  process.stdout.write(
    `Llama ${(params / 1e6).toFixed(1)}M params (D ${BENCH_CONFIG.hidden_size}, ${BENCH_CONFIG.num_hidden_layers} layers, ` +
      `${BENCH_CONFIG.num_attention_heads}/${BENCH_CONFIG.num_key_value_heads} heads, F ${BENCH_CONFIG.intermediate_size}, V ${BENCH_CONFIG.vocab_size}), ` +
      `batch ${opts.batch} x ${opts.seq}, ${opts.threads} threads, LoRA r ${opts.rank} on ${opts.targets.join(',')}; ${opts.steps} steps after ${opts.warmup} warm-up, ${rounds} alternating rounds\n`,
  );
  // Lathe and PyTorch alternate, round after round, so that load from elsewhere on the machine
  // falls on both; the best step of all rounds is the least disturbed figure, the median the
  // typical one.
  for (const method of ['lora', 'full'] as const) {
    const lathe: Measurement[] = [];
    const torch: Measurement[] = [];
    for (let round = 0; round < rounds; round++) {
      lathe.push(
        runMeasurement(process.execPath, [...process.execArgv, self, '--only', method, ...shared]),
      );
      torch.push(
        runMeasurement('/usr/bin/python3', [
          torchScript,
          '--config',
          JSON.stringify(BENCH_CONFIG),
          '--method',
          method,
          ...shared,
        ]),
      );
    }
    const l = summarize(lathe);
    const t = summarize(torch);
    const tokens = opts.batch * opts.seq;
    process.stdout.write(
      `${method.padEnd(4)}  lathe best ${l.best.toFixed(3)} s (${(tokens / l.best).toFixed(0)} tok/s) median ${l.median.toFixed(3)} s, peak RSS ${l.rss.toFixed(0)} MiB` +
        `  |  pytorch best ${t.best.toFixed(3)} s (${(tokens / t.best).toFixed(0)} tok/s) median ${t.median.toFixed(3)} s, peak RSS ${t.rss.toFixed(0)} MiB` +
        `  |  speed-up best ${(t.best / l.best).toFixed(2)}x, median ${(t.median / l.median).toFixed(2)}x\n`,
    );
  }
}

/** Best and median step time over all rounds, and the largest peak RSS. */
function summarize(ms: readonly Measurement[]): { best: number; median: number; rss: number } {
  return {
    ...stepTimes(ms.flatMap((m) => m.times_s)),
    rss: Math.max(...ms.map((m) => m.peak_rss_mib)),
  };
}

await main();
