import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { GraphSession, tensorData, type TensorMap } from '@lathe/graph';
import { describe, expect, it } from 'vitest';
import type { TrainingBatch } from '../data/training-batch.js';
import { tokenBatchFromRows } from '../grads/token-batch.js';
import { openFromModelFiles } from './external-weights.js';
import { loadLlamaModel } from './llama-model.js';
import { LOSS_OUTPUT, SEQUENCE_LOG_PROBS_OUTPUT, buildCausalLmGraph } from './training-graph.js';

const stories = resolve(import.meta.dirname, '../../../../../shared/models/stories260K');
const missing = existsSync(stories) ? '' : `${stories} is absent`;
if (missing) console.warn(`skipping training-graph tests: ${missing}`);

describe.skipIf(missing !== '')('causal-LM graph outputs', () => {
  it('sequence_log_probs holds each row’s own log-likelihood; loss is their negated sum times loss_weight', async () => {
    const model = await loadLlamaModel(stories);
    // The full-method graph takes every weight as an input; feed the model's own.
    const graph = buildCausalLmGraph(model, { method: 'full' }, false);
    const session = await openFromModelFiles(graph.builder, graph.external, (path) =>
      GraphSession.create(path, { intraOpThreads: 1 }),
    );
    const run = async (batch: TrainingBatch, lossWeight: number): Promise<TensorMap> => {
      const dims = [batch.batchSize, batch.seqLen];
      const feeds: Record<string, ReturnType<typeof tensorData.float32>> = {
        input_ids: tensorData.int64(batch.inputIds, dims),
        position_ids: tensorData.int64(batch.positionIds, dims),
        segment_ids: tensorData.int64(batch.segmentIds, dims),
        labels: tensorData.int64(batch.labels, dims),
        loss_weight: tensorData.float32(new Float32Array([lossWeight]), []),
      };
      for (const t of graph.trainables)
        feeds[t.name] = tensorData.float32(
          model.weights.get(t.name)?.data ?? new Float32Array(),
          t.shape,
        );
      return session.run(feeds);
    };
    const a = [1, 403, 407, 261, 378, 432, 383, 286];
    const b = [1, 376, 298, 315];
    const both = await run(tokenBatchFromRows([a, b], [a, b]), 0.5);
    const alone = await Promise.all([
      run(tokenBatchFromRows([a], [a]), 1),
      run(tokenBatchFromRows([b], [b]), 1),
    ]);
    await session.close();
    const rows = Array.from(both[SEQUENCE_LOG_PROBS_OUTPUT]?.data as Float32Array);
    const single = alone.map((o) => (o[SEQUENCE_LOG_PROBS_OUTPUT]?.data as Float32Array)[0] ?? NaN);
    // Padding of row b (segment 0) must not change its value: fp32, 1e-5 relative.
    rows.forEach((v, i) =>
      expect(Math.abs(v - (single[i] ?? 0)) / Math.abs(single[i] ?? 1)).toBeLessThan(1e-5),
    );
    expect(rows.every((v) => v < 0)).toBe(true);
    const loss = (both[LOSS_OUTPUT]?.data as Float32Array)[0] ?? NaN;
    expect(loss).toBeCloseTo(-0.5 * ((rows[0] ?? 0) + (rows[1] ?? 0)), 4);
  });
});
