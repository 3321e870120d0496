import type { DType } from './dtype.js';
import type { GraphNode } from './graph-node.js';
import type { Dim, Shape } from './shape.js';

/**
 * A symbolic tensor of a graph under construction: a name in the ONNX graph, an element type
 * and a (partly symbolic) shape. Tensors are created by a {@link GraphBuilder}; they hold no data.
 */
export class Tensor {
  /**
   * @param name unique value name inside the graph
   * @param dtype element type
   * @param shape inferred shape, `undefined` when the rank is unknown
   * @param producer node computing this tensor; undefined for inputs, initializers and constants
   * @param constValues values of a small integer constant (shapes, axes), used for shape inference
   * @param shapeValues for 1-D int64 tensors computed from shapes (Shape, Concat of shapes): their
   *   values as dims, possibly symbolic, so Reshape/Expand of `Shape(x)` keep x's dims
   */
  constructor(
    readonly name: string,
    readonly dtype: DType,
    readonly shape: Shape | undefined,
    readonly producer: GraphNode | undefined,
    readonly constValues?: readonly number[],
    readonly shapeValues?: readonly Dim[],
  ) {}

  /** Rank when known. */
  get rank(): number | undefined {
    return this.shape?.length;
  }
}
