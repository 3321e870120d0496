import { sumToShape } from '../autodiff/sum-to-shape.js';
import type { GraphBuilder } from '../core/graph-builder.js';
import type { GradContext } from '../core/op-definition.js';
import type { Tensor } from '../core/tensor.js';

/** Input i, output j and output gradient j of a node, for rules. */
export function io(ctx: GradContext): {
  x: (i: number) => Tensor;
  y: (j: number) => Tensor;
  dy: Tensor;
} {
  const dy = ctx.gradOutputs[0];
  if (!dy) throw new Error(`${ctx.node.opType}: gradient rule called without an output gradient`);
  return {
    x: (i) => {
      const t = ctx.node.inputs[i];
      if (!t) throw new Error(`${ctx.node.opType}: input ${i} is missing`);
      return t;
    },
    y: (j) => {
      const t = ctx.node.outputs[j];
      if (!t) throw new Error(`${ctx.node.opType}: output ${j} is missing`);
      return t;
    },
    dy,
  };
}

/** Gradient for input i when needed, reduced to that input's shape. */
export function reduced(ctx: GradContext, i: number, make: () => Tensor): Tensor | undefined {
  if (!ctx.needsGrad[i]) return undefined;
  const input = ctx.node.inputs[i];
  if (!input) return undefined;
  return sumToShape(ctx.g, make(), input);
}

/** A tensor's shape as a constant when static, else as a Shape node. */
export function shapeOf(g: GraphBuilder, t: Tensor): readonly number[] | Tensor {
  const s = t.shape;
  if (s !== undefined && s.every((d) => typeof d === 'number')) return s;
  return g.shape(t);
}
