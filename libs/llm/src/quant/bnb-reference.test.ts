import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createQuantConfig, type QuantOptions } from './quant-config.js';
import { quantizeModelDir } from './quantize-model-dir.js';
import { runReference, stories260kDir, torchUnavailable } from './reference-runner.js';
import { tempDir, writeRandomModel } from './test-models.js';

interface CheckReport {
  tensors: {
    name: string;
    entries: Record<string, { present: boolean; byte_mismatches?: number }>;
  }[];
  kept: { name: string; equal: boolean }[];
}

const noTorch = torchUnavailable();

/** Quantizes `source` under each option set and has the reference re-derive every stored byte. */
async function checkAgainstReference(
  source: string,
  variants: QuantOptions[],
): Promise<CheckReport[]> {
  const root = await tempDir('ref');
  const pairs: string[] = [];
  for (const [i, options] of variants.entries()) {
    const out = join(root, String(i));
    await quantizeModelDir(source, out, createQuantConfig(options));
    pairs.push(source, out);
  }
  return runReference<CheckReport[]>(['check', ...pairs]);
}

function expectBitExact(report: CheckReport, entriesPerTensor: number): void {
  expect(report.tensors.length).toBeGreaterThan(0);
  for (const t of report.tensors) {
    expect(Object.keys(t.entries).length, t.name).toBe(entriesPerTensor);
    for (const [key, e] of Object.entries(t.entries)) {
      expect({
        tensor: t.name,
        key,
        present: e.present,
        byte_mismatches: e.byte_mismatches,
      }).toEqual({
        tensor: t.name,
        key,
        present: true,
        byte_mismatches: 0,
      });
    }
  }
  for (const k of report.kept) expect(k, k.name).toEqual({ name: k.name, equal: true });
}

describe.skipIf(noTorch !== undefined)(
  'bit-exact against the independent bitsandbytes reference',
  () => {
    it('random tensors of awkward sizes: NF4/FP4, nested or not, blocks 32..4096, and int8', async () => {
      const dir = await tempDir('random');
      await writeRandomModel(dir);
      const variants: QuantOptions[] = [
        {},
        { scheme: 'fp4' },
        { scheme: 'nf4', doubleQuant: false, blockSize: 128 },
        { scheme: 'fp4', blockSize: 32 },
        { scheme: 'nf4', blockSize: 4096 },
        { scheme: 'int8' },
      ];
      const reports = await checkAgainstReference(dir, variants);
      // packed weight, absmax, quant_map, nested_absmax, nested_quant_map, quant_state
      expectBitExact(reports[0]!, 6);
      expectBitExact(reports[1]!, 6);
      expectBitExact(reports[2]!, 4);
      expectBitExact(reports[3]!, 6);
      expectBitExact(reports[4]!, 6);
      expectBitExact(reports[5]!, 2); // int8 codes and SCB
      expect(reports[0]!.tensors.map((t) => t.name).sort()).toEqual([
        'a.q_proj.weight',
        'b.up_proj.weight',
        'c.down_proj.weight',
        'd.o_proj.weight',
        'e.k_proj.weight',
        'f.v_proj.weight',
      ]);
      expect(reports[0]!.kept.map((k) => k.name).sort()).toEqual([
        'embed_tokens.weight',
        'norm.weight',
      ]);
    });

    it('stories260K: every projection of every layer, NF4 and FP4 with double quantization', async (ctx) => {
      const model = stories260kDir();
      if (model === undefined) return ctx.skip('../shared/models/stories260K is absent');
      const [nf4, fp4] = await checkAgainstReference(model, [{}, { scheme: 'fp4' }]);
      expect(nf4!.tensors.length).toBe(35); // 5 layers x 7 projections
      expectBitExact(nf4!, 6);
      expectBitExact(fp4!, 6);
    });
  },
);
