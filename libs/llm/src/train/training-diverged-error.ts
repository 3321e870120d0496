/**
 * The loss or the gradient norm stopped being a finite number; the run stops at that step rather
 * than writing NaN weights. The message names the data file, the step and what went wrong.
 */
export class TrainingDivergedError extends Error {
  override readonly name = 'TrainingDivergedError';
  /** 1-based optimizer step at which the value was seen. */
  readonly step: number;

  /**
   * @param dataPath the training data of the run
   * @param step 1-based step
   * @param what e.g. `loss is NaN`
   * @param lastCheckpoint the checkpoint a resume would start from, if any
   */
  constructor(dataPath: string, step: number, what: string, lastCheckpoint: string | undefined) {
    super(
      `${dataPath}: step ${step}: ${what}; training stopped${lastCheckpoint === undefined ? '' : ` (last checkpoint: ${lastCheckpoint})`}`,
    );
    this.step = step;
  }
}
