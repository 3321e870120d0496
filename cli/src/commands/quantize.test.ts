import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runLathe } from '../../test/run-lathe.js';

const MODEL = join(REPO_ROOT, '../shared/models/stories260K');
const missing = existsSync(MODEL) ? '' : `shared model not found at ${MODEL}`;
if (missing !== '') console.warn(`skipping lathe quantize tests: ${missing}`);

interface JsonReport {
  scheme: string;
  block_size: number | null;
  double_quant: boolean;
  bytes_before: number;
  bytes_after: number;
  bits_per_quantized_parameter: number;
  kept_tensors: string[];
  tensors: {
    name: string;
    snr_db: number;
    rmse: number;
    max_abs_error: number;
    bits_per_parameter: number;
    bytes_before: number;
    bytes_after: number;
  }[];
}

describe.skipIf(missing !== '')('lathe quantize', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const temp = async (): Promise<string> => {
    const d = await mkdtemp(join(tmpdir(), 'lathe-quantize-'));
    dirs.push(d);
    return d;
  };

  it('writes a bnb-4bit model and a JSON quality report; refuses to quantize it again', async () => {
    const out = join(await temp(), 'nf4');
    const r = await runLathe([
      'quantize',
      '--model',
      MODEL,
      '--scheme',
      'nf4',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as JsonReport;
    expect(report).toMatchObject({ scheme: 'nf4', block_size: 64, double_quant: true });
    expect(report.tensors).toHaveLength(35);
    for (const t of report.tensors) {
      expect(t.snr_db, t.name).toBeGreaterThan(15);
      expect(t.max_abs_error).toBeGreaterThanOrEqual(t.rmse);
      // 4 bits + 8 per 64 absmax, plus ~1.3 KB of maps and state per tensor (large for 2K weights).
      expect(t.bytes_after).toBeLessThan(t.bytes_before / 3);
    }
    expect(report.bits_per_quantized_parameter).toBeGreaterThan(4.1);
    expect(report.bits_per_quantized_parameter).toBeLessThan(6);
    expect(report.kept_tensors).toContain('model.embed_tokens.weight');
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as {
      quantization_config: { bnb_4bit_quant_type: string };
    };
    expect(config.quantization_config.bnb_4bit_quant_type).toBe('nf4');

    const again = await runLathe([
      'quantize',
      '--model',
      out,
      '--scheme',
      'int8',
      '--out',
      join(out, 'x'),
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(
      /^lathe: model .*: is already quantized \(config.json has quantization_config "bitsandbytes" nf4\)/,
    );
  });

  it('prints a table in text mode, with int8 and fp4 without double quantization', async () => {
    const root = await temp();
    const int8 = await runLathe([
      'quantize',
      '--model',
      MODEL,
      '--scheme',
      'int8',
      '--out',
      join(root, 'i8'),
    ]);
    expect(int8.code, int8.stderr).toBe(0);
    expect(int8.stdout).toMatch(
      /^quantized 35 tensors \(int8 per-row absmax\); kept 12 in full precision/,
    );
    expect(int8.stdout).toMatch(
      /tensor\s+shape\s+rmse\s+max abs err\s+snr dB\s+bits\/param\s+bytes before\s+bytes after/,
    );
    const fp4 = await runLathe([
      'quantize',
      '--model',
      MODEL,
      '--scheme',
      'fp4',
      '--block-size',
      '128',
      '--no-double-quant',
      '--out',
      join(root, 'fp4'),
    ]);
    expect(fp4.code, fp4.stderr).toBe(0);
    expect(fp4.stdout).toContain('fp4, block 128, double quantization off');
  });

  it('refuses an unknown scheme or block size as a usage error', async () => {
    const out = join(await temp(), 'never');
    const scheme = await runLathe(['quantize', '--model', MODEL, '--scheme', 'q3', '--out', out]);
    expect(scheme.code).toBe(2);
    expect(scheme.stderr).toContain('--scheme must be one of nf4, fp4, int8, got "q3"');
    const block = await runLathe([
      'quantize',
      '--model',
      MODEL,
      '--scheme',
      'nf4',
      '--block-size',
      '48',
      '--out',
      out,
    ]);
    expect(block.code).toBe(2);
    expect(block.stderr).toContain(
      '--block-size must be one of 32, 64, 128, 256, 512, 1024, 2048, 4096, got 48',
    );
    const int8 = await runLathe([
      'quantize',
      '--model',
      MODEL,
      '--scheme',
      'int8',
      '--block-size',
      '64',
      '--out',
      out,
    ]);
    expect(int8.code).toBe(2);
    expect(int8.stderr).toContain('--block-size and --no-double-quant apply to nf4 and fp4 only');
    // On a copy: should the check ever regress, the shared model must not be overwritten.
    const copy = join(await temp(), 'copy');
    await cp(MODEL, copy, { recursive: true });
    const same = await runLathe([
      'quantize',
      '--model',
      copy,
      '--scheme',
      'nf4',
      '--out',
      `${copy}/`,
    ]);
    expect(same.code).toBe(1);
    expect(same.stderr).toContain('is the model directory itself');
    expect(existsSync(out)).toBe(false);
  });
});
