import type { InferContext, OutputInfo } from '../core/op-definition.js';
import { broadcastShapes, type Dim } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';

/** The i-th input, throwing with the op name when it is missing. */
export function inputAt(ctx: InferContext, i: number): Tensor {
  const t = ctx.inputs[i];
  if (!t) throw new Error(`${ctx.opType}: input ${i} is missing`);
  return t;
}

/** Output like input 0 (unary elementwise ops). */
export function sameAsFirst(ctx: InferContext): OutputInfo[] {
  const x = inputAt(ctx, 0);
  return [{ dtype: x.dtype, shape: x.shape }];
}

/** Broadcast of all inputs, dtype of input 0; checks that float inputs agree on dtype. */
export function broadcastAll(ctx: InferContext): OutputInfo[] {
  const first = inputAt(ctx, 0);
  let shape = first.shape;
  for (let i = 1; i < ctx.inputs.length; i++) {
    const t = inputAt(ctx, i);
    if (t.dtype !== first.dtype) {
      throw new Error(`${ctx.opType}: ${first.name} is ${first.dtype} but ${t.name} is ${t.dtype}`);
    }
    shape = broadcastShapes(shape, t.shape, ctx.opType);
  }
  return [{ dtype: first.dtype, shape }];
}

/** Broadcast of the inputs with a bool result (comparisons). */
export function broadcastBool(ctx: InferContext): OutputInfo[] {
  const [info] = broadcastAll(ctx);
  return [{ dtype: 'bool', shape: info?.shape }];
}

/** Values of a shape-like 1-D int64 input as dims: constant values or symbolic shape values. */
export function dimValues(ctx: InferContext, i: number): readonly Dim[] | undefined {
  const t = ctx.inputs[i];
  return t?.constValues ?? t?.shapeValues;
}

/** Static values of an int64 constant input, or undefined. */
export function constInts(ctx: InferContext, i: number): readonly number[] | undefined {
  return ctx.inputs[i]?.constValues;
}
