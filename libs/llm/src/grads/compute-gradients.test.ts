import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadLlamaModel,
  parameterShapes,
  PROJECTIONS,
  type LlamaModel,
} from '../model/llama-model.js';
import { parseLlamaConfig } from '../config/llama-config.js';
import { writeSafetensors } from '../safetensors/write-safetensors.js';
import { SeededRandom } from '../optim/seeded-random.js';
import { saveLoraAdapter, type LoraAdapter } from '../peft/adapter-files.js';
import { createLoraConfig } from '../peft/lora-config.js';
import { initLoraTensors } from '../peft/lora-init.js';
import { readSafetensors } from '../safetensors/read-safetensors.js';
import { relativeError, runTorchReference, torchUnavailable } from '../../test/torch-reference.js';
import { computeGradients } from './compute-gradients.js';
import { readTokenBatch } from './token-batch.js';

const stories = resolve(import.meta.dirname, '../../../../../shared/models/stories260K');
const skip = existsSync(stories) ? torchUnavailable() : `${stories} is absent`;
if (skip) console.warn(`skipping gradient checks against PyTorch: ${skip}`);

// Stated tolerance (DESIGN.md): fp32 gradients within 1e-4 relative (‖Δ‖/‖ref‖) of PyTorch.
const TOLERANCE = 1e-4;

describe.skipIf(skip !== '')('computeGradients matches PyTorch on stories260K', () => {
  let dir: string;
  let model: LlamaModel;
  const tokens = (): string => join(dir, 'tokens.json');
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lathe-grads-'));
    model = await loadLlamaModel(stories);
    // Two ragged rows (the second is right-padded), real story tokens plus random ones.
    const rng = SeededRandom.fromSeed(5);
    const row = (n: number): number[] => [
      1,
      ...Array.from({ length: n - 1 }, () => 3 + rng.nextInt(509)),
    ];
    await writeFile(
      tokens(),
      JSON.stringify([row(24), [1, 403, 407, 261, 378, 432, 383, 286, 261, 376]]),
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function compare(
    adapter: LoraAdapter | undefined,
    adapterDir: string | undefined,
    on: { model: LlamaModel; dir: string } = { model, dir: stories },
  ): Promise<void> {
    const batch = await readTokenBatch(tokens(), on.model.config.vocabSize);
    const ours = await computeGradients(on.model, batch, {
      adapter,
      session: { intraOpThreads: 1 },
    });
    const out = join(dir, `ref-${adapter ? 'lora' : 'full'}.safetensors`);
    runTorchReference({ model: on.dir, adapter: adapterDir, tokens: tokens(), out });
    const ref = await readSafetensors(out);
    expect(ours.tokenCount).toBe(Number(ref.metadata['tokens']));
    expect(
      Math.abs(ours.loss - Number(ref.metadata['loss'])) / Number(ref.metadata['loss']),
    ).toBeLessThan(1e-5);
    expect([...ours.grads.keys()].sort()).toEqual([...ref.tensors.keys()].sort());
    let worst = 0;
    for (const [name, grad] of ours.grads) {
      const expected = ref.tensors.get(name);
      expect(expected?.shape, name).toEqual(grad.shape);
      const err = relativeError(grad.data, expected?.data ?? new Float32Array());
      expect(err, `${name}: relative error ${err}`).toBeLessThan(TOLERANCE);
      worst = Math.max(worst, err);
    }
    console.info(
      `${adapter ? 'LoRA' : 'full'}: loss ${ours.loss}, ${ours.grads.size} gradients, worst relative error ${worst.toExponential(2)}`,
    );
  }

  it('LoRA on all seven projections with non-zero B, rsLoRA scaling', async () => {
    const lora = createLoraConfig({
      r: 4,
      alpha: 8,
      targetModules: [...PROJECTIONS],
      useRslora: true,
    });
    const tensors = initLoraTensors(model.config, lora, SeededRandom.fromSeed(1));
    for (const [name, t] of tensors) {
      if (name.includes('lora_B'))
        t.data.set(SeededRandom.fromSeed(2).split(name).uniformArray(t.data.length, -0.2, 0.2));
    }
    const adapter = { config: lora, baseModel: stories, tensors };
    const adapterDir = join(dir, 'adapter');
    await saveLoraAdapter(adapterDir, adapter);
    await compare(adapter, adapterDir);
  });

  it('full fine-tuning: every weight, the tied embedding summing both uses', async () => {
    await compare(undefined, undefined);
  });

  it('Qwen2 layout (q/k/v biases, untied head, GQA 4:2, rope_theta 1e6): full and LoRA', async () => {
    const qwenDir = join(dir, 'qwen2');
    const raw = {
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      hidden_size: 32,
      intermediate_size: 48,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      vocab_size: 512,
      max_position_embeddings: 64,
      rope_theta: 1000000,
      rms_norm_eps: 1e-6,
      tie_word_embeddings: false,
    };
    const config = parseLlamaConfig(raw, 'qwen2 config');
    const rng = SeededRandom.fromSeed(9);
    const weights = new Map(
      [...parameterShapes(config)].map(([name, shape]) => {
        const n = shape.reduce((a, d) => a * d, 1);
        return [name, { shape, data: rng.split(name).uniformArray(n, -0.3, 0.3) }] as const;
      }),
    );
    expect([...weights.keys()]).toContain('model.layers.1.self_attn.k_proj.bias');
    await mkdir(qwenDir);
    await writeFile(join(qwenDir, 'config.json'), JSON.stringify(raw));
    await writeSafetensors(join(qwenDir, 'model.safetensors'), weights);
    const qwen = await loadLlamaModel(qwenDir);
    await compare(undefined, undefined, { model: qwen, dir: qwenDir });
    const lora = createLoraConfig({
      r: 2,
      alpha: 4,
      targetModules: ['q_proj', 'k_proj', 'v_proj', 'down_proj'],
    });
    const tensors = initLoraTensors(qwen.config, lora, SeededRandom.fromSeed(1));
    for (const [name, t] of tensors) {
      if (name.includes('lora_B'))
        t.data.set(SeededRandom.fromSeed(3).split(name).uniformArray(t.data.length, -0.2, 0.2));
    }
    const adapter = { config: lora, baseModel: qwenDir, tensors };
    await saveLoraAdapter(join(qwenDir, 'adapter'), adapter);
    await compare(adapter, join(qwenDir, 'adapter'), { model: qwen, dir: qwenDir });
  });
});
