import type { InferenceSession } from 'onnxruntime-node';

/** How an onnxruntime session is created. Every field is optional. */
export interface SessionOptions {
  /** Execution provider. Default `'cpu'`; `'cuda'` needs the CUDA build of onnxruntime-node. */
  readonly executionProvider?: 'cpu' | 'cuda';
  /** Threads inside one op. Default: onnxruntime's choice (all cores). */
  readonly intraOpThreads?: number;
  /** Threads across independent ops. Default: onnxruntime's choice. */
  readonly interOpThreads?: number;
  /** Graph optimization level. Default `'all'`. */
  readonly graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Optimizers to turn off by name, for example `['ConstantFolding']` to keep NF4 weights 4-bit
   * (otherwise onnxruntime folds the in-graph dequantization into float32 at load). Default none.
   */
  readonly disabledOptimizers?: readonly string[];
  /**
   * External data files for a model loaded from bytes: each `path` as written in the model's
   * external-data `location`, with its contents. Default none.
   */
  readonly externalData?: readonly { readonly path: string; readonly data: Uint8Array }[];
  /** Whether onnxruntime prepacks constant weights (faster runs, slower load). Default true. */
  readonly prepackWeights?: boolean;
  /**
   * Where onnxruntime writes the graph after its optimizations (to inspect fusions and folding).
   * Default: not written.
   */
  readonly optimizedModelPath?: string;
  /**
   * Whether onnxruntime serves CPU tensors from its arena (which keeps what it grew to) and
   * pre-plans one block for a run's intermediates from the first run (memory pattern). Turning
   * both off returns freed tensors to the system, so peak memory is the peak of live tensors
   * (QLoRA's 4-bit base, where the fp32 copies made per step must not pile up). Default true.
   */
  readonly memoryArena?: boolean;
  /** onnxruntime log severity, 0 (verbose) to 4 (fatal). Default 3 (errors). */
  readonly logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

/** Maps {@link SessionOptions} to onnxruntime-node's session options. */
export function toOrtOptions(options: SessionOptions): InferenceSession.SessionOptions {
  // `extra` is flattened by onnxruntime into session config entries such as
  // `optimization.disable_specified_optimizers` and `session.disable_prepacking`.
  const extra: Record<string, unknown> = {};
  if (options.prepackWeights === false) extra['session'] = { disable_prepacking: '1' };
  if (options.disabledOptimizers && options.disabledOptimizers.length > 0) {
    extra['optimization'] = { disable_specified_optimizers: options.disabledOptimizers.join(';') };
  }
  return {
    executionProviders: [options.executionProvider ?? 'cpu'],
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    logSeverityLevel: options.logSeverityLevel ?? 3,
    ...(options.memoryArena === false ? { enableCpuMemArena: false, enableMemPattern: false } : {}),
    ...(options.optimizedModelPath !== undefined
      ? { optimizedModelFilePath: options.optimizedModelPath }
      : {}),
    ...(options.intraOpThreads !== undefined ? { intraOpNumThreads: options.intraOpThreads } : {}),
    ...(options.interOpThreads !== undefined ? { interOpNumThreads: options.interOpThreads } : {}),
    ...(options.externalData
      ? { externalData: options.externalData.map((f) => ({ path: f.path, data: f.data })) }
      : {}),
    ...(Object.keys(extra).length > 0 ? { extra } : {}),
  };
}
