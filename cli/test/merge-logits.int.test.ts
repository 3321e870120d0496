import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadLlamaModel } from '@lathe/llm';
import { maxLogProbDifference } from '@lathe/llm/testing';
import { REPO_ROOT, runLathe } from './run-lathe.js';
import { saveRandomAdapter } from './random-adapter.js';
import { useTempDirs } from './temp-dirs.js';

const MODEL = join(REPO_ROOT, '../shared/models/stories260K');
const missing = existsSync(MODEL) ? '' : `shared model not found at ${MODEL}`;
if (missing !== '') console.warn(`skipping merge-logits test: ${missing}`);

describe.skipIf(missing !== '')('lathe merge output vs base + adapter', () => {
  const tempDir = useTempDirs('lathe-merge-');

  it('gives the same next-token distribution at every position as the unmerged LoRA branch (1e-4)', async () => {
    const dir = await tempDir();
    const base = await loadLlamaModel(MODEL);
    const all = [
      'q_proj',
      'k_proj',
      'v_proj',
      'o_proj',
      'gate_proj',
      'up_proj',
      'down_proj',
    ] as const;
    const { adapterDir } = await saveRandomAdapter(base, MODEL, dir, all, 11);
    const out = join(dir, 'merged');
    const merge = await runLathe([
      'merge',
      '--model',
      MODEL,
      '--adapter',
      adapterDir,
      '--out',
      out,
    ]);
    expect(merge.code, merge.stderr).toBe(0);

    const { maxDiff, adapterEffect } = await maxLogProbDifference(
      MODEL,
      adapterDir,
      out,
      'Once upon a time, there was a little girl',
    );
    console.log(
      `merged vs base+adapter: max |Δ log p| = ${maxDiff.toExponential(2)} over the first 8 positions x the vocabulary; adapter moves log p by up to ${adapterEffect.toFixed(3)}`,
    );
    expect(adapterEffect).toBeGreaterThan(0.05);
    expect(maxDiff).toBeLessThan(1e-4);
  });
});
