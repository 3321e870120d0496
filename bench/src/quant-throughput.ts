// Quantization throughput and memory: quantizes a random ~32M-parameter Llama written to disk,
// in a child process, and reports time, parameters/s and the child's peak RSS against the model
// size and its largest tensor (the streaming quantizer should track the latter).
//
//   node --conditions=lathe-source --import tsx bench/src/quant-throughput.ts [--scheme nf4] [--gc] [--layers 8]
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createQuantConfig, quantizeModelDir, saveHfModel, type QuantScheme } from '@lathe/llm';
import { BENCH_CONFIG, randomLlamaModel } from './random-llama.js';

const MIB = 1024 * 1024;

/**
 * This process's RSS high-water mark (VmHWM). Not `resourceUsage().maxRSS`: Linux carries that
 * across fork + exec, so a child would report its parent's peak (the parent holds the model).
 */
function peakRss(): number {
  const line = readFileSync('/proc/self/status', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmHWM:'));
  return line === undefined ? NaN : Number(line.replace(/\D+/g, '')) * 1024;
}

async function child(modelDir: string, outDir: string, scheme: QuantScheme): Promise<void> {
  const baseline = process.memoryUsage().rss;
  const start = performance.now();
  // With --expose-gc, collect after every tensor so the peak shows live memory, not garbage
  // that V8 has not yet collected.
  const gc = (globalThis as { gc?: () => void }).gc;
  const report = await quantizeModelDir(modelDir, outDir, createQuantConfig({ scheme }), () =>
    gc?.(),
  );
  const seconds = (performance.now() - start) / 1000;
  const params = report.tensors.reduce((a, t) => a + t.parameters, 0);
  process.stdout.write(
    JSON.stringify({
      seconds,
      quantizedParameters: params,
      baselineRssMiB: baseline / MIB,
      peakRssMiB: peakRss() / MIB,
      bytesBefore: report.bytesBefore,
      bytesAfter: report.bytesAfter,
      bitsPerQuantizedParameter: report.bitsPerQuantizedParameter,
    }),
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scheme: { type: 'string', default: 'nf4' },
      gc: { type: 'boolean', default: false },
      layers: { type: 'string', default: String(BENCH_CONFIG.num_hidden_layers) },
      child: { type: 'string', multiple: true },
    },
  });
  const scheme = values.scheme as QuantScheme;
  if (values.child !== undefined) {
    const [modelDir, outDir] = values.child as [string, string];
    await child(modelDir, outDir, scheme);
    return;
  }
  const root = await mkdtemp(join(tmpdir(), 'lathe-bench-quant-'));
  try {
    const config = { ...BENCH_CONFIG, num_hidden_layers: Number(values.layers) };
    const model = randomLlamaModel(config);
    const source = join(root, 'source');
    const modelDir = join(root, 'model');
    await saveHfModel(source, root, new Map());
    await writeFile(join(source, 'config.json'), JSON.stringify(config));
    await saveHfModel(modelDir, source, model.weights);
    const largest = Math.max(...[...model.weights.values()].map((t) => t.data.byteLength));
    const total = [...model.weights.values()].reduce((a, t) => a + t.data.byteLength, 0);
    const run = spawnSync(
      process.execPath,
      [
        ...process.execArgv,
        ...(values.gc ? ['--expose-gc'] : []),
        fileURLToPath(import.meta.url),
        '--scheme',
        scheme,
        '--child',
        modelDir,
        '--child',
        join(root, 'out'),
      ],
      { encoding: 'utf8', maxBuffer: 16 * MIB },
    );
    if (run.status !== 0) throw new Error(`quantizing child failed: ${run.stderr}`);
    const r = JSON.parse(run.stdout) as Record<string, number>;
    console.log(
      `scheme ${scheme}${values.gc ? ' (gc after each tensor)' : ''}; model ${(total / MIB).toFixed(1)} MiB fp32, largest tensor ${(largest / MIB).toFixed(1)} MiB`,
    );
    console.log(
      `quantized ${(r['quantizedParameters']! / 1e6).toFixed(1)}M parameters in ${r['seconds']!.toFixed(2)} s ` +
        `(${(r['quantizedParameters']! / r['seconds']! / 1e6).toFixed(1)}M/s, error statistics included)`,
    );
    console.log(
      `tensor bytes ${r['bytesBefore']} -> ${r['bytesAfter']}; ${r['bitsPerQuantizedParameter']!.toFixed(3)} bits per quantized parameter`,
    );
    console.log(
      `child RSS: ${r['baselineRssMiB']!.toFixed(1)} MiB after start-up, peak ${r['peakRssMiB']!.toFixed(1)} MiB ` +
        `(+${(r['peakRssMiB']! - r['baselineRssMiB']!).toFixed(1)} MiB = ${((r['peakRssMiB']! - r['baselineRssMiB']!) / (largest / MIB)).toFixed(2)}x the largest tensor, ` +
        `${((r['peakRssMiB']! - r['baselineRssMiB']!) / (total / MIB)).toFixed(2)}x the model)`,
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();
