import type { QuantConfig, QuantizationReport } from '@lathe/llm';

/** What the quantization thread is started with. */
export interface QuantizeThreadInit {
  /** Hugging Face model directory to read. */
  readonly sourceDir: string;
  /** Directory to write the quantized model into. */
  readonly outDir: string;
  readonly config: QuantConfig;
}

/** Messages from the thread: progress per tensor, then the report or the failure. */
export type QuantizeThreadMessage =
  | { readonly kind: 'tensor'; readonly name: string }
  | { readonly kind: 'done'; readonly report: QuantizationReport }
  | {
      readonly kind: 'failed';
      /** The error's class name, e.g. `QuantizationError` or `ModelFileError`. */
      readonly errorName: string;
      readonly message: string;
    };
