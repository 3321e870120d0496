import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AdamWMoments, AdamWState } from '../optim/adamw.js';
import type { RandomState } from '../optim/seeded-random.js';
import { readSafetensors, type Float32Tensor } from '../safetensors/read-safetensors.js';
import { encodeSafetensors } from '../safetensors/write-safetensors.js';
import { syncDirectory, writeFileAtomic } from './write-file-atomic.js';

/** Version tag of the checkpoint layout; a reader refuses any other. */
export const CHECKPOINT_FORMAT = 'lathe-checkpoint/1';

const STATE_FILE = 'trainer_state.json';
const TRAINABLE_FILE = 'trainable.safetensors';
const OPTIMIZER_FILE = 'optimizer.safetensors';
const EXTRA_FILE = 'extra.safetensors';
const LATEST_FILE = 'latest';

/** Where the data stream stands: the next optimizer step reads from here. */
export interface DataPosition {
  /** 0-based epoch. */
  readonly epoch: number;
  /** 0-based optimizer step within the epoch. */
  readonly stepInEpoch: number;
}

/** The data position after one more optimizer step: the next epoch after its last step. */
export function nextDataPosition(position: DataPosition, stepsPerEpoch: number): DataPosition {
  return position.stepInEpoch + 1 >= stepsPerEpoch
    ? { epoch: position.epoch + 1, stepInEpoch: 0 }
    : { epoch: position.epoch, stepInEpoch: position.stepInEpoch + 1 };
}

/** Everything needed to continue a run exactly, besides the tensors. */
export interface TrainerState {
  readonly format: typeof CHECKPOINT_FORMAT;
  /** Optimizer steps completed. */
  readonly step: number;
  readonly data: DataPosition;
  /** The run's root generator state; every stream (data order, LoRA init, dropout) is split from it by name and step, so restoring it restores them all. */
  readonly rng: RandomState;
  /** The settings that must match for a resume to be exact (see `resumeFingerprint`). */
  readonly fingerprint: Readonly<Record<string, string | number | boolean>>;
  /** Target tokens trained on so far. */
  readonly tokensSeen: number;
  /** Training loss of the last step, for reports. */
  readonly lastLoss: number;
  /** Held-out evaluations so far, for methods whose result lists them all (DPO). */
  readonly evals?: readonly {
    readonly step: number;
    readonly metrics: Readonly<Record<string, number>>;
  }[];
}

/** A checkpoint in memory. */
export interface Checkpoint {
  readonly state: TrainerState;
  /** Trainable tensors by name (PEFT names for LoRA, Hugging Face names for full). */
  readonly trainable: ReadonlyMap<string, Float32Tensor>;
  readonly optimizer: AdamWState;
  /**
   * Method-specific tensors a resume needs (DPO: the reference log-probs cached per pair), in
   * `extra.safetensors`; absent when a method has none.
   */
  readonly extra?: ReadonlyMap<string, Float32Tensor>;
}

/** Directory name of the checkpoint after `step` steps: `step-000010`, sortable by name. */
export function checkpointName(step: number): string {
  return `step-${String(step).padStart(6, '0')}`;
}

/**
 * Writes a checkpoint under `<runDir>/checkpoints/step-NNNNNN` atomically: the files go to a
 * temporary directory, are flushed, the directory is renamed into place, and only then is
 * `checkpoints/latest` replaced (itself atomically). A crash at any point leaves the previous
 * checkpoint as `latest`. Older checkpoints beyond `keep` are removed afterwards.
 *
 * @returns the checkpoint directory
 */
export async function writeCheckpoint(
  runDir: string,
  checkpoint: Checkpoint,
  keep: number,
): Promise<string> {
  const root = join(runDir, 'checkpoints');
  await mkdir(root, { recursive: true });
  const name = checkpointName(checkpoint.state.step);
  const tmp = join(root, `.tmp-${name}-${process.pid}`);
  const final = join(root, name);
  // One trainer writes a run directory at a time, so any other temporary is a killed run's leftover.
  for (const entry of await readdir(root)) {
    if (entry.startsWith('.tmp-')) await rm(join(root, entry), { recursive: true, force: true });
  }
  await mkdir(tmp);
  const moments = new Map<string, Float32Tensor>();
  for (const [param, m] of checkpoint.optimizer.moments) {
    const shape = checkpoint.trainable.get(param)?.shape ?? [m.expAvg.length];
    moments.set(`exp_avg.${param}`, { shape, data: m.expAvg });
    moments.set(`exp_avg_sq.${param}`, { shape, data: m.expAvgSq });
  }
  await writeFile(join(tmp, TRAINABLE_FILE), encodeSafetensors(checkpoint.trainable), {
    flush: true,
  });
  await writeFile(
    join(tmp, OPTIMIZER_FILE),
    encodeSafetensors(moments, { step: String(checkpoint.optimizer.step) }),
    {
      flush: true,
    },
  );
  if (checkpoint.extra !== undefined) {
    await writeFile(join(tmp, EXTRA_FILE), encodeSafetensors(checkpoint.extra), { flush: true });
  }
  await writeFile(join(tmp, STATE_FILE), `${JSON.stringify(checkpoint.state, null, 2)}\n`, {
    flush: true,
  });
  await syncDirectory(tmp);
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  await syncDirectory(root);
  await writeFileAtomic(join(root, LATEST_FILE), `${name}\n`);
  if (keep > 0) {
    const all = (await readdir(root)).filter((n) => /^step-\d+$/.test(n)).sort();
    for (const old of all.slice(0, Math.max(0, all.length - keep))) {
      await rm(join(root, old), { recursive: true, force: true });
    }
  }
  return final;
}

