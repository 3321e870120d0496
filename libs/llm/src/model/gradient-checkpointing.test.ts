import { describe, expect, it } from 'vitest';
import { createLoraConfig } from '../peft/lora-config.js';
import {
  CHECKPOINT_POLICIES,
  type CheckpointPolicy,
  type EngineMethod,
} from '../train/training-engine.js';
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
async function compare(model: LlamaModel, checkpointPolicy: CheckpointPolicy): Promise<number> {
  const plain: EngineMethod = { method: 'lora', lora };
  const session = { intraOpThreads: 1 };
  const [kept, recomputed] = await Promise.all([
    createLlamaEngine(model, plain, { session }),
    createLlamaEngine(
      model,
      { ...plain, gradientCheckpointing: true, checkpointPolicy },
      { session },
    ),
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
  it.each(CHECKPOINT_POLICIES)(
    'gives the loss and LoRA gradients of the graph that keeps the activations (fp32 base, %s)',
    async (policy) => {
      expect(await compare(randomModel(), policy)).toBe(2 * 2 * 7 * 2);
    },
  );

  it.each(CHECKPOINT_POLICIES)('does the same on a 4-bit base (QLoRA, %s)', async (policy) => {
    expect(await compare(quantizeProjections(randomModel(), {}), policy)).toBe(2 * 2 * 7 * 2);
  });

  /** Distinct forward tensors the backward reads. */
  const readBack = (layers: number, method: Partial<EngineMethod>): number => {
    const g = buildCausalLmGraph(
      randomModel(layers),
      { method: 'lora', lora, ...method },
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
  /** What one more decoder layer adds to {@link readBack}. */
  const perLayer = (method: Partial<EngineMethod>): number =>
    (readBack(4, method) - readBack(2, method)) / 2;

  it('leaves the backward reading one forward tensor per decoder layer with recompute-all: its input', () => {
    expect(perLayer({ gradientCheckpointing: true, checkpointPolicy: 'recompute-all' })).toBe(1);
    expect(perLayer({ gradientCheckpointing: false })).toBeGreaterThan(20);
  });

  it('keeps what each policy names: q/k/v, the residual after attention and LoRA x·Aᵀ (keep-qkv); gate and up too (keep-projections)', () => {
    // keep-qkv: the layer input, q, k, v, the residual after attention, 7 adapters' x·Aᵀ.
    expect(perLayer({ gradientCheckpointing: true, checkpointPolicy: 'keep-qkv' })).toBe(
      1 + 3 + 1 + 7,
    );
    // keep-projections adds gate and up (o_proj's and down_proj's outputs are read by no rule).
    expect(perLayer({ gradientCheckpointing: true, checkpointPolicy: 'keep-projections' })).toBe(
      1 + 3 + 1 + 7 + 2,
    );
    expect(perLayer({ gradientCheckpointing: true })).toBe(
      perLayer({ gradientCheckpointing: true, checkpointPolicy: 'keep-qkv' }),
    );
  });
});
