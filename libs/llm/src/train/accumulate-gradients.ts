import type { PackedRow } from '../data/pack-sequences.js';
import { toTrainingBatch } from '../data/training-batch.js';
import type { SeededRandom } from '../optim/seeded-random.js';
import type { TrainingEngine } from './training-engine.js';

/** Loss and summed gradients of one optimizer step. */
export interface AccumulatedStep {
  /** Mean token loss over the step's target tokens (sum of the weighted micro-batch losses). */
  readonly loss: number;
  readonly grads: Map<string, Float32Array>;
  /** Target tokens in the step. */
  readonly targetTokens: number;
  /** Input tokens, padding excluded (for throughput). */
  readonly inputTokens: number;
}

/**
 * Runs the micro-batches of one optimizer step and sums their gradients. Every micro-batch is
 * weighted by 1 / (target tokens of the whole step), so the sum is the gradient of the step's mean
 * token loss whatever the split (averaging per-micro-batch means instead would weight tokens
 * unequally when micro-batches hold different numbers of targets). Micro-batch `a` of step
 * `step` draws its dropout seed from `rng.split('dropout-<step>-<a>')`, so a resumed run draws the
 * same masks.
 */
export async function accumulateGradients(
  engine: TrainingEngine,
  micro: readonly (readonly PackedRow[])[],
  trainable: ReadonlyMap<string, Float32Array>,
  rng: SeededRandom,
  step: number,
): Promise<AccumulatedStep> {
  let targetTokens = 0;
  let inputTokens = 0;
  for (const rows of micro) {
    for (const r of rows) {
      targetTokens += r.targetTokens;
      for (const s of r.segmentIds) if (s !== 0) inputTokens++;
    }
  }
  let loss = 0;
  let grads: Map<string, Float32Array> | undefined;
  for (const [a, rows] of micro.entries()) {
    const dropoutSeed = rng.split(`dropout-${step}-${a}`).nextUint32();
    const r = await engine.step(toTrainingBatch(rows), 1 / targetTokens, trainable, dropoutSeed);
    loss += r.loss;
    if (grads === undefined) {
      grads = r.grads;
      continue;
    }
    for (const [name, g] of r.grads) {
      const acc = grads.get(name);
      if (acc === undefined)
        throw new Error(`engine returned a gradient for unknown tensor "${name}"`);
      for (let i = 0; i < g.length; i++) acc[i] = (acc[i] as number) + (g[i] as number);
    }
  }
  if (grads === undefined) throw new Error(`step ${step + 1} has no micro-batches`);
  return { loss, grads, targetTokens, inputTokens };
}
