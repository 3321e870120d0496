import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SeededRandom,
  createQuantConfig,
  dequantizeTensor,
  quantErrorStats,
  quantizeTensor,
  writeSafetensors,
  type Float32Tensor,
} from '@lathe/llm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QuantizeThreadError, quantizeInThread } from './quantize-in-thread.js';

const config = createQuantConfig({ scheme: 'nf4', doubleQuant: true });
const LAYERS = 4;
// [1024, 2048]: about 0.3 s of synchronous quantization each on this machine.
const SHAPE = [1024, 2048];

async function writeModel(dir: string, tensors: Map<string, Float32Tensor>): Promise<void> {
  await writeFile(join(dir, 'config.json'), '{"model_type": "llama"}');
  await writeSafetensors(join(dir, 'model.safetensors'), tensors);
}

describe('quantizeInThread', () => {
  let root: string;
  let model: string;
  const random = SeededRandom.fromSeed(11);
  const tensors = new Map<string, Float32Tensor>();
  for (let i = 0; i < LAYERS; i++)
    tensors.set(`model.layers.${String(i)}.mlp.up_proj.weight`, {
      shape: SHAPE,
      data: random.uniformArray(SHAPE[0]! * SHAPE[1]!, -0.1, 0.1),
    });

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lathe-quantize-thread-'));
    model = join(root, 'model');
    await mkdir(model);
    await writeModel(model, tensors);
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('quantizes on a worker thread while the event loop keeps ticking', async () => {
    // What one tensor costs when done on this thread: the event loop would stall this long.
    const first = tensors.values().next().value!;
    const started = performance.now();
    quantErrorStats(first.data, dequantizeTensor(quantizeTensor('t', first, config)).data);
    const oneTensorMs = performance.now() - started;

    let last = performance.now();
    let longestGapMs = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      longestGapMs = Math.max(longestGapMs, now - last);
      last = now;
    }, 5);
    const seen: string[] = [];
    try {
      const report = await quantizeInThread(model, join(root, 'out'), config, {
        signal: new AbortController().signal,
        onTensor: (name) => seen.push(name),
      });
      expect(report.tensors.map((t) => t.name)).toEqual([...tensors.keys()]);
      expect(seen).toEqual([...tensors.keys()]);
    } finally {
      clearInterval(ticker);
    }
    // Done here, the run would block for about LAYERS x oneTensorMs in steps of oneTensorMs.
    expect(longestGapMs).toBeLessThan(oneTensorMs);
  }, 120_000);

  it('stops at once when aborted, rejecting with the reason', async () => {
    const controller = new AbortController();
    const seen: string[] = [];
    const run = quantizeInThread(model, join(root, 'aborted'), config, {
      signal: controller.signal,
      onTensor: (name) => {
        seen.push(name);
        controller.abort('cancelled');
      },
    });
    await expect(run).rejects.toBe('cancelled');
    expect(seen).toHaveLength(1);
  }, 120_000);

  it('fails with the library error class and the tensor name for NaN weights', async () => {
    const bad = join(root, 'nan');
    await mkdir(bad);
    const data = new Float32Array(64 * 64);
    data[100] = Number.NaN;
    await writeModel(
      bad,
      new Map([['model.layers.0.self_attn.o_proj.weight', { shape: [64, 64], data }]]),
    );
    const error: unknown = await quantizeInThread(bad, join(root, 'nan-out'), config, {
      signal: new AbortController().signal,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QuantizeThreadError);
    expect((error as QuantizeThreadError).errorName).toBe('QuantizationError');
    expect((error as Error).message).toMatch(/o_proj\.weight.*NaN/);
  }, 120_000);
});
