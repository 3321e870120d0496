import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, runLathe } from '../../test/run-lathe.js';
import { useTempDirs } from '../../test/temp-dirs.js';
import { UsageError } from '../usage-error.js';
import { parseTrainArgs } from './train.js';

const MODEL = join(REPO_ROOT, '../shared/models/stories260K');
const DATA = join(REPO_ROOT, '../shared/data/sft/alpaca_tiny.json');
const missing = existsSync(MODEL) && existsSync(DATA) ? '' : `shared model/data not found`;
if (missing !== '') console.warn(`skipping lathe train --method qlora runs: ${missing}`);

describe('lathe train --method qlora: flags', () => {
  it('documents the method and its quantization flags in --help', async () => {
    const r = await runLathe(['train', '--help']);
    expect(r.code).toBe(0);
    for (const flag of [
      '--method full|lora|qlora',
      '--quant-scheme nf4|fp4',
      '--quant-block-size N',
      '--no-double-quant',
      '--base-model NAME',
      '--gradient-checkpointing, --no-gradient-checkpointing',
      'MALLOC_ARENA_MAX=1',
    ]) {
      expect(r.stdout).toContain(flag);
    }
  });

  it('refuses quantization flags outside qlora and schemes qlora cannot hold, exit 2', async () => {
    const common = ['--model', 'm', '--data', 'd.json', '--out', 'o'];
    const lora = await runLathe(['train', '--method', 'lora', ...common, '--quant-scheme', 'nf4']);
    expect(lora.code).toBe(2);
    expect(lora.stderr).toMatch(
      /--quant-scheme, --quant-block-size and --no-double-quant apply to --method qlora/,
    );
    const int8 = await runLathe([
      'train',
      '--method',
      'qlora',
      ...common,
      '--quant-scheme',
      'int8',
    ]);
    expect(int8.code).toBe(2);
    expect(int8.stderr).toMatch(/--quant-scheme must be nf4 or fp4, got "int8"/);
  });
});

describe('lathe train: gradient checkpointing', () => {
  const common = ['--model', 'm', '--data', 'd.json', '--out', 'o'];
  const checkpointing = (...argv: string[]): boolean | undefined => {
    const parsed = parseTrainArgs([...argv, ...common]);
    if (parsed === 'help') throw new Error('parsed as --help');
    return parsed.options.gradientCheckpointing;
  };

  it('passes --gradient-checkpointing / --no-gradient-checkpointing to train() for every method', () => {
    for (const method of ['full', 'lora', 'qlora']) {
      expect(checkpointing('--method', method, '--gradient-checkpointing')).toBe(true);
      expect(checkpointing('--method', method, '--no-gradient-checkpointing')).toBe(false);
    }
  });

  it('passes --checkpoint-policy to train() and refuses an unknown one', () => {
    const parsed = parseTrainArgs([
      '--method',
      'qlora',
      '--checkpoint-policy',
      'recompute-all',
      ...common,
    ]);
    if (parsed === 'help') throw new Error('parsed as --help');
    expect(parsed.options.checkpointPolicy).toBe('recompute-all');
    expect(() =>
      parseTrainArgs(['--method', 'qlora', '--checkpoint-policy', 'all', ...common]),
    ).toThrow(/--checkpoint-policy must be keep-qkv, keep-projections, recompute-all, got "all"/);
  });

  it("leaves the choice to train()'s per-method default when neither is given", () => {
    expect(checkpointing('--method', 'qlora')).toBeUndefined();
  });

  it('refuses both at once, exit 2', async () => {
    expect(() =>
      checkpointing('--method', 'qlora', '--gradient-checkpointing', '--no-gradient-checkpointing'),
    ).toThrow(UsageError);
    const r = await runLathe([
      'train',
      '--method',
      'lora',
      ...common,
      '--gradient-checkpointing',
      '--no-gradient-checkpointing',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--gradient-checkpointing and --no-gradient-checkpointing contradict/);
  });
});

describe.skipIf(missing !== '')('lathe train --method qlora on stories260K', () => {
  const tempDir = useTempDirs('lathe-cli-qlora-');

  it('trains a PEFT adapter on the 4-bit base and records the quantization', async () => {
    const out = join(await tempDir(), 'out');
    const r = await runLathe([
      'train',
      '--method',
      'qlora',
      '--model',
      MODEL,
      '--data',
      DATA,
      '--out',
      out,
      '--max-steps',
      '2',
      '--seq-len',
      '64',
      '--batch-size',
      '2',
      '--quant-block-size',
      '128',
      '--lora-targets',
      'q_proj,v_proj,down_proj',
      '--progress',
      'none',
    ]);
    expect(r.stderr).toMatch(/done: 2 steps/);
    expect(r.code).toBe(0);
    const config = JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(config).toMatchObject({
      peft_type: 'LORA',
      base_model_name_or_path: MODEL,
      target_modules: ['q_proj', 'v_proj', 'down_proj'],
    });
    const summary = JSON.parse(
      await readFile(join(out, 'training_summary.json'), 'utf8'),
    ) as Record<string, unknown>;
    expect(summary['quantization']).toMatchObject({
      scheme: 'nf4',
      blockSize: 128,
      doubleQuant: true,
    });
    expect(await readFile(join(out, 'README.md'), 'utf8')).toMatch(/NF4, block size 128/);
  });

  it('explains an already-quantized base stored otherwise than asked, exit 1', async () => {
    const dir = await tempDir();
    const fp4 = join(dir, 'fp4');
    const q = await runLathe(['quantize', '--model', MODEL, '--scheme', 'fp4', '--out', fp4]);
    expect(q.code).toBe(0);
    const r = await runLathe([
      'train',
      '--method',
      'qlora',
      '--model',
      fp4,
      '--data',
      DATA,
      '--out',
      join(dir, 'out'),
      '--max-steps',
      '1',
      '--progress',
      'none',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^lathe: model .*fp4: is stored with scheme fp4 .*but qlora was asked for nf4; pass --quant-scheme fp4/,
    );
  });
});
