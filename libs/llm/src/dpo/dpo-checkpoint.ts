// What a DPO run adds to the shared checkpoint layout (train/checkpoint.ts): its fingerprint and
// the reference log-probs it caches per pair.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DataFileError } from '../data/data-file-error.js';
import type { Float32Tensor } from '../safetensors/read-safetensors.js';
import { CheckpointError, type Checkpoint, type TrainerState } from '../train/checkpoint.js';
import type { DpoMetrics } from './dpo-metrics.js';
import type { ReferenceCache } from './reference-cache.js';

/** The settings a DPO resume must share with the run that wrote the checkpoint. */
export interface DpoRunIdentity {
  readonly method: 'lora' | 'full';
  /** sha256 of the training file's bytes. */
  readonly dataSha256: string;
  /** sha256 of the held-out file, or undefined when the held-out pairs are split from the data. */
  readonly evalDataSha256: string | undefined;
  readonly evalFraction: number;
  readonly totalSteps: number;
  readonly lr: number;
  readonly batchSize: number;
  readonly maxGradNorm: number;
  readonly seed: number;
  /** Validated settings, compared as JSON: loss, pair limits, LoRA (undefined for full). */
  readonly loss: unknown;
  readonly limits: unknown;
  readonly lora: unknown;
  readonly agreementWeights: boolean;
  readonly skipBadRecords: boolean;
  /** Whether the reference is the base ('base') or a separate model ('separate'). */
  readonly reference: 'base' | 'separate';
}

/**
 * The fingerprint of a DPO run: everything that changes which pairs are trained in which order,
 * the loss, or the updates. The method is spelled `dpo-<policy>`, so an SFT checkpoint is refused
 * by name (and a DPO checkpoint by the SFT trainer). Paths are left out: a resumed attempt reads
 * the same files from other places.
 */
export function dpoFingerprint(run: DpoRunIdentity): TrainerState['fingerprint'] {
  return {
    method: `dpo-${run.method}`,
    dataSha256: run.dataSha256,
    // With a held-out file the fraction plays no part; without one it decides the split.
    evalData: run.evalDataSha256 ?? `fraction ${String(run.evalFraction)} of the data`,
    totalSteps: run.totalSteps,
    lr: run.lr,
    batchSize: run.batchSize,
    maxGradNorm: run.maxGradNorm,
    seed: run.seed,
    loss: JSON.stringify(run.loss),
    limits: JSON.stringify(run.limits),
    lora: run.lora === undefined ? 'none' : JSON.stringify(run.lora),
    agreementWeights: run.agreementWeights,
    skipBadRecords: run.skipBadRecords,
    reference: run.reference,
  };
}

/** sha256 (hex) of a file's bytes: identifies a run's data in its checkpoints. */
export async function fileSha256(path: string): Promise<string> {
  const bytes = await readFile(path).catch((cause: unknown) => {
    throw new DataFileError(path, undefined, `cannot read: ${(cause as Error).message}`, {
      cause,
    });
  });
  return createHash('sha256').update(bytes).digest('hex');
}

const TRAIN_REFERENCE = 'reference_logps.train';
const EVAL_REFERENCE = 'reference_logps.eval';

/**
 * The reference cache as checkpoint tensors. It is stored rather than recomputed on resume: the
 * reference's forward over every pair is the costliest part of a restart, and a recomputation
 * with other session settings (threads, device) could differ in the last bits, which an exact
 * resume cannot allow.
 */
export function referenceTensors(cache: ReferenceCache): Map<string, Float32Tensor> {
  const tensor = (data: Float32Array): Float32Tensor => ({ shape: [2, data.length / 2], data });
  return new Map([
    [TRAIN_REFERENCE, tensor(cache.train)],
    [EVAL_REFERENCE, tensor(cache.eval)],
  ]);
}

/**
 * The reference cache a checkpoint holds, checked against the number of pairs of this run.
 *
 * @throws CheckpointError when it is missing or sized for other data
 */
export function referenceFromCheckpoint(
  dir: string,
  checkpoint: Checkpoint,
  pairs: { readonly train: number; readonly eval: number },
): ReferenceCache {
  const read = (name: string, count: number): Float32Array => {
    const data = checkpoint.extra?.get(name)?.data;
    if (data === undefined) throw new CheckpointError(dir, `no "${name}": not a DPO checkpoint`);
    if (data.length !== 2 * count)
      throw new CheckpointError(
        dir,
        `"${name}" holds ${data.length} log-probs; this run's ${count} pairs need ${2 * count}`,
      );
    return data;
  };
  return { train: read(TRAIN_REFERENCE, pairs.train), eval: read(EVAL_REFERENCE, pairs.eval) };
}

/** A DPO run's held-out evaluations as a checkpoint records them. */
export function evalsToCheckpoint(
  evals: readonly { step: number; metrics: DpoMetrics }[],
): NonNullable<TrainerState['evals']> {
  return evals.map((e) => ({ step: e.step, metrics: { ...e.metrics } }));
}

/** The held-out evaluations a DPO checkpoint recorded (none for a checkpoint without them). */
export function evalsFromCheckpoint(state: TrainerState): { step: number; metrics: DpoMetrics }[] {
  // Written by evalsToCheckpoint from DpoMetrics, and the fingerprint ties it to a DPO run.
  return (state.evals ?? []).map((e) => ({
    step: e.step,
    metrics: e.metrics as unknown as DpoMetrics,
  }));
}
