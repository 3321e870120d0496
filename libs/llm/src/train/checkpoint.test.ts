import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AdamW } from '../optim/adamw.js';
import { SeededRandom } from '../optim/seeded-random.js';
import {
  assertSameFingerprint,
  CHECKPOINT_FORMAT,
  readCheckpoint,
  resolveCheckpointDir,
  writeCheckpoint,
  type Checkpoint,
} from './checkpoint.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function checkpointAt(step: number): Checkpoint {
  const rng = SeededRandom.fromSeed(step);
  const w = rng.uniformArray(6, -1, 1);
  const opt = new AdamW();
  opt.update(new Map([['layer.w', w]]), new Map([['layer.w', rng.uniformArray(6, -1, 1)]]), 0.1);
  return {
    state: {
      format: CHECKPOINT_FORMAT,
      step,
      data: { epoch: 1, stepInEpoch: 3 },
      rng: rng.state(),
      fingerprint: { seed: 1, lr: 0.1 },
      tokensSeen: 123,
      lastLoss: 2.5,
    },
    trainable: new Map([['layer.w', { shape: [2, 3], data: w }]]),
    optimizer: opt.state(),
  };
}

describe('checkpoints', () => {
  it('round-trip exactly, point latest at the newest, and keep only the last N', async () => {
    const run = await mkdtemp(join(tmpdir(), 'lathe-ckpt-'));
    dirs.push(run);
    for (const step of [10, 20, 30]) await writeCheckpoint(run, checkpointAt(step), 2);
    expect((await readdir(join(run, 'checkpoints'))).sort()).toEqual([
      'latest',
      'step-000020',
      'step-000030',
    ]);
    expect((await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim()).toBe('step-000030');
    const dir = await resolveCheckpointDir(run);
    expect(dir).toBe(join(run, 'checkpoints', 'step-000030'));
    const back = await readCheckpoint(dir);
    const want = checkpointAt(30);
    expect(back.state).toEqual(want.state);
    expect(back.trainable.get('layer.w')).toEqual(want.trainable.get('layer.w'));
    expect(back.optimizer.step).toBe(1);
    expect(back.optimizer.moments.get('layer.w')?.expAvgSq).toEqual(
      want.optimizer.moments.get('layer.w')?.expAvgSq,
    );
    expect(await resolveCheckpointDir(dir)).toBe(dir);
    expect(back.extra).toBeUndefined();
  });

  it('round-trips method-specific tensors and evaluations when a run has them', async () => {
    const run = await mkdtemp(join(tmpdir(), 'lathe-ckpt-'));
    dirs.push(run);
    const base = checkpointAt(5);
    const reference = { shape: [2, 3], data: Float32Array.of(-1.5, -2, -3.25, -4, -5, -6.5) };
    const evals = [{ step: 0, metrics: { loss: Math.LN2, 'rewards/margins': 0 } }];
    const dir = await writeCheckpoint(
      run,
      { ...base, state: { ...base.state, evals }, extra: new Map([['reference', reference]]) },
      0,
    );
    expect((await readdir(dir)).sort()).toEqual([
      'extra.safetensors',
      'optimizer.safetensors',
      'trainable.safetensors',
      'trainer_state.json',
    ]);
    const back = await readCheckpoint(dir);
    expect(back.extra?.get('reference')).toEqual(reference);
    expect(back.state.evals).toEqual(evals);
  });

  it('refuses another run’s fingerprint, naming the setting and both values', () => {
    const saved = { seed: 1, lr: 0.1, method: 'lora' };
    expect(() => assertSameFingerprint('/ckpt', saved, { ...saved })).not.toThrow();
    expect(() => assertSameFingerprint('/ckpt', saved, { ...saved, lr: 0.2 })).toThrow(
      '/ckpt: cannot resume: lr was 0.1 in the checkpoint, now 0.2',
    );
    expect(() => assertSameFingerprint('/ckpt', saved, { ...saved, batchSize: 4 })).toThrow(
      '/ckpt: cannot resume: batchSize was undefined in the checkpoint, now 4',
    );
  });

  it('says plainly when there is nothing to resume from', async () => {
    const run = await mkdtemp(join(tmpdir(), 'lathe-ckpt-'));
    dirs.push(run);
    await expect(resolveCheckpointDir(run)).rejects.toThrow(/no checkpoint here/);
  });
});
