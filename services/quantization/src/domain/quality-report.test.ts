import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import {
  SeededRandom,
  createQuantConfig,
  dequantizeTensor,
  quantizeModelDir,
  quantizeTensor,
  writeSafetensors,
} from '@lathe/llm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelTensors, qualityReportOf } from './quality-report.js';

// A two-tensor model: one projection the library quantizes, one norm it keeps.
describe('qualityReportOf', () => {
  let dir: string;
  const random = SeededRandom.fromSeed(7);
  const proj = { shape: [48, 80], data: random.uniformArray(48 * 80, -0.2, 0.2) };
  const norm = { shape: [80], data: random.uniformArray(80, 0.5, 1.5) };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lathe-quality-report-'));
    await writeFile(join(dir, 'config.json'), '{"model_type": "llama"}');
    await writeSafetensors(
      join(dir, 'model.safetensors'),
      new Map([
        ['model.norm.weight', norm],
        ['model.layers.0.self_attn.q_proj.weight', proj],
      ]),
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('lists every tensor in model order with its measured or exact figures', async () => {
    const config = createQuantConfig({ scheme: 'nf4', blockSize: 64, doubleQuant: true });
    const library = await quantizeModelDir(dir, join(dir, 'out'), config);
    const tensors = await modelTensors(dir);
    expect(tensors.map((t) => [t.name, t.bytes])).toEqual([
      ['model.norm.weight', 80 * 4],
      ['model.layers.0.self_attn.q_proj.weight', 48 * 80 * 4],
    ]);
    const { report, figures } = qualityReportOf('job-1', config, tensors, library);

    // Independent figures for the projection: quantize and dequantize it here, in memory.
    const restored = dequantizeTensor(quantizeTensor('q', proj, config)).data;
    let sq = 0;
    let maxAbs = 0;
    let signal = 0;
    for (let i = 0; i < proj.data.length; i++) {
      const d = proj.data[i]! - restored[i]!;
      sq += d * d;
      signal += proj.data[i]! * proj.data[i]!;
      maxAbs = Math.max(maxAbs, Math.abs(d));
    }
    const rmse = Math.sqrt(sq / proj.data.length);
    const snr = 10 * Math.log10(signal / sq);

    expect(report.jobId).toBe('job-1');
    expect(report.tensors.map((t) => [t.name, t.quantized])).toEqual([
      ['model.norm.weight', false],
      ['model.layers.0.self_attn.q_proj.weight', true],
    ]);
    expect(report.tensors[0]).toMatchObject({
      shape: [80],
      rmse: 0,
      maxAbsError: 0,
      snrDb: Number.POSITIVE_INFINITY,
      bitsPerParameter: 32,
      bytesBefore: 320,
      bytesAfter: 320,
    });
    const q = report.tensors[1]!;
    expect(q.shape).toEqual([48, 80]);
    expect(q.rmse).toBeCloseTo(rmse, 7);
    expect(q.maxAbsError).toBeCloseTo(maxAbs, 7);
    expect(q.snrDb).toBeCloseTo(snr, 4);
    // NF4 with double quantization: 4-bit codes and an 8-bit absmax per 64 weights, plus the
    // fixed maps and quant state (which dominate at this size: 3840 weights).
    expect(q.bytesAfter).toBeGreaterThan(3840 / 2 + 3840 / 64);
    expect(q.bytesAfter).toBeLessThan(3840 / 2 + 3840 / 64 + 2048);
    expect(q.bitsPerParameter).toBeCloseTo((q.bytesAfter * 8) / 3840, 12);
    // Whole model: one quantized tensor, so the model's error is that tensor's.
    expect(report.rmse).toBeCloseTo(rmse, 7);
    expect(report.minSnrDb).toBeCloseTo(snr, 4);
    expect(figures.bytesBefore).toBe(320 + 48 * 80 * 4);
    expect(figures.bytesAfter).toBe(320 + q.bytesAfter);
    expect(figures.bitsPerParameter).toBeCloseTo((figures.bytesAfter * 8) / (80 + 48 * 80), 12);
    expect(report.spec?.blockSize).toBe(64);
  });
});
