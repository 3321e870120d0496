// Test support, exported as `@lathe/llm/testing`: next-token log-probabilities of a merged model
// against base + unmerged adapter branch, for every package that checks a merge (CLI, registry).
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { GraphSession, tensorData, writeModelFile } from '@lathe/graph';
import {
  DecoderSession,
  SEQUENCE_LOG_PROBS_OUTPUT,
  TextTokenizer,
  buildCausalLmGraph,
  loadLlamaModel,
  loadLoraAdapter,
  type LlamaModel,
} from '../src/index.js';

function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(logits, (v) => v - lse);
}

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

/**
 * Largest |Δ log p| over every position and vocabulary entry between the merged model's
 * decoder and the base with the adapter as a separate branch (x·Wᵀ + s·(x·Aᵀ)·Bᵀ in the
 * training graph, read through per-row target log-probs: row (t, v) targets v at position t);
 * and how far the adapter moves log p from the plain base, so a no-op adapter cannot pass.
 */
export async function maxLogProbDifference(
  baseDir: string,
  adapterDir: string,
  mergedDir: string,
  prompt: string,
): Promise<{ maxDiff: number; adapterEffect: number }> {
  const base = await loadLlamaModel(baseDir);
  const tokens = (await TextTokenizer.load(baseDir)).encode(prompt).slice(0, 8); // [T]
  const T = tokens.length;
  const V = base.config.vocabSize;
  const merged = await decoderLogProbs(await loadLlamaModel(mergedDir), tokens);
  const plain = await decoderLogProbs(base, tokens);
  const adapter = await loadLoraAdapter(adapterDir, base.config);
  const graph = buildCausalLmGraph(base, { method: 'lora', lora: adapter.config }, false);
  // Frozen weights are ONNX external data: the model file is written beside them and opened by path.
  const graphDir = await mkdtemp(join(mergedDir, '..', 'lora-graph-'));
  await graph.external.write(graphDir);
  await writeModelFile(graph.builder, join(graphDir, 'model.onnx'));
  const session = await GraphSession.create(join(graphDir, 'model.onnx'));
  const rows = T * V;
  const ids = new BigInt64Array(rows * T);
  const positions = new BigInt64Array(rows * T);
  const labels = new BigInt64Array(rows * T).fill(-100n);
  for (let t = 0; t < T; t++)
    for (let v = 0; v < V; v++) {
      const row = t * V + v;
      for (let i = 0; i < T; i++) {
        ids[row * T + i] = BigInt(tokens[i] ?? 0);
        positions[row * T + i] = BigInt(i);
      }
      labels[row * T + t] = BigInt(v);
    }
  const dims = [rows, T];
  const feeds = {
    input_ids: tensorData.int64(ids, dims),
    position_ids: tensorData.int64(positions, dims),
    segment_ids: tensorData.int64(new BigInt64Array(rows * T).fill(1n), dims),
    labels: tensorData.int64(labels, dims),
    loss_weight: tensorData.float32(new Float32Array([1]), []),
    ...Object.fromEntries(
      graph.trainables.map((t) => {
        const tensor = adapter.tensors.get(t.name);
        if (tensor === undefined) throw new Error(`adapter lacks ${t.name}`);
        return [t.name, tensorData.float32(tensor.data, t.shape)];
      }),
    ),
  };
  const result = await session.run(feeds, [SEQUENCE_LOG_PROBS_OUTPUT]);
  await session.close();
  await rm(graphDir, { recursive: true, force: true });
  const branch = result[SEQUENCE_LOG_PROBS_OUTPUT]?.data as Float32Array;
  let maxDiff = 0;
  let adapterEffect = 0;
  for (let t = 0; t < T; t++)
    for (let v = 0; v < V; v++) {
      const b = branch[t * V + v] ?? NaN;
      maxDiff = Math.max(maxDiff, Math.abs((merged[t]?.[v] ?? NaN) - b));
      adapterEffect = Math.max(adapterEffect, Math.abs((plain[t]?.[v] ?? NaN) - b));
    }
  return { maxDiff, adapterEffect };
}
