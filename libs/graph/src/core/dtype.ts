/**
 * Element types a graph tensor may hold. The names follow onnxruntime-node's `Tensor.type`
 * strings so that host data converts without a lookup table on the caller's side.
 */
export type DType =
  'float32' | 'float64' | 'float16' | 'int64' | 'int32' | 'uint8' | 'int8' | 'bool';

/** ONNX `TensorProto.DataType` numbers (onnx.proto, enum DataType). */
const ONNX_DTYPE: Readonly<Record<DType, number>> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
};

/** The ONNX `TensorProto.DataType` number of a dtype. */
export function onnxDataType(dtype: DType): number {
  return ONNX_DTYPE[dtype];
}

/** True for dtypes that carry gradients (floating point). */
export function isFloatDType(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64' || dtype === 'float16';
}

/** Bytes per element of a dtype. */
export function dtypeByteSize(dtype: DType): number {
  switch (dtype) {
    case 'float64':
    case 'int64':
      return 8;
    case 'float32':
    case 'int32':
      return 4;
    case 'float16':
      return 2;
    case 'uint8':
    case 'int8':
    case 'bool':
      return 1;
  }
}
