/** Structured progress of a run, for terminals (a bar) and for the mesh (events). */
export type TrainingEvent =
  | {
      readonly type: 'start';
      /** First step this process will run (0 fresh, N after resuming from step N). */
      readonly startStep: number;
      readonly totalSteps: number;
      readonly stepsPerEpoch: number;
      readonly examples: number;
      readonly rows: number;
      readonly trainableParameters: number;
      /** Bad records dropped (only with skipBadRecords). */
      readonly rejectedRecords: number;
      /** Examples cut to seqLen. */
      readonly truncatedExamples: number;
    }
  | {
      readonly type: 'step';
      /** Optimizer steps completed (1-based after the first step). */
      readonly step: number;
      readonly totalSteps: number;
      readonly epoch: number;
      /** Mean token loss of this step. */
      readonly loss: number;
      /** Learning rate used by this step. */
      readonly lr: number;
      /** Global gradient norm before clipping. */
      readonly gradNorm: number;
      /** Target tokens in this step. */
      readonly tokens: number;
      /** Input tokens (padding excluded) per second, over this step. */
      readonly tokensPerSecond: number;
      /** Seconds since this process started training. */
      readonly elapsedSeconds: number;
      /** Estimated seconds to the last step, from the mean step time so far. */
      readonly etaSeconds: number;
    }
  | {
      readonly type: 'eval';
      readonly step: number;
      /** Mean token loss over the held-out set. */
      readonly loss: number;
      readonly perplexity: number;
      readonly tokens: number;
    }
  | { readonly type: 'checkpoint'; readonly step: number; readonly path: string };

/** Receives {@link TrainingEvent}s; called synchronously between steps. */
export type TrainingProgressListener = (event: TrainingEvent) => void;
