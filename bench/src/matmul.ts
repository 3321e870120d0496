// Matrix-product throughput of onnxruntime on this machine, for the shapes of the training-step
// benchmark (N = 4 x 256 rows): the ceiling the training step can reach.
//
//   node --conditions=lathe-source --import tsx bench/src/matmul.ts [--threads 2]
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import {
  GraphBuilder,
  GraphSession,
  serializeModel,
  tensorData,
  type TensorData,
} from '@lathe/graph';
import { SeededRandom } from '@lathe/llm';

const { values } = parseArgs({
  options: { threads: { type: 'string', default: '2' }, runs: { type: 'string', default: '10' } },
});
const threads = Number(values.threads);
const runs = Number(values.runs);
const rng = SeededRandom.fromSeed(0);

/** Best-of-runs GFLOP/s of one 2·M·K·N product built by `build`. */
async function measure(
  flops: number,
  build: (g: GraphBuilder) => void,
  feeds: Record<string, TensorData>,
): Promise<number> {
  const g = new GraphBuilder();
  build(g);
  const session = await GraphSession.create(serializeModel(g), {
    intraOpThreads: threads,
    interOpThreads: 1,
  });
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    best = Math.min(best, performance.now() - t0);
  }
  await session.close();
  return flops / (best / 1000) / 1e9;
}

const rows = 1024;
process.stdout.write(`onnxruntime Gemm, ${threads} threads, best of ${runs} runs (GFLOP/s)\n`);
for (const [k, n] of [
  [512, 1408],
  [1408, 512],
  [512, 8192],
] as const) {
  const x = tensorData.float32(rng.uniformArray(rows * k, -1, 1), [rows, k]);
  const w = rng.uniformArray(n * k, -1, 1);
  const flops = 2 * rows * k * n;
  const constant = await measure(
    flops,
    (g) =>
      g.output(
        'y',
        g.gemm(
          g.input('x', 'float32', [rows, k]),
          g.initializer('w', 'float32', [n, k], w),
          undefined,
          { transB: true },
        ),
      ),
    { x },
  );
  const input = await measure(
    flops,
    (g) =>
      g.output(
        'y',
        g.gemm(g.input('x', 'float32', [rows, k]), g.input('w', 'float32', [n, k]), undefined, {
          transB: true,
        }),
      ),
    { x, w: tensorData.float32(w, [n, k]) },
  );
  process.stdout.write(
    `  [${rows} x ${k}] · [${k} x ${n}]  weight constant (prepacked) ${constant.toFixed(0)}  weight as input ${input.toFixed(0)}\n`,
  );
}
