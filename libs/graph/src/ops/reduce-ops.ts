import { intAttribute } from '../core/attribute.js';
import type { GraphBuilder } from '../core/graph-builder.js';
import type { GradContext, InferContext, OpDefinition, OutputInfo } from '../core/op-definition.js';
import { normalizeAxis, type Dim } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { io, shapeOf } from './grad-helpers.js';
import { constInts, inputAt } from './infer-helpers.js';

/** Reduced axes of a node, normalized; all axes when the axes input is absent or empty. */
function reducedAxes(
  opType: string,
  x: Tensor,
  axes: readonly number[] | undefined,
  hasAxesInput: boolean,
): number[] | undefined {
  const rank = x.rank;
  if (rank === undefined) return undefined;
  if (hasAxesInput && axes === undefined) return undefined;
  if (axes === undefined || axes.length === 0) return Array.from({ length: rank }, (_, i) => i);
  return axes.map((a) => normalizeAxis(a, rank, opType));
}

function inferReduce(ctx: InferContext): OutputInfo[] {
  const x = inputAt(ctx, 0);
  const keep = intAttribute(ctx.attributes, 'keepdims', 1) === 1;
  const axes = reducedAxes(ctx.opType, x, constInts(ctx, 1), ctx.inputs[1] !== undefined);
  if (x.shape === undefined) return [{ dtype: x.dtype, shape: undefined }];
  if (axes === undefined) {
    return [{ dtype: x.dtype, shape: keep ? x.shape.map(() => null) : undefined }];
  }
  const shape: Dim[] = [];
  x.shape.forEach((d, i) => {
    if (!axes.includes(i)) shape.push(d);
    else if (keep) shape.push(1);
  });
  return [{ dtype: x.dtype, shape }];
}

/** The output gradient with the reduced axes restored as size 1 (a view of dy). */
function keptGrad(ctx: GradContext): { dy: Tensor; x: Tensor; y: Tensor; axes: number[] } {
  const { x, y, dy } = io(ctx);
  const input = x(0);
  const axes = reducedAxes(
    ctx.node.opType,
    input,
    ctx.node.inputs[1]?.constValues,
    ctx.node.inputs[1] !== undefined,
  );
  if (axes === undefined) {
    throw new Error(
      `${ctx.node.opType} gradient needs static axes and a known rank for ${input.name}`,
    );
  }
  const keep = intAttribute(ctx.node.attributes, 'keepdims', 1) === 1;
  const out = y(0);
  if (keep) return { dy, x: input, y: out, axes };
  return { dy: ctx.g.unsqueeze(dy, axes), x: input, y: ctx.g.unsqueeze(out, axes), axes };
}

/** Number of elements folded into each output element of a mean. */
function reducedCount(g: GraphBuilder, x: Tensor, axes: readonly number[]): Tensor {
  const dims = axes.map((a) => x.shape?.[a] ?? null);
  if (dims.every((d) => typeof d === 'number')) {
    return g.scalarLike(
      x,
      dims.reduce((n, d) => n * d, 1),
    );
  }
  const sizes = g.node1('Gather', [g.shape(x), g.int64s(axes)], {});
  return g.cast(g.node1('ReduceProd', [sizes], {}), x.dtype);
}

/** ReduceSum, ReduceMean and ReduceMax with broadcasting-back gradient rules. */
export const REDUCE_OPS: readonly OpDefinition[] = [
  {
    opType: 'ReduceSum',
    nonDifferentiableInputs: [1],
    infer: inferReduce,
    grad: (ctx) => {
      const { dy, x } = keptGrad(ctx);
      return [ctx.g.expand(dy, shapeOf(ctx.g, x)), undefined];
    },
  },
  {
    opType: 'ReduceMean',
    nonDifferentiableInputs: [1],
    infer: inferReduce,
    grad: (ctx) => {
      const { g } = ctx;
      const { dy, x, axes } = keptGrad(ctx);
      return [g.expand(g.div(dy, reducedCount(g, x, axes)), shapeOf(g, x)), undefined];
    },
  },
  {
    opType: 'ReduceMax',
    nonDifferentiableInputs: [1],
    infer: inferReduce,
    grad: (ctx) => {
      const { g } = ctx;
      const { dy, x, y } = keptGrad(ctx);
      // Every element equal to the maximum receives the full gradient (ties are rare in floats).
      return [g.where(g.equal(x, y), dy, g.scalarLike(dy, 0)), undefined];
    },
  },
  {
    opType: 'ReduceProd',
    nonDifferentiableInputs: [1],
    infer: inferReduce,
  },
];
