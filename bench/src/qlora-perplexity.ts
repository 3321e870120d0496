// Where NF4's perplexity cost on stories260K comes from: perplexity of the fp32 model against
// the model with its projections quantized (NF4/FP4, block sizes, double quantization on/off),
// one projection type at a time, and on several held-out texts. Teacher-forced: each text is one
// sequence through the forward graph (createLlamaEngine's evaluation), fp32 compute.
//
//   node --conditions=lathe-source --import tsx bench/src/qlora-perplexity.ts [--model DIR]
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  PROJECTIONS,
  TextTokenizer,
  createLlamaEngine,
  createQuantConfig,
  dequantizeTensor,
  isQuantizedLayer,
  loadLlamaModel,
  quantizeTensor,
  type Float32Tensor,
  type LlamaModel,
  type Projection,
  type QuantOptions,
  type TrainingBatch,
} from '@lathe/llm';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const { values } = parseArgs({
  options: { model: { type: 'string', default: join(repo, '../shared/models/stories260K') } },
});
const modelDir = values.model;

/** The model with the chosen projections quantized then restored (what a 4-bit base computes). */
function quantized(
  model: LlamaModel,
  options: QuantOptions,
  only?: readonly Projection[],
): LlamaModel {
  const config = createQuantConfig(options);
  const weights = new Map<string, Float32Tensor>(model.weights);
  for (const [name, t] of model.weights) {
    if (!isQuantizedLayer(name, t.shape)) continue;
    if (only !== undefined && !only.some((p) => name.includes(`.${p}.`))) continue;
    weights.set(name, dequantizeTensor(quantizeTensor(name, t, config)));
  }
  return { config: model.config, weights };
}

/** One row per sequence (right-padded); every next token is a target. */
function batchOf(sequences: readonly number[][]): TrainingBatch {
  const t = Math.max(...sequences.map((s) => s.length));
  const b = sequences.length;
  const inputIds = new BigInt64Array(b * t);
  const positionIds = new BigInt64Array(b * t);
  const segmentIds = new BigInt64Array(b * t);
  const labels = new BigInt64Array(b * t).fill(-100n);
  let targetTokens = 0;
  sequences.forEach((s, r) => {
    s.forEach((id, i) => {
      inputIds[r * t + i] = BigInt(id);
      positionIds[r * t + i] = BigInt(i);
      segmentIds[r * t + i] = 1n;
      if (i + 1 < s.length) {
        labels[r * t + i] = BigInt(s[i + 1]!);
        targetTokens++;
      }
    });
  });
  return { batchSize: b, seqLen: t, inputIds, positionIds, segmentIds, labels, targetTokens };
}

async function perplexity(model: LlamaModel, batch: TrainingBatch): Promise<number> {
  const engine = await createLlamaEngine(
    model,
    { method: 'full' },
    { session: { intraOpThreads: 1 } },
  );
  try {
    const trainable = new Map<string, Float32Array>();
    for (const [name, t] of model.weights) trainable.set(name, t.data);
    return Math.exp((await engine.lossSum(batch, trainable)) / batch.targetTokens);
  } finally {
    await engine.close();
  }
}

async function main(): Promise<void> {
  if (!existsSync(modelDir)) {
    process.stdout.write(`skipped: ${modelDir} is absent\n`);
    return;
  }
  const model = await loadLlamaModel(modelDir);
  const tokenizer = await TextTokenizer.load(modelDir, model.config.vocabSize);
  const fixture = await readFile(
    join(repo, 'libs/llm/src/quant/fixtures/held-out-stories.txt'),
    'utf8',
  );
  const paragraphs = fixture
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const golden = JSON.parse(await readFile(join(modelDir, 'golden_greedy_256.json'), 'utf8')) as {
    prompt_token_ids: number[];
    generated_token_ids: number[];
  };
  const texts: [string, number[][]][] = [
    ['held-out-stories.txt (5 paragraphs)', paragraphs.map((p) => tokenizer.encode(p))],
    [
      "golden greedy text (the model's own fp32 output)",
      [[...golden.prompt_token_ids, ...golden.generated_token_ids]],
    ],
  ];
  for (const [label, sequences] of texts) {
    const batch = batchOf(sequences);
    const base = await perplexity(model, batch);
    process.stdout.write(
      `\n${label}: ${batch.targetTokens} target tokens, fp32 perplexity ${base.toFixed(4)}\n`,
    );
    const row = async (name: string, m: LlamaModel): Promise<void> => {
      const ppl = await perplexity(m, batch);
      process.stdout.write(
        `  ${name.padEnd(44)} ${ppl.toFixed(4)}  (${((ppl / base - 1) * 100).toFixed(2)}%)\n`,
      );
    };
    for (const [name, options] of [
      ['nf4 block 64 double-quant (QLoRA default)', {}],
      ['nf4 block 64, no double quant', { doubleQuant: false }],
      ['nf4 block 32', { blockSize: 32 }],
      ['nf4 block 128', { blockSize: 128 }],
      ['fp4 block 64', { scheme: 'fp4' }],
      ['int8 per row', { scheme: 'int8' }],
    ] as [string, QuantOptions][]) {
      await row(name, quantized(model, options));
    }
    for (const p of PROJECTIONS) await row(`nf4 on ${p} only`, quantized(model, {}, [p]));
  }
}

await main();
