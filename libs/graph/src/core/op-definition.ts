import type { Attributes } from './attribute.js';
import type { DType } from './dtype.js';
import type { GraphBuilder } from './graph-builder.js';
import type { GraphNode } from './graph-node.js';
import type { Dim, Shape } from './shape.js';
import type { Tensor } from './tensor.js';

/** Element type and shape of one output, as an op's inference computes it. */
export interface OutputInfo {
  readonly dtype: DType;
  readonly shape: Shape | undefined;
  /** Values of a small integer result known at build time (shape arithmetic), if any. */
  readonly constValues?: readonly number[];
  /** Values of a 1-D int64 result computed from shapes, as (possibly symbolic) dims. */
  readonly shapeValues?: readonly Dim[];
}

/** What shape inference sees: the node's inputs and attributes. */
export interface InferContext {
  readonly opType: string;
  readonly inputs: readonly (Tensor | undefined)[];
  readonly attributes: Attributes;
  readonly outputCount: number;
}

/**
 * What a gradient rule sees: the forward node, the gradient of each of its outputs (undefined
 * where no gradient flows back), and which inputs need a gradient.
 */
export interface GradContext {
  readonly g: GraphBuilder;
  readonly node: GraphNode;
  readonly gradOutputs: readonly (Tensor | undefined)[];
  readonly needsGrad: readonly boolean[];
}

/**
 * One op of the registry: its forward emission (output types and shapes, so the builder can
 * check and describe tensors) and, for differentiable ops, its gradient rule. Ops without a
 * rule may still appear in a training graph off the path from parameters to loss.
 */
export interface OpDefinition {
  /** ONNX op type. */
  readonly opType: string;
  /** Domain, `''` for ai.onnx. */
  readonly domain?: string;
  /** Output dtypes and shapes from the inputs; throws with the reason when inputs are invalid. */
  infer(ctx: InferContext): OutputInfo[];
  /**
   * Gradients with respect to the inputs (same order; undefined where none is needed or the
   * input is not differentiable). Emitted with standard ai.onnx ops only.
   */
  readonly grad?: (ctx: GradContext) => (Tensor | undefined)[];
  /**
   * Input positions that never carry a gradient (indices, shapes, conditions), so the walker
   * does not look for paths through them.
   */
  readonly nonDifferentiableInputs?: readonly number[];
}
