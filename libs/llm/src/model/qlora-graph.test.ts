import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GraphSession, readModelOps, type GraphNode } from '@lathe/graph';
import { describe, expect, it } from 'vitest';
import { createLoraConfig, type LoraConfig } from '../peft/lora-config.js';
import { loadFourBitModel } from '../quant/load-four-bit-model.js';
import { dequantizeTensor } from '../quant/quantized-tensor.js';
import { openFromModelFiles } from './external-weights.js';
import { createLlamaEngine, engineSessionOptions } from './llama-engine.js';
import type { FourBitKernel } from './decoder-weights.js';
import type { LlamaModel } from './llama-model.js';
import { buildCausalLmGraph } from './training-graph.js';
import { quantizeProjections } from './test-four-bit.js';
import { adapters, batch, randomModel, relativeError } from './test-llama.js';

const stories = resolve(import.meta.dirname, '../../../../../shared/models/stories260K');

/** The same model with every 4-bit weight restored to fp32: LoRA's base for the comparison. */
function dequantized(model: LlamaModel): LlamaModel {
  const weights = new Map(model.weights);
  for (const [name, q] of model.quantized ?? []) weights.set(name, dequantizeTensor(q));
  return { config: model.config, weights };
}

// Stated tolerance: the 4-bit graph restores exactly the dequantized NF4 values (bit-identical,
// see dequantize-in-graph.test.ts; MatMulBnb4 decodes with the same table), so the two graphs
// multiply the same numbers; only onnxruntime may sum a product in another order when B is a
// constant (prepacked) rather than computed, or inside MatMulBnb4's kernel.
// Loss within 1e-6 relative, every gradient within 1e-5 relative (‖Δ‖/‖ref‖).
const LOSS_TOLERANCE = 1e-6;
const GRAD_TOLERANCE = 1e-5;

async function compare(
  model: LlamaModel,
  lora: LoraConfig,
  fourBitKernel: FourBitKernel,
): Promise<number> {
  const reference = dequantized(model);
  const session = { intraOpThreads: 1 };
  const [four, fp32] = await Promise.all([
    createLlamaEngine(model, { method: 'lora', lora, fourBitKernel }, { session }),
    createLlamaEngine(reference, { method: 'lora', lora }, { session }),
  ]);
  let compared = 0;
  try {
    const trainable = adapters(model, lora);
    for (const seed of [1, 2]) {
      const b = batch(model.config.vocabSize, seed);
      const weight = 1 / b.targetTokens;
      const got = await four.step(b, weight, trainable, 0);
      const want = await fp32.step(b, weight, trainable, 0);
      expect(Math.abs(got.loss - want.loss) / Math.abs(want.loss)).toBeLessThan(LOSS_TOLERANCE);
      for (const [name, ref] of want.grads) {
        expect(relativeError(got.grads.get(name)!, ref), name).toBeLessThan(GRAD_TOLERANCE);
        compared++;
      }
      const evalGot = await four.lossSum(b, trainable);
      const evalWant = await fp32.lossSum(b, trainable);
      expect(Math.abs(evalGot - evalWant) / evalWant).toBeLessThan(LOSS_TOLERANCE);
    }
  } finally {
    await Promise.all([four.close(), fp32.close()]);
  }
  return compared;
}

const KERNELS: readonly FourBitKernel[] = ['matmul-bnb4', 'dequantize'];

