import type { ModelSource } from './graph-session.js';
import type { SessionOptions } from './session-options.js';
import type { TensorMap } from './tensor-data.js';

/** Messages the main thread sends to a session worker. */
export type WorkerRequest =
  | {
      readonly kind: 'run';
      readonly id: number;
      readonly feeds: TensorMap;
      readonly outputNames?: readonly string[];
    }
  | { readonly kind: 'close'; readonly id: number }
  | { readonly kind: 'cancel' };

/** Data a session worker starts with (workerData). */
export interface WorkerInit {
  readonly model: ModelSource;
  readonly options: SessionOptions;
}

/** Messages a session worker sends back. */
export type WorkerResponse =
  | {
      readonly kind: 'ready';
      readonly inputNames: readonly string[];
      readonly outputNames: readonly string[];
    }
  | { readonly kind: 'failed'; readonly message: string }
  | { readonly kind: 'result'; readonly id: number; readonly outputs: TensorMap }
  | { readonly kind: 'error'; readonly id: number; readonly message: string }
  | { readonly kind: 'closed'; readonly id: number };
