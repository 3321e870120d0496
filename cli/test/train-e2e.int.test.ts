import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors, type TrainingEvent } from '@lathe/llm';
import { REPO_ROOT, finished, runLathe, startLathe, type LatheRun } from './run-lathe.js';
import { literal, useTempDirs } from './temp-dirs.js';

// End to end through real `lathe` processes on the real stories260K model and Alpaca sample.
const MODEL = join(REPO_ROOT, '../shared/models/stories260K');
const ALPACA = join(REPO_ROOT, '../shared/data/sft/alpaca_tiny.json');
const missing =
  existsSync(MODEL) && existsSync(ALPACA)
    ? ''
    : `shared model/data not found under ${join(REPO_ROOT, '../shared')}`;
if (missing !== '') console.warn(`skipping lathe train end-to-end tests: ${missing}`);

/** Flags written as one string, e.g. `args('--max-steps 20 --lr 5e-3')`. */
const args = (text: string): string[] => text.split(' ');

function events(stdout: string): TrainingEvent[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as TrainingEvent);
}

/** The `eval` events of a run: [before training, after training]. */
function evalLosses(run: LatheRun): { before: number; after: number; tokens: number } {
  const evals = events(run.stdout).filter((e) => e.type === 'eval');
  expect(evals).toHaveLength(2);
  return { before: evals[0]!.loss, after: evals[1]!.loss, tokens: evals[1]!.tokens };
}

async function maxAbsDiff(fileA: string, fileB: string): Promise<number> {
  const [a, b] = [(await readSafetensors(fileA)).tensors, (await readSafetensors(fileB)).tensors];
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  let max = 0;
  for (const [name, t] of a) {
    const u = b.get(name)!.data;
    t.data.forEach((v, i) => (max = Math.max(max, Math.abs(v - (u[i] ?? NaN)))));
  }
  return max;
}

