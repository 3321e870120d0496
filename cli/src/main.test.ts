import { describe, expect, it } from 'vitest';
import { runLathe } from '../test/run-lathe.js';

describe('lathe dispatcher', () => {
  it('lists every command with its summary on --help', async () => {
    const r = await runLathe(['--help']);
    expect(r.code).toBe(0);
    for (const name of ['train', 'eval', 'merge', 'generate', 'grads'])
      expect(r.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
  });

  it('gives per-command help with every flag and its default', async () => {
    const r = await runLathe(['help', 'train']);
    expect(r.code).toBe(0);
    for (const flag of [
      '--method',
      '--eval-data',
      '--max-steps',
      '--epochs',
      '--lr',
      '--batch-size',
      '--grad-accum',
      '--seq-len',
      '--lora-r',
      '--lora-alpha',
      '--lora-targets',
      '--seed',
      '--checkpoint-every',
      '--resume',
    ]) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stdout).toMatch(/--lora-targets LIST[\s\S]*\[q_proj,v_proj\]/);
    expect((await runLathe(['eval', '--help'])).stdout).toMatch(/--json/);
    expect((await runLathe(['merge', '-h'])).stdout).toMatch(/--adapter DIR/);
  });

  it('rejects unknown commands and bad flags with exit code 2', async () => {
    const unknown = await runLathe(['trian']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^lathe: unknown command "trian"/);
    const badFlag = await runLathe(
      'train --method lora --model m --data d --out o --lr fast'.split(' '),
    );
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/^lathe train: --lr must be a number, got "fast"/);
    const missing = await runLathe(['train', '--method', 'lora']);
    expect(missing.stderr).toMatch(/--model is required/);
    const loraOnFull = await runLathe(
      'train --method full --model m --data d --out o --lora-r 4'.split(' '),
    );
    expect(loraOnFull.stderr).toMatch(/--lora-r applies to --method lora or qlora/);
  });
});
