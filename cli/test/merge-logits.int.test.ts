import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GraphSession, tensorData, writeModelFile } from '@lathe/graph';
import {
  DecoderSession,
  SEQUENCE_LOG_PROBS_OUTPUT,
  TextTokenizer,
  buildCausalLmGraph,
  loadLlamaModel,
  loadLoraAdapter,
  type LlamaModel,
} from '@lathe/llm';
import { REPO_ROOT, runLathe } from './run-lathe.js';
import { saveRandomAdapter } from './random-adapter.js';
import { useTempDirs } from './temp-dirs.js';

const MODEL = join(REPO_ROOT, '../shared/models/stories260K');
const missing = existsSync(MODEL) ? '' : `shared model not found at ${MODEL}`;
if (missing !== '') console.warn(`skipping merge-logits test: ${missing}`);

function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(logits, (v) => v - lse);
}

/** Next-token log-probabilities at every position, from the decoding graph of a (merged) model. */
async function decoderLogProbs(
  model: LlamaModel,
  tokens: readonly number[],
): Promise<Float64Array[]> {
  const session = await DecoderSession.create(model);
  try {
    let cache = session.emptyCache();
    const out: Float64Array[] = [];
    for (const t of tokens) {
      const r = await session.forward([t], cache);
      cache = r.cache;
      out.push(logSoftmax(r.logits));
    }
    return out;
  } finally {
    await session.close();
  }
}

describe.skipIf(missing !== '')('lathe merge output vs base + adapter', () => {
  const tempDir = useTempDirs('lathe-merge-');

  it('gives the same next-token distribution at every position as the unmerged LoRA branch (1e-4)', async () => {
    const dir = await tempDir();
    const base = await loadLlamaModel(MODEL);
    const all = [
      'q_proj',
      'k_proj',
      'v_proj',
      'o_proj',
      'gate_proj',
      'up_proj',
      'down_proj',
    ] as const;
    const { adapterDir } = await saveRandomAdapter(base, MODEL, dir, all, 11);
    const out = join(dir, 'merged');
    const merge = await runLathe([
      'merge',
      '--model',
      MODEL,
      '--adapter',
      adapterDir,
      '--out',
      out,
    ]);
    expect(merge.code, merge.stderr).toBe(0);

    const tokenizer = await TextTokenizer.load(MODEL);
    const tokens = tokenizer.encode('Once upon a time, there was a little girl').slice(0, 8); // [T]
    const T = tokens.length;
    const V = base.config.vocabSize;
    const merged = await decoderLogProbs(await loadLlamaModel(out), tokens);
    const plain = await decoderLogProbs(base, tokens);

    // Base + adapter as separate branches (x·Wᵀ + s·(x·Aᵀ)·Bᵀ) in the training graph, read out
    // through per-row sums of target log-probs: row (t, v) has the single target v at position t.
    const adapter = await loadLoraAdapter(adapterDir, base.config);
    const graph = buildCausalLmGraph(base, { method: 'lora', lora: adapter.config }, false);
    // Frozen weights are ONNX external data: write the model file beside them, open it by path.
    const graphDir = join(dir, 'lora-graph');
    await mkdir(graphDir);
    await graph.external.write(graphDir);
    await writeModelFile(graph.builder, join(graphDir, 'model.onnx'));
    const session = await GraphSession.create(join(graphDir, 'model.onnx'));
    const rows = T * V;
    const inputIds = new BigInt64Array(rows * T);
    const positionIds = new BigInt64Array(rows * T);
    const segmentIds = new BigInt64Array(rows * T).fill(1n);
    const labels = new BigInt64Array(rows * T).fill(-100n);
    for (let t = 0; t < T; t++) {
      for (let v = 0; v < V; v++) {
        const row = t * V + v;
        for (let i = 0; i < T; i++) {
          inputIds[row * T + i] = BigInt(tokens[i] ?? 0);
          positionIds[row * T + i] = BigInt(i);
        }
        labels[row * T + t] = BigInt(v);
      }
    }
    const dims = [rows, T];
    const feeds = {
      input_ids: tensorData.int64(inputIds, dims),
      position_ids: tensorData.int64(positionIds, dims),
      segment_ids: tensorData.int64(segmentIds, dims),
      labels: tensorData.int64(labels, dims),
      loss_weight: tensorData.float32(new Float32Array([1]), []),
      ...Object.fromEntries(
        graph.trainables.map((t) => [
          t.name,
          tensorData.float32(adapter.tensors.get(t.name)!.data, t.shape),
        ]),
      ),
    };
    const result = await session.run(feeds, [SEQUENCE_LOG_PROBS_OUTPUT]);
    await session.close();
    const branch = result[SEQUENCE_LOG_PROBS_OUTPUT]!.data as Float32Array;

    let maxDiff = 0;
    let adapterEffect = 0;
    for (let t = 0; t < T; t++) {
      for (let v = 0; v < V; v++) {
        const b = branch[t * V + v]!;
        maxDiff = Math.max(maxDiff, Math.abs(merged[t]![v]! - b));
        adapterEffect = Math.max(adapterEffect, Math.abs(plain[t]![v]! - b));
      }
    }
    console.log(
      `merged vs base+adapter: max |Δ log p| = ${maxDiff.toExponential(2)} over ${T}x${V}; adapter moves log p by up to ${adapterEffect.toFixed(3)}`,
    );
    expect(adapterEffect).toBeGreaterThan(0.05);
    expect(maxDiff).toBeLessThan(1e-4);
  });
});
