import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, runLathe } from '../../test/run-lathe.js';
import { literal, useTempDirs } from '../../test/temp-dirs.js';

const MODEL = join(REPO_ROOT, '../shared/models/stories260K');
const ALPACA = join(REPO_ROOT, '../shared/data/sft/alpaca_tiny.json');
const missing =
  existsSync(MODEL) && existsSync(ALPACA)
    ? ''
    : `shared model/data not found under ${join(REPO_ROOT, '../shared')}`;
if (missing !== '') console.warn(`skipping lathe eval tests: ${missing}`);

describe.skipIf(missing !== '')('lathe eval', () => {
  const tempDir = useTempDirs('lathe-eval-');

  it('prints loss and perplexity = exp(loss) in text and JSON', async () => {
    const data = join(await tempDir(), 'three.json');
    await writeFile(
      data,
      JSON.stringify((JSON.parse(await readFile(ALPACA, 'utf8')) as unknown[]).slice(0, 3)),
    );
    const text = await runLathe(['eval', '--model', MODEL, '--data', data, '--seq-len', '128']);
    expect(text.code, text.stderr).toBe(0);
    const m = /^loss (\d+\.\d+) perplexity (\d+\.\d+) \((\d+) tokens, 3 examples\)\n$/.exec(
      text.stdout,
    );
    expect(m, text.stdout).not.toBeNull();
    const json = await runLathe([
      'eval',
      '--model',
      MODEL,
      '--data',
      data,
      '--seq-len',
      '128',
      '--json',
    ]);
    const r = JSON.parse(json.stdout) as {
      loss: number;
      perplexity: number;
      tokens: number;
      examples: number;
    };
    expect(r.loss.toFixed(6)).toBe(m?.[1]);
    expect(r.perplexity).toBeCloseTo(Math.exp(r.loss), 10);
    expect(r.tokens).toBe(Number(m?.[3]));
  });

  it('names a missing data file in one line, exit 1; a bad flag is a usage error, exit 2', async () => {
    const nowhere = join(await tempDir(), 'none.jsonl');
    const r = await runLathe(['eval', '--model', MODEL, '--data', nowhere]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`^lathe: ${literal(nowhere)}: cannot read: .*ENOENT.*\\n$`),
    );
    const usage = await runLathe([
      'eval',
      '--model',
      MODEL,
      '--data',
      nowhere,
      '--batch-size',
      'two',
    ]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^lathe eval: --batch-size must be an integer, got "two"/);
  });
});
