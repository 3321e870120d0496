import { QuantizationError } from './quantization-error.js';

/** Storage schemes: 4-bit NormalFloat and 4-bit float (blockwise), or 8-bit per-row absmax. */
export type QuantScheme = 'nf4' | 'fp4' | 'int8';

/** The schemes, for help texts and validation. */
export const QUANT_SCHEMES: readonly QuantScheme[] = ['nf4', 'fp4', 'int8'];

/** Options of {@link createQuantConfig}; every field has a default. */
export interface QuantOptions {
  /** Storage scheme. Default `'nf4'` (QLoRA's choice). */
  readonly scheme?: QuantScheme;
  /**
   * Elements sharing one absmax (4-bit schemes). Default 64, as in QLoRA. Must be a power of two
   * from 32 to 4096, the sizes bitsandbytes has kernels for. Ignored by int8 (one scale per row).
   */
  readonly blockSize?: number;
  /**
   * Double quantization (QLoRA §3): the fp32 absmax values are centred on their mean and stored
   * as 8-bit codes of the dynamic map, in blocks of 256. Default true. Ignored by int8.
   */
  readonly doubleQuant?: boolean;
}

/** A validated quantization configuration. */
export interface QuantConfig {
  readonly scheme: QuantScheme;
  readonly blockSize: number;
  readonly doubleQuant: boolean;
  /** Block size of the second quantization of the absmax values (bitsandbytes fixes it at 256). */
  readonly nestedBlockSize: number;
}

/** Block sizes bitsandbytes can quantize and dequantize with. */
export const BLOCK_SIZES: readonly number[] = [32, 64, 128, 256, 512, 1024, 2048, 4096];

/**
 * Validates quantization options and fills in defaults.
 *
 * @throws QuantizationError (with `field`) for an unknown scheme or an unsupported block size
 */
export function createQuantConfig(options: QuantOptions = {}): QuantConfig {
  const scheme = options.scheme ?? 'nf4';
  if (!QUANT_SCHEMES.includes(scheme)) {
    throw new QuantizationError(
      'scheme',
      `unsupported quantization scheme ${JSON.stringify(scheme)} (supported: ${QUANT_SCHEMES.join(', ')})`,
      { field: 'scheme' },
    );
  }
  const blockSize = options.blockSize ?? 64;
  if (!BLOCK_SIZES.includes(blockSize)) {
    throw new QuantizationError(
      'blockSize',
      `unsupported block size ${String(blockSize)} (a power of two from 32 to 4096)`,
      { field: 'blockSize' },
    );
  }
  const doubleQuant = options.doubleQuant ?? true;
  if (typeof doubleQuant !== 'boolean') {
    throw new QuantizationError('doubleQuant', 'must be a boolean', { field: 'doubleQuant' });
  }
  return { scheme, blockSize, doubleQuant, nestedBlockSize: 256 };
}