describe.skipIf(missing !== '')('lathe train end to end (stories260K, alpaca_tiny)', () => {
  const tempDir = useTempDirs('lathe-e2e-');
  let dir = '';
  let trainData = '';
  let heldOut = '';
  beforeAll(async () => {
    dir = await tempDir();
    const records = JSON.parse(await readFile(ALPACA, 'utf8')) as unknown[];
    // 80 records to train on, the last 20 held out.
    trainData = join(dir, 'train.json');
    heldOut = join(dir, 'held.json');
    await writeFile(trainData, JSON.stringify(records.slice(0, 80)));
    await writeFile(heldOut, JSON.stringify(records.slice(80)));
  });

  const train = (method: 'lora' | 'full', out: string, extra: string): string[] => [
    'train',
    '--method',
    method,
    '--model',
    MODEL,
    '--data',
    trainData,
    '--out',
    out,
    ...args(`--seq-len 128 --batch-size 2 --progress json ${extra}`),
  ];
  const evaluate = (model: string, extra: string[] = []): Promise<LatheRun> =>
    runLathe(['eval', '--model', model, '--data', heldOut, '--seq-len', '128', '--json', ...extra]);

  it('LoRA lowers held-out loss, and the PEFT adapter it writes evaluates to the same loss when loaded back', async () => {
    const out = join(dir, 'lora');
    const targets = 'q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj';
    const r = await runLathe([
      ...train(
        'lora',
        out,
        `--max-steps 40 --lr 1e-2 --lora-r 8 --lora-alpha 16 --lora-targets ${targets} --warmup-steps 4`,
      ),
      '--eval-data',
      heldOut,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const { before, after, tokens } = evalLosses(r);
    console.log(`held-out loss ${before.toFixed(4)} -> ${after.toFixed(4)} after 40 LoRA steps`);
    expect(after).toBeLessThan(before - 0.05);
    expect(existsSync(join(out, 'adapter_config.json'))).toBe(true);
    const back = await evaluate(MODEL, ['--adapter', out]);
    expect(back.code, back.stderr).toBe(0);
    const reloaded = JSON.parse(back.stdout) as { loss: number; tokens: number };
    expect(reloaded.tokens).toBe(tokens);
    expect(Math.abs(reloaded.loss - after)).toBeLessThan(1e-6);
  });

  it('20 steps equal 10 steps, a SIGKILL after the step-10 checkpoint, and a resume for 10 more (1e-6)', async () => {
    const flags = '--max-steps 20 --checkpoint-every 10 --lr 5e-3 --lora-dropout 0.1 --seed 7';
    const straight = join(dir, 'straight');
    const a = await runLathe(train('lora', straight, flags));
    expect(a.code, a.stderr).toBe(0);

    const killed = join(dir, 'killed');
    const child = startLathe(train('lora', killed, flags));
    const done = finished(child);
    let buffer = '';
    child.stdout?.on('data', (d: Buffer) => {
      buffer += d.toString();
      if (buffer.includes('"type":"checkpoint","step":10')) child.kill('SIGKILL');
    });
    const k = await done;
    expect(k.signal).toBe('SIGKILL');
    expect(existsSync(join(killed, 'adapter_model.safetensors'))).toBe(false);

    const resumed = await runLathe([...train('lora', killed, flags), '--resume', killed]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const steps = events(resumed.stdout).flatMap((e) => (e.type === 'step' ? [e.step] : []));
    expect(steps[0]).toBe(11);
    expect(steps.at(-1)).toBe(20);
    const diff = await maxAbsDiff(
      join(straight, 'adapter_model.safetensors'),
      join(killed, 'adapter_model.safetensors'),
    );
    console.log(`straight 20 steps vs killed at 10 + resumed: max |Δ| = ${diff}`);
    expect(diff).toBeLessThan(1e-6);
  });

  it('Ctrl-C stops between steps after a checkpoint (exit 130), and --resume finishes the run', async () => {
    const out = join(dir, 'interrupted');
    const flags = train('lora', out, '--max-steps 8 --checkpoint-every 0');
    const child = startLathe(flags);
    const done = finished(child);
    let buffer = '';
    let sent = false;
    child.stdout?.on('data', (d: Buffer) => {
      buffer += d.toString();
      if (!sent && buffer.includes('"type":"step","step":2,')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const r = await done;
    expect(r.code, r.stderr).toBe(130);
    const saved = events(r.stdout).filter((e) => e.type === 'checkpoint');
    expect(saved).toHaveLength(1);
    expect(saved[0]!.step).toBeLessThan(8);
    expect(r.stderr).toContain(`resume with --resume ${out}`);
    const resumed = await runLathe([...flags, '--resume', out]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(events(resumed.stdout).find((e) => e.type === 'step')?.step).toBe(saved[0]!.step + 1);
    expect(existsSync(join(out, 'adapter_model.safetensors'))).toBe(true);
  });

  it('full fine-tuning lowers held-out loss and writes a Hugging Face model that evaluates the same when loaded back', async () => {
    const out = join(dir, 'full');
    const r = await runLathe([
      ...train('full', out, '--max-steps 8 --lr 2e-3 --grad-accum 2 --weight-decay 0.01'),
      '--eval-data',
      heldOut,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const { before, after } = evalLosses(r);
    console.log(
      `full fine-tuning: held-out loss ${before.toFixed(4)} -> ${after.toFixed(4)} after 8 steps`,
    );
    expect(after).toBeLessThan(before - 0.05);
    const back = await evaluate(out);
    expect(back.code, back.stderr).toBe(0);
    expect(Math.abs((JSON.parse(back.stdout) as { loss: number }).loss - after)).toBeLessThan(1e-6);
  });

  it('stops on a NaN loss with one line naming the data file and the step', async () => {
    const r = await runLathe(
      train('full', join(dir, 'nan'), '--max-steps 5 --lr 1e39 --max-grad-norm 0'),
    );
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(
      new RegExp(`^lathe: ${literal(trainData)}: step 2: loss is NaN; training stopped`),
    );
  });
});
