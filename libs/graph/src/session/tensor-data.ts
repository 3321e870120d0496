import type { DType } from '../core/dtype.js';
import type { TypedArrayData } from '../core/initializer.js';

/**
 * A host tensor fed to or returned by a run: plain data, independent of onnxruntime, so that it
 * crosses worker boundaries by structured clone or transfer.
 */
export interface TensorData {
  readonly dtype: DType;
  readonly dims: readonly number[];
  /** Float32Array for float32, Float64Array for float64, BigInt64Array for int64, Uint8Array for bool. */
  readonly data: TypedArrayData;
}

/** Named tensors of one run. */
export type TensorMap = Readonly<Record<string, TensorData>>;

/** Shorthand constructors for feeds. */
export const tensorData = {
  float32: (data: Float32Array, dims: readonly number[]): TensorData => ({
    dtype: 'float32',
    dims,
    data,
  }),
  float64: (data: Float64Array, dims: readonly number[]): TensorData => ({
    dtype: 'float64',
    dims,
    data,
  }),
  int64: (data: BigInt64Array, dims: readonly number[]): TensorData => ({
    dtype: 'int64',
    dims,
    data,
  }),
} as const;
