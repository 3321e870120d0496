import { describe, expect, it } from 'vitest';
import { createLoraConfig } from '../peft/lora-config.js';
import type { EngineMethod } from '../train/training-engine.js';
import { createLlamaEngine } from './llama-engine.js';
import type { LlamaModel } from './llama-model.js';
import { quantizeProjections } from './test-four-bit.js';
import { adapters, batch, randomModel, relativeError } from './test-llama.js';
import { SEQUENCE_LOG_PROBS_OUTPUT, buildCausalLmGraph } from './training-graph.js';

const lora = createLoraConfig({
  r: 4,
  alpha: 8,
  targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
});

// Stated tolerance: the recomputed layers run the same ops on the same values, so only the
// order onnxruntime sums in may differ: loss and every gradient within 1e-6 relative (‖Δ‖/‖ref‖).
const TOLERANCE = 1e-6;

/** Loss and LoRA gradients with and without checkpointing, compared; returns how many. */
async function compare(model: LlamaModel): Promise<number> {
  const plain: EngineMethod = { method: 'lora', lora };
  const session = { intraOpThreads: 1 };
  const [kept, recomputed] = await Promise.all([
    createLlamaEngine(model, plain, { session }),
    createLlamaEngine(model, { ...plain, gradientCheckpointing: true }, { session }),
  ]);
  let compared = 0;
  try {
    const trainable = adapters(model, lora);
    for (const seed of [1, 2]) {
      const b = batch(model.config.vocabSize, seed);
      const want = await kept.step(b, 1 / b.targetTokens, trainable, 0);
      const got = await recomputed.step(b, 1 / b.targetTokens, trainable, 0);
      expect(Math.abs(got.loss - want.loss) / Math.abs(want.loss)).toBeLessThan(TOLERANCE);
      for (const [name, ref] of want.grads) {
        expect(relativeError(got.grads.get(name)!, ref), name).toBeLessThan(TOLERANCE);
        compared++;
      }
    }
  } finally {
    await Promise.all([kept.close(), recomputed.close()]);
  }
  return compared;
}

describe('gradient checkpointing', () => {
  it('gives the loss and LoRA gradients of the graph that keeps the activations (fp32 base)', async () => {
    expect(await compare(randomModel())).toBe(2 * 2 * 7 * 2);
  });

  it('does the same on a 4-bit base (QLoRA)', async () => {
    expect(await compare(quantizeProjections(randomModel(), {}))).toBe(2 * 2 * 7 * 2);
  });

  it('leaves the backward reading one forward tensor per decoder layer: its input', () => {
    const method = { method: 'lora', lora } as const;
    /** Distinct forward tensors the backward reads. */
    const readBack = (layers: number, gradientCheckpointing: boolean): number => {
      const g = buildCausalLmGraph(
        randomModel(layers),
        { ...method, gradientCheckpointing },
        true,
      ).builder;
      // The forward ends with its last output; the backward follows.
      const end = g.outputs.find((o) => o.name === SEQUENCE_LOG_PROBS_OUTPUT)?.tensor.producer;
      if (!end) throw new Error('no forward output');
      const forward = g.nodes.slice(0, end.index + 1);
      const produced = new Set(forward.flatMap((n) => n.outputs.map((o) => o.name)));
      const read = g.nodes
        .slice(end.index + 1)
        .flatMap((n) => n.inputs)
        .filter((t) => t !== undefined && produced.has(t.name));
      return new Set(read.map((t) => t!.name)).size;
    };
    // Two more layers: two more layer inputs kept, against dozens of activations without.
    expect(readBack(4, true) - readBack(2, true)).toBe(2);
    expect(readBack(4, false) - readBack(2, false)).toBeGreaterThan(2 * 20);
  });
});
