import { tensorData, type TensorData } from '@lathe/graph';
import type { TrainingBatch } from '../data/training-batch.js';

/** The causal-LM graph's batch inputs (ids, positions, segments, labels, loss weight). */
export function batchFeeds(batch: TrainingBatch, lossWeight: number): Record<string, TensorData> {
  const dims = [batch.batchSize, batch.seqLen];
  return {
    input_ids: tensorData.int64(batch.inputIds, dims),
    position_ids: tensorData.int64(batch.positionIds, dims),
    segment_ids: tensorData.int64(batch.segmentIds, dims),
    labels: tensorData.int64(batch.labels, dims),
    loss_weight: tensorData.float32(new Float32Array([lossWeight]), []),
  };
}
