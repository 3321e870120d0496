import type { AdamW } from '../optim/adamw.js';
import type { SeededRandom } from '../optim/seeded-random.js';
import type { Float32Tensor } from '../safetensors/read-safetensors.js';
import {
  assertSameFingerprint,
  CHECKPOINT_FORMAT,
  nextDataPosition,
  readCheckpoint,
  resolveCheckpointDir,
  restoreTrainable,
  writeCheckpoint,
  type Checkpoint,
  type DataPosition,
  type TrainerState,
} from './checkpoint.js';
import type { TrainingEvent } from './training-events.js';

/** A checkpoint to resume from, with the directory it was read from (errors name it). */
export interface ResumePoint {
  readonly dir: string;
  readonly checkpoint: Checkpoint;
}

/**
 * Reads the checkpoint `resumeFrom` names (a checkpoint directory, or a run directory's latest)
 * and refuses it unless it was written with the same settings.
 *
 * @throws CheckpointError when there is none, it cannot be read, or a setting differs
 */
export async function readResumePoint(
  resumeFrom: string,
  fingerprint: TrainerState['fingerprint'],
): Promise<ResumePoint> {
  const dir = await resolveCheckpointDir(resumeFrom);
  const checkpoint = await readCheckpoint(dir);
  assertSameFingerprint(dir, checkpoint.state.fingerprint, fingerprint);
  return { dir, checkpoint };
}

/** Trainable values with their shapes, as checkpoints and adapter files store them. */
export function trainableTensors(
  values: ReadonlyMap<string, Float32Array>,
  shapes: ReadonlyMap<string, readonly number[]>,
): Map<string, Float32Tensor> {
  const out = new Map<string, Float32Tensor>();
  for (const [name, data] of values)
    out.set(name, { shape: shapes.get(name) ?? [data.length], data });
  return out;
}

/** What a training method adds to each checkpoint (DPO: its evaluations and reference cache). */
export interface MethodCheckpointState {
  readonly evals?: TrainerState['evals'];
  readonly extra?: Checkpoint['extra'];
}

/** The parts of a run a {@link CheckpointedRun} saves, restores and schedules. */
export interface CheckpointedRunOptions {
  /** The run directory; checkpoints go to its `checkpoints/`. */
  readonly outDir: string;
  readonly fingerprint: TrainerState['fingerprint'];
  /** The run's root generator, recorded in every checkpoint. */
  readonly rng: SeededRandom;
  /** The trainable values the optimizer updates in place, in the engine's order. */
  readonly trainable: ReadonlyMap<string, Float32Array>;
  readonly shapes: ReadonlyMap<string, readonly number[]>;
  readonly optimizer: AdamW;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  /** Checkpoint every N steps (and after the last); 0 = after the last only. */
  readonly checkpointEvery: number;
  /** Checkpoints kept, newest first; 0 = all. */
  readonly keepCheckpoints: number;
  /** Called (and awaited) after each checkpoint is in place. */
  readonly onCheckpoint: (event: Extract<TrainingEvent, { type: 'checkpoint' }>) => unknown;
  /** The method's own checkpoint content, read at each save. Default: none. */
  readonly methodState?: () => MethodCheckpointState;
}

/**
 * The loop state every training method checkpoints (step, data position, tokens seen, last
 * loss), the checkpoints written so far, and when the next is due. The SFT and DPO loops keep
 * only what differs between them: the data, the step's computation and the method's own
 * checkpoint content.
 */
export class CheckpointedRun {
  private currentStep = 0;
  private currentPosition: DataPosition = { epoch: 0, stepInEpoch: 0 };
  private seen = 0;
  private loss = NaN;
  private latest: string | undefined;
  private latestStep = -1;

  constructor(private readonly options: CheckpointedRunOptions) {}

  /** Optimizer steps completed. */
  get step(): number {
    return this.currentStep;
  }

  /** Where the next optimizer step reads the data from. */
  get position(): DataPosition {
    return this.currentPosition;
  }

  /** Target tokens trained on so far (resumed parts included). */
  get tokensSeen(): number {
    return this.seen;
  }

  /** Training loss of the last step (NaN before the first). */
  get lastLoss(): number {
    return this.loss;
  }

  /** The last checkpoint written, or resumed from. */
  get lastCheckpoint(): string | undefined {
    return this.latest;
  }

  /**
   * Continues from `point`: the trainable values and optimizer state are overwritten, the loop
   * state taken over, and the checkpoint counts as written (an abort right away writes none).
   *
   * @throws CheckpointError when a trainable tensor is missing or mis-sized
   */
  restore(point: ResumePoint): void {
    const { dir, checkpoint } = point;
    restoreTrainable(dir, checkpoint, this.options.trainable);
    this.options.optimizer.loadState(checkpoint.optimizer);
    this.currentStep = checkpoint.state.step;
    this.currentPosition = checkpoint.state.data;
    this.seen = checkpoint.state.tokensSeen;
    this.loss = checkpoint.state.lastLoss;
    this.latest = dir;
    this.latestStep = this.currentStep;
  }

  /** Records one completed optimizer step: its loss and target tokens; the data moves on. */
  advance(loss: number, targetTokens: number): void {
    this.currentStep += 1;
    this.seen += targetTokens;
    this.loss = loss;
    this.currentPosition = nextDataPosition(this.currentPosition, this.options.stepsPerEpoch);
  }

  /** Checkpoints the step just completed when the schedule asks for it (and after the last). */
  async saveIfDue(): Promise<void> {
    const { checkpointEvery, totalSteps } = this.options;
    const step = this.currentStep;
    if ((checkpointEvery > 0 && step % checkpointEvery === 0) || step === totalSteps)
      await this.save();
  }

  /** Checkpoints the last completed step unless it already is (a cancelled run stops here). */
  async saveIfUnsaved(): Promise<void> {
    if (this.currentStep > this.latestStep) await this.save();
  }

  /** Writes a checkpoint of the current state and reports it. */
  async save(): Promise<void> {
    const o = this.options;
    const method = o.methodState?.() ?? {};
    this.latest = await writeCheckpoint(
      o.outDir,
      {
        state: {
          format: CHECKPOINT_FORMAT,
          step: this.currentStep,
          data: this.currentPosition,
          rng: o.rng.state(),
          fingerprint: o.fingerprint,
          tokensSeen: this.seen,
          lastLoss: this.loss,
          ...(method.evals === undefined ? {} : { evals: method.evals }),
        },
        trainable: trainableTensors(o.trainable, o.shapes),
        optimizer: o.optimizer.state(),
        ...(method.extra === undefined ? {} : { extra: method.extra }),
      },
      o.keepCheckpoints,
    );
    this.latestStep = this.currentStep;
    await o.onCheckpoint({ type: 'checkpoint', step: this.currentStep, path: this.latest });
  }
}
