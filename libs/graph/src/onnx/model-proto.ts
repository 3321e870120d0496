import onnxProto from 'onnx-proto';
import type { AttributeValue } from '../core/attribute.js';
import { onnxDataType, type DType } from '../core/dtype.js';
import type { GraphCore } from '../core/graph-core.js';
import { isExternalData, type Initializer } from '../core/initializer.js';
import type { Tensor } from '../core/tensor.js';

const { onnx } = onnxProto;

/** Options of {@link serializeModel}. */
export interface SerializeOptions {
  /** Producer name written into the model. Default `'lathe'`. */
  readonly producerName?: string;
}

/** ONNX IR version that goes with an ai.onnx opset (onnx/helper.py VERSION_TABLE). */
function irVersionFor(opset: number): number {
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 21) return 10;
  return 11;
}

/**
 * Encodes a built graph as an ONNX ModelProto with the maintained `onnx-proto` package.
 * Initializers with {@link ExternalDataRef} data are written as external-data references
 * (location/offset/length); everything else is inline raw data.
 */
export function serializeModel(graph: GraphCore, options: SerializeOptions = {}): Uint8Array {
  if (graph.outputs.length === 0) throw new Error(`graph ${graph.name} has no outputs`);
  const model = onnx.ModelProto.create({
    irVersion: irVersionFor(graph.opset),
    producerName: options.producerName ?? 'lathe',
    opsetImport: [
      { domain: '', version: graph.opset },
      ...[...graph.opsetImports].map(([domain, version]) => ({ domain, version })),
    ],
    graph: {
      name: graph.name,
      node: graph.nodes.map((n, i) => ({
        name: `${n.opType}_n${i}`,
        opType: n.opType,
        domain: n.domain,
        input: n.inputs.map((t) => t?.name ?? ''),
        output: n.outputs.map((t) => t.name),
        attribute: Object.entries(n.attributes).map(([name, value]) => attributeProto(name, value)),
      })),
      input: graph.inputs.map(valueInfo),
      output: graph.outputs.map((o) => valueInfo(o.tensor)),
      initializer: graph.initializers.map(tensorProto),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

function valueInfo(t: Tensor): onnxProto.onnx.IValueInfoProto {
  return {
    name: t.name,
    type: {
      tensorType: {
        elemType: onnxDataType(t.dtype),
        shape: t.shape
          ? {
              dim: t.shape.map((d) =>
                typeof d === 'number' ? { dimValue: d } : d === null ? {} : { dimParam: d },
              ),
            }
          : null,
      },
    },
  };
}

function tensorProto(init: Initializer): onnxProto.onnx.ITensorProto {
  const base = { name: init.tensor.name, dims: [...init.dims], dataType: onnxDataType(init.dtype) };
  const data = init.data;
  if (isExternalData(data)) {
    return {
      ...base,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: data.location },
        { key: 'offset', value: String(data.offset) },
        { key: 'length', value: String(data.length) },
      ],
    };
  }
  return { ...base, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

function attributeProto(name: string, a: AttributeValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int':
      return { name, type: T.INT, i: a.value };
    case 'float':
      return { name, type: T.FLOAT, f: a.value };
    case 'ints':
      return { name, type: T.INTS, ints: [...a.value] };
    case 'floats':
      return { name, type: T.FLOATS, floats: [...a.value] };
    case 'string':
      return { name, type: T.STRING, s: new TextEncoder().encode(a.value) };
    case 'tensor':
      return {
        name,
        type: T.TENSOR,
        t: tensorValue(a.dtype, a.dims, a.value),
      };
  }
}

function tensorValue(
  dtype: DType,
  dims: readonly number[],
  values: readonly number[],
): onnxProto.onnx.ITensorProto {
  const base = { dims: [...dims], dataType: onnxDataType(dtype) };
  switch (dtype) {
    case 'float32':
      return { ...base, floatData: [...values] };
    case 'float64':
      return { ...base, doubleData: [...values] };
    case 'int64':
      return { ...base, int64Data: [...values] };
    case 'int32':
    case 'uint8':
    case 'int8':
    case 'bool':
      return { ...base, int32Data: [...values] };
    case 'float16':
      throw new Error('float16 tensor attributes are not supported');
  }
}
