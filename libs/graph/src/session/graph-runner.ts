import type { TensorMap } from './tensor-data.js';

/**
 * What runs a built graph: an in-thread {@link GraphSession} or a {@link SessionWorker} that
 * holds the session in a worker thread. Both have this shape, so callers choose by deployment.
 */
export interface GraphRunner {
  /** Graph input names, in model order. */
  readonly inputNames: readonly string[];
  /** Graph output names, in model order. */
  readonly outputNames: readonly string[];
  /**
   * Runs the graph once. Feeds must name every graph input; `outputNames` limits the outputs
   * fetched (default all).
   */
  run(feeds: TensorMap, outputNames?: readonly string[]): Promise<TensorMap>;
  /** Releases the session (and the worker); later runs reject. */
  close(): Promise<void>;
}
