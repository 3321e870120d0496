import { attr } from '../core/attribute.js';
import type { GraphBuilder } from '../core/graph-builder.js';
import { formatShape, isStaticShape, sameDim } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';

/**
 * Reduces a gradient computed at a broadcast shape back to the shape of the operand that was
 * broadcast (the adjoint of broadcasting). Static shapes give one ReduceSum over known axes and
 * at most a Squeeze; when a dim is symbolic and may or may not have been broadcast, the axes are
 * computed at run time from Shape (ReduceSum with noop_with_empty_axes).
 */
export function sumToShape(g: GraphBuilder, grad: Tensor, target: Tensor): Tensor {
  const gs = grad.shape;
  const ts = target.shape;
  if (gs === undefined || ts === undefined) {
    throw new Error(
      `cannot reduce gradient ${grad.name} ${formatShape(gs)} to the shape of ${target.name} ${formatShape(ts)}: unknown rank`,
    );
  }
  if (ts.length > gs.length) {
    throw new Error(
      `gradient ${grad.name} ${formatShape(gs)} has lower rank than ${target.name} ${formatShape(ts)}`,
    );
  }
  const lead = gs.length - ts.length;
  const leadingAxes = Array.from({ length: lead }, (_, i) => i);
  const innerAxes: number[] = [];
  let dynamic = false;
  for (let i = 0; i < ts.length; i++) {
    const dt = ts[i] ?? null;
    const dg = gs[i + lead] ?? null;
    if (sameDim(dt, dg)) continue;
    if (dt === 1) innerAxes.push(i + lead);
    else dynamic = true;
  }
  if (dynamic) return dynamicSumToShape(g, grad, target, lead);
  if (innerAxes.length === 0 && leadingAxes.length === 0) return grad;
  if (innerAxes.length === 0) return g.reduceSum(grad, leadingAxes, false);
  const reduced = g.reduceSum(grad, [...leadingAxes, ...innerAxes], true);
  if (lead === 0) return reduced;
  return isStaticShape(ts) ? g.reshape(reduced, ts) : g.squeeze(reduced, leadingAxes);
}

function dynamicSumToShape(g: GraphBuilder, grad: Tensor, target: Tensor, lead: number): Tensor {
  const one = g.int64s([1]);
  const targetShape = g.shape(target);
  const padded =
    lead > 0 ? g.concat([g.int64s(new Array<number>(lead).fill(1)), targetShape], 0) : targetShape;
  const broadcastAxes = g.and(g.equal(padded, one), g.not(g.equal(g.shape(grad), one)));
  const axes = g.reshape(g.node1('NonZero', [broadcastAxes]), [-1]);
  const reduced = g.node1('ReduceSum', [grad, axes], {
    keepdims: attr.int(1),
    noop_with_empty_axes: attr.int(1),
  });
  return g.reshape(reduced, targetShape);
}