describe('QLoRA training graph (4-bit base: MatMulBnb4, or dequantized in the graph)', () => {
  const lora = createLoraConfig({
    r: 4,
    alpha: 8,
    targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  });

  it.each(KERNELS)(
    'gives the loss and LoRA gradients of a LoRA graph on the dequantized NF4 weights (random model, %s)',
    async (kernel) => {
      const model = quantizeProjections(randomModel(), {});
      expect(await compare(model, lora, kernel)).toBe(2 * 2 * 7 * 2);
    },
  );

  it.each(KERNELS)(
    'does the same with FP4, block 32, no double quantization (%s)',
    async (kernel) => {
      const model = quantizeProjections(randomModel(), {
        scheme: 'fp4',
        blockSize: 32,
        doubleQuant: false,
      });
      expect(await compare(model, lora, kernel)).toBe(2 * 2 * 7 * 2);
    },
  );

  it.skipIf(!existsSync(stories))(
    'gives the loss and LoRA gradients of LoRA on dequantized NF4 for stories260K (skipped when ../shared is absent)',
    async () => {
      const { model } = await loadFourBitModel(stories);
      expect(model.quantized.size).toBe(5 * 7);
      expect(await compare(model, lora, 'matmul-bnb4')).toBe(2 * 5 * 7 * 2);
    },
  );

  it('multiplies by each 4-bit weight with MatMulBnb4 and dequantizes it once, for the backward', () => {
    const model = quantizeProjections(randomModel(), {});
    const graph = buildCausalLmGraph(model, { method: 'lora', lora }, true);
    const nodes = graph.builder.nodes;
    const products = nodes.filter((n) => n.opType === 'MatMulBnb4');
    expect(products).toHaveLength(2 * 7);
    expect(products.every((n) => n.inputs[1]?.name.endsWith('.nf4_packed'))).toBe(true);
    // No forward dequantization; one in the backward per projection (dY·W), except layer 0's
    // q/k/v, whose input needs no gradient.
    expect(pairGathers(nodes)).toBe(0);
    const inits = graph.builder.initializers.map((i) => i.tensor.name);
    expect(
      inits.filter((n) => n.endsWith('.nf4_pair_table')),
      'no unused tables',
    ).toEqual([]);
    expect(
      nodes.filter((n) => n.opType === 'Gather' && n.inputs[1]?.producer?.opType === 'Cast'),
    ).toHaveLength(2 * 7 - 3);
  });

  it('holds the 4-bit weights as uint8 codes in the graph and dequantizes each twice with the dequantize kernel (forward, backward)', () => {
    const model = quantizeProjections(randomModel(), {});
    const graph = buildCausalLmGraph(
      model,
      { method: 'lora', lora, fourBitKernel: 'dequantize' },
      true,
    );
    const inits = graph.builder.initializers;
    const packed = inits.filter((i) => i.tensor.name.endsWith('.nf4_packed'));
    expect(packed).toHaveLength(2 * 7);
    expect(packed.every((i) => i.dtype === 'uint8')).toBe(true);
    // No fp32 projection weight is an initializer.
    expect(inits.some((i) => /_proj\.weight$/.test(i.tensor.name))).toBe(false);
    // One dequantization per projection in the forward, one more in the backward, except layer 0's
    // q/k/v: their input (the normed embedding) needs no gradient, so nothing reads them again.
    expect(pairGathers(graph.builder.nodes)).toBe(2 * 7 + (2 * 7 - 3));
  });

  it('refuses full fine-tuning of a 4-bit base', () => {
    const model = quantizeProjections(randomModel(), {});
    expect(() => buildCausalLmGraph(model, { method: 'full' }, true)).toThrow(
      /full fine-tuning needs fp32 weights/,
    );
  });

  it('keeps the session 4-bit with MatMulBnb4: the products and the backward dequantizations stay', async () => {
    const model = quantizeProjections(randomModel(), {});
    const graph = buildCausalLmGraph(model, { method: 'lora', lora }, true);
    const { ops, initializers } = await optimizedOps(model, graph);
    expect(ops.filter((op) => op === 'MatMulBnb4')).toHaveLength(2 * 7);
    expect(ops.filter((op) => op === 'Gather').length).toBeGreaterThanOrEqual(2 * 7 - 3);
    expect(initializers.filter((n) => n.endsWith('.nf4_packed'))).toHaveLength(2 * 7);
    expect(initializers.some((n) => /_proj\.weight$/.test(n))).toBe(false);
  });

  it('keeps both dequantizations in the session with the dequantize kernel: neither folded to fp32 nor merged', async () => {
    const model = quantizeProjections(randomModel(), {});
    const graph = buildCausalLmGraph(
      model,
      { method: 'lora', lora, fourBitKernel: 'dequantize' },
      true,
    );
    const { ops, initializers } = await optimizedOps(model, graph);
    // Every dequantization is still there (none folded into an fp32 initializer, the
    // backward's copies not merged into the forward's), reading the packed bytes.
    expect(ops.filter((op) => op === 'Gather').length).toBeGreaterThanOrEqual(2 * 7 + 2 * 7 - 3);
    expect(initializers.filter((n) => n.endsWith('.nf4_packed'))).toHaveLength(2 * 7);
    expect(initializers.some((n) => /_proj\.weight$/.test(n))).toBe(false);
  });
});

/** The ops and initializers of a graph as onnxruntime's optimizers leave it in an engine session. */
async function optimizedOps(
  model: LlamaModel,
  graph: ReturnType<typeof buildCausalLmGraph>,
): Promise<Awaited<ReturnType<typeof readModelOps>>> {
  const dir = await mkdtemp(join(tmpdir(), 'lathe-qlora-graph-'));
  try {
    const path = join(dir, 'optimized.onnx');
    await openFromModelFiles(graph.builder, graph.external, async (modelPath) => {
      const session = engineSessionOptions(model, { intraOpThreads: 1 });
      const s = await GraphSession.create(modelPath, { ...session, optimizedModelPath: path });
      await s.close();
    });
    return await readModelOps(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function pairGathers(nodes: readonly GraphNode[]): number {
  return nodes.filter((n) => n.opType === 'Gather' && n.inputs[0]?.name.endsWith('.nf4_pair_table'))
    .length;
}
