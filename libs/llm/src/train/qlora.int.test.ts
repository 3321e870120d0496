import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAPTER_CONFIG_FILE, loadLoraAdapter } from '../peft/adapter-files.js';
import { createQuantConfig } from '../quant/quant-config.js';
import { quantizeModelDir } from '../quant/quantize-model-dir.js';
import { evaluateSft } from './evaluate-sft.js';
import type { TrainOptions } from './train-config.js';
import { train } from './trainer.js';

// QLoRA on the real stories260K and the Alpaca sample: the 4-bit training graph in a real
// onnxruntime session, end to end through train().
const SHARED = fileURLToPath(new URL('../../../../../shared', import.meta.url));
const MODEL = join(SHARED, 'models/stories260K');
const DATA = join(SHARED, 'data/sft/alpaca_tiny.json');
const missing =
  existsSync(MODEL) && existsSync(DATA) ? '' : `shared model/data not found under ${SHARED}`;
if (missing !== '') console.warn(`skipping QLoRA training tests: ${missing}`);

const SEQ_LEN = 128;

describe.skipIf(missing !== '')('train --method qlora on stories260K + alpaca_tiny', () => {
  let dir: string;
  let trainPath: string;
  let evalPath: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lathe-qlora-'));
    // Held out: the last 20 of the 100 records; trained on the first 80.
    const records = JSON.parse(await readFile(DATA, 'utf8')) as unknown[];
    trainPath = join(dir, 'train.json');
    evalPath = join(dir, 'eval.json');
    await writeFile(trainPath, JSON.stringify(records.slice(0, 80)));
    await writeFile(evalPath, JSON.stringify(records.slice(80)));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const options = (out: string, extra: Partial<TrainOptions> = {}): TrainOptions => ({
    method: 'qlora',
    modelDir: MODEL,
    dataPath: trainPath,
    evalDataPath: evalPath,
    outDir: out,
    epochs: 3,
    batchSize: 4,
    seqLen: SEQ_LEN,
    lr: 3e-3,
    warmupSteps: 2,
    lora: {
      r: 8,
      alpha: 16,
      targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    },
    checkpointEvery: 0,
    ...extra,
  });

  it('lowers held-out loss, and the adapter on the fp32 base is within 2% of it on the NF4 base', async () => {
    const out = join(dir, 'run');
    const result = await train(options(out));
    expect(result.status).toBe('completed');
    const before = result.initialEvalLoss!;
    const onNf4 = result.evalLoss!;
    // The same held-out rows, evaluated apart from the run: the adapter on the NF4 base and on
    // the fp32 base it was quantized from.
    const evalOptions = { dataPath: evalPath, seqLen: SEQ_LEN, batchSize: 4, adapterDir: out };
    const nf4 = await evaluateSft({ ...evalOptions, modelDir: MODEL, quant: {} });
    const fp32 = await evaluateSft({ ...evalOptions, modelDir: MODEL });
    const baseFp32 = await evaluateSft({ ...evalOptions, adapterDir: undefined, modelDir: MODEL });
    console.log(
      `QLoRA held-out loss: NF4 base ${before.toFixed(4)} -> ${onNf4.toFixed(4)} after ` +
        `${result.step} steps; adapter on fp32 base ${fp32.loss.toFixed(4)} ` +
        `(${(((fp32.loss - nf4.loss) / nf4.loss) * 100).toFixed(2)}% vs NF4); ` +
        `fp32 base without adapter ${baseFp32.loss.toFixed(4)}`,
    );
    expect(onNf4).toBeLessThan(before * 0.9);
    expect(nf4.loss).toBeCloseTo(onNf4, 5);
    expect(Math.abs(fp32.loss - nf4.loss) / nf4.loss).toBeLessThan(0.02);
    expect(fp32.loss).toBeLessThan(baseFp32.loss);

    const adapterConfig = JSON.parse(await readFile(join(out, ADAPTER_CONFIG_FILE), 'utf8')) as {
      base_model_name_or_path: string;
      peft_type: string;
    };
    expect(adapterConfig).toMatchObject({ peft_type: 'LORA', base_model_name_or_path: MODEL });
    const summary = JSON.parse(await readFile(join(out, 'training_summary.json'), 'utf8')) as {
      method: string;
      quantization: Record<string, unknown>;
    };
    expect(summary.method).toBe('qlora');
    expect(summary.quantization).toMatchObject({
      scheme: 'nf4',
      blockSize: 64,
      doubleQuant: true,
      source: 'quantized-on-load',
    });
    expect(await readFile(join(out, 'README.md'), 'utf8')).toMatch(/NF4, block size 64/);
  });

  it('trains on an already-quantized bnb-4bit directory as stored, naming the fp32 base given', async () => {
    const nf4Dir = join(dir, 'nf4');
    await quantizeModelDir(MODEL, nf4Dir, createQuantConfig({}));
    const fromDir = await train(
      options(join(dir, 'from-dir'), { modelDir: nf4Dir, baseModelName: MODEL, maxSteps: 3 }),
    );
    const onLoad = await train(options(join(dir, 'on-load'), { maxSteps: 3 }));
    // Quantizing on load and reading Lathe's bnb-4bit directory give the same 4-bit weights.
    expect(fromDir.finalLoss).toBe(onLoad.finalLoss);
    expect(fromDir.evalLoss).toBe(onLoad.evalLoss);
    const adapter = await loadLoraAdapter(join(dir, 'from-dir'));
    expect(adapter.baseModel).toBe(MODEL);
    const summary = JSON.parse(
      await readFile(join(dir, 'from-dir', 'training_summary.json'), 'utf8'),
    ) as { quantization: { source: string } };
    expect(summary.quantization.source).toBe('bnb-4bit');

    // LoRA on the same directory dequantizes it: the same loss as QLoRA (fp32 base = dequant(q)).
    const lora = await train(
      options(join(dir, 'lora-on-nf4'), { method: 'lora', modelDir: nf4Dir, maxSteps: 3 }),
    );
    expect(Math.abs(lora.finalLoss - fromDir.finalLoss) / fromDir.finalLoss).toBeLessThan(1e-5);

    // An fp4 directory is not what qlora asks for by default.
    const fp4Dir = join(dir, 'fp4');
    await quantizeModelDir(MODEL, fp4Dir, createQuantConfig({ scheme: 'fp4' }));
    await expect(train(options(join(dir, 'fp4-run'), { modelDir: fp4Dir }))).rejects.toThrow(
      /is stored with scheme fp4 .*asked for nf4; pass --quant-scheme fp4/,
    );
    const int8Dir = join(dir, 'int8');
    await quantizeModelDir(MODEL, int8Dir, createQuantConfig({ scheme: 'int8' }));
    await expect(train(options(join(dir, 'int8-run'), { modelDir: int8Dir }))).rejects.toThrow(
      /is 8-bit \(LLM.int8\(\)\) quantized; qlora needs a 4-bit base/,
    );
    await expect(
      train(options(join(dir, 'full-run'), { method: 'full', lora: undefined, modelDir: nf4Dir })),
    ).rejects.toThrow(/full fine-tuning needs a full-precision model/);
  });

  it('resumes a cancelled QLoRA run to the same adapter as an uninterrupted run', async () => {
    const extra = { maxSteps: 4, checkpointEvery: 2, evalDataPath: undefined };
    const whole = join(dir, 'whole');
    const full = await train(options(whole, extra));
    const cut = join(dir, 'cut');
    const controller = new AbortController();
    const first = await train(options(cut, extra), {
      signal: controller.signal,
      onProgress: (e) => {
        if (e.type === 'step' && e.step === 2) controller.abort();
      },
    });
    expect(first.status).toBe('cancelled');
    const resumed = await train(options(cut, { ...extra, resumeFrom: cut }));
    expect(resumed.finalLoss).toBe(full.finalLoss);
    const a = await loadLoraAdapter(whole);
    const b = await loadLoraAdapter(cut);
    for (const [name, t] of a.tensors) expect(b.tensors.get(name)?.data, name).toEqual(t.data);
    // A different quantization is a different run: resuming with it is refused.
    await expect(
      train(options(cut, { ...extra, resumeFrom: cut, quant: { blockSize: 128 } })),
    ).rejects.toThrow(/cannot resume: quant was/);
  });
});
