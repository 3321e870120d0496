import type { Attributes } from './attribute.js';
import type { Tensor } from './tensor.js';

/** One ONNX node as recorded by the builder, in creation (hence topological) order. */
export interface GraphNode {
  /** Position in the builder's node list; later nodes never feed earlier ones. */
  readonly index: number;
  /** ONNX op type, for example `MatMul`. */
  readonly opType: string;
  /** Operator set domain: `''` for ai.onnx, `com.microsoft` for contrib ops. */
  readonly domain: string;
  /** Inputs in ONNX order; `undefined` marks an omitted optional input. */
  readonly inputs: readonly (Tensor | undefined)[];
  /** Outputs in ONNX order. */
  readonly outputs: readonly Tensor[];
  /** Attributes by name. */
  readonly attributes: Attributes;
}
