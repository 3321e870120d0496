import type { DType } from './dtype.js';
import type { Tensor } from './tensor.js';

/** Host arrays an initializer or a run's tensor may be backed by. */
export type TypedArrayData =
  Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | Int8Array | Uint16Array;

/**
 * A tensor stored outside the model file (ONNX external data): `length` bytes at `offset` of
 * `location`, a path relative to the model file's folder (onnxruntime rejects paths leaving it).
 * A `.safetensors` file can be referenced in place this way.
 */
export interface ExternalDataRef {
  readonly location: string;
  readonly offset: number;
  readonly length: number;
}

/** A graph initializer: a constant the session owns (frozen weights, constants of the graph). */
export interface Initializer {
  readonly tensor: Tensor;
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly data: TypedArrayData | ExternalDataRef;
}

/** True when initializer data lives in an external file. */
export function isExternalData(data: TypedArrayData | ExternalDataRef): data is ExternalDataRef {
  return !ArrayBuffer.isView(data);
}