/** A checkpoint that cannot be read, naming the file and the reason. */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  constructor(path: string, reason: string, options?: { cause?: unknown }) {
    super(`${path}: ${reason}`, options);
  }
}

/**
 * Finds the checkpoint to resume from: `dir` itself when it holds `trainer_state.json`, else the
 * one named by `dir/checkpoints/latest` (a run directory).
 *
 * @throws CheckpointError when neither is there
 */
export async function resolveCheckpointDir(dir: string): Promise<string> {
  const direct = await readdir(dir).catch(() => [] as string[]);
  if (direct.includes(STATE_FILE)) return dir;
  const latestPath = join(dir, 'checkpoints', LATEST_FILE);
  let latest: string;
  try {
    latest = (await readFile(latestPath, 'utf8')).trim();
  } catch {
    throw new CheckpointError(
      dir,
      `no checkpoint here (neither ${STATE_FILE} nor checkpoints/${LATEST_FILE})`,
    );
  }
  return join(dir, 'checkpoints', latest);
}

/**
 * Reads a checkpoint directory written by {@link writeCheckpoint}.
 *
 * @throws CheckpointError naming the file at fault
 */
export async function readCheckpoint(dir: string): Promise<Checkpoint> {
  const statePath = join(dir, STATE_FILE);
  let state: TrainerState;
  let format: unknown;
  try {
    state = JSON.parse(await readFile(statePath, 'utf8')) as TrainerState;
    format = (state as { format?: unknown }).format;
  } catch (cause) {
    throw new CheckpointError(statePath, `unreadable: ${(cause as Error).message}`, { cause });
  }
  if (format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(
      statePath,
      `format ${JSON.stringify(format)} is not ${CHECKPOINT_FORMAT}`,
    );
  }
  const trainable = (await readSafetensors(join(dir, TRAINABLE_FILE))).tensors;
  const opt = await readSafetensors(join(dir, OPTIMIZER_FILE));
  const moments = new Map<string, AdamWMoments>();
  for (const name of trainable.keys()) {
    const expAvg = opt.tensors.get(`exp_avg.${name}`)?.data;
    const expAvgSq = opt.tensors.get(`exp_avg_sq.${name}`)?.data;
    if (expAvg === undefined || expAvgSq === undefined) {
      if (state.step === 0) continue;
      throw new CheckpointError(join(dir, OPTIMIZER_FILE), `no moments for "${name}"`);
    }
    moments.set(name, { expAvg, expAvgSq });
  }
  const optStep = Number(opt.metadata['step']);
  if (!Number.isInteger(optStep))
    throw new CheckpointError(join(dir, OPTIMIZER_FILE), 'metadata "step" missing');
  const extra = (await readdir(dir)).includes(EXTRA_FILE)
    ? (await readSafetensors(join(dir, EXTRA_FILE))).tensors
    : undefined;
  return {
    state,
    trainable,
    optimizer: { step: optStep, moments },
    ...(extra === undefined ? {} : { extra }),
  };
}

/**
 * Refuses to resume from a checkpoint written with other settings: a resume is only exact when
 * every setting in the fingerprint is the same.
 *
 * @throws CheckpointError naming the first key that differs, with both values
 */
export function assertSameFingerprint(
  dir: string,
  saved: TrainerState['fingerprint'],
  now: TrainerState['fingerprint'],
): void {
  for (const [key, value] of Object.entries(now)) {
    if (saved[key] !== value) {
      throw new CheckpointError(
        dir,
        `cannot resume: ${key} was ${JSON.stringify(saved[key])} in the checkpoint, now ${JSON.stringify(value)}`,
      );
    }
  }
}

/**
 * Copies a checkpoint's trainable tensors into a run's (same names, same sizes).
 *
 * @throws CheckpointError naming a tensor the checkpoint lacks or holds with another size
 */
export function restoreTrainable(
  dir: string,
  checkpoint: Checkpoint,
  trainable: ReadonlyMap<string, Float32Array>,
): void {
  for (const [name, data] of trainable) {
    const saved = checkpoint.trainable.get(name);
    if (saved === undefined || saved.data.length !== data.length) {
      throw new CheckpointError(dir, `trainable tensor "${name}" missing or mis-sized`);
    }
    data.set(saved.data);
  }
}
