import { sumToShape } from '../autodiff/sum-to-shape.js';
import { floatAttribute, intAttribute } from '../core/attribute.js';
import type { GraphBuilder } from '../core/graph-builder.js';
import type { OpDefinition } from '../core/op-definition.js';
import { broadcastShapes, formatShape, type Dim } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { io, reduced, shapeOf } from './grad-helpers.js';
import { inputAt } from './infer-helpers.js';

/** Swaps the last two axes. */
function swapLast(g: GraphBuilder, t: Tensor): Tensor {
  const rank = t.rank;
  if (rank === undefined) throw new Error(`MatMul gradient: rank of ${t.name} is unknown`);
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return g.transpose(t, perm);
}

/** Views [..., K] as [M, K] (no copy in ORT); rank-2 tensors pass through. */
function flatten2d(g: GraphBuilder, t: Tensor): Tensor {
  if (t.rank === 2) return t;
  const last = t.shape?.[t.shape.length - 1];
  if (typeof last === 'number') return g.reshape(t, [-1, last]);
  return g.reshape(t, g.concat([g.int64s([-1]), g.shape(t, -1)], 0));
}

function matmulShape(
  a: readonly Dim[] | undefined,
  b: readonly Dim[] | undefined,
): Dim[] | undefined {
  if (a === undefined || b === undefined || a.length < 2 || b.length < 2) return undefined;
  const ka = a[a.length - 1] ?? null;
  const kb = b[b.length - 2] ?? null;
  if (typeof ka === 'number' && typeof kb === 'number' && ka !== kb) {
    throw new Error(`MatMul: inner dims differ: ${formatShape(a)} x ${formatShape(b)}`);
  }
  const batch = broadcastShapes(a.slice(0, -2), b.slice(0, -2), 'MatMul') ?? [];
  return [...batch, a[a.length - 2] ?? null, b[b.length - 1] ?? null];
}

/** MatMul and Gemm with gradients that fold transposes into Gemm where the operand is 2-D. */
export const MATMUL_OPS: readonly OpDefinition[] = [
  {
    opType: 'MatMul',
    infer: (ctx) => {
      const a = inputAt(ctx, 0);
      const b = inputAt(ctx, 1);
      if (a.dtype !== b.dtype)
        throw new Error(`MatMul: ${a.name} is ${a.dtype} but ${b.name} is ${b.dtype}`);
      return [{ dtype: a.dtype, shape: matmulShape(a.shape, b.shape) }];
    },
    grad: (ctx) => {
      const { g } = ctx;
      const { x, dy } = io(ctx);
      const a = x(0);
      const b = x(1);
      if ((a.rank ?? 0) < 2 || (b.rank ?? 0) < 2) {
        throw new Error(
          `MatMul gradient needs operands of known rank >= 2, got ${formatShape(a.shape)} x ${formatShape(b.shape)}`,
        );
      }
      if (b.rank === 2) {
        // Weight-like B [K, N]: fold the batch into rows so both products are single Gemms.
        const dy2 = flatten2d(g, dy); // [M, N]
        const da = ctx.needsGrad[0]
          ? a.rank === 2
            ? g.gemm(dy2, b, undefined, { transB: true })
            : g.reshape(g.gemm(dy2, b, undefined, { transB: true }), shapeOf(g, a))
          : undefined;
        const db = ctx.needsGrad[1]
          ? g.gemm(flatten2d(g, a), dy2, undefined, { transA: true })
          : undefined;
        return [da, db];
      }
      return [
        reduced(ctx, 0, () => g.matmul(dy, swapLast(g, b))),
        reduced(ctx, 1, () => g.matmul(swapLast(g, a), dy)),
      ];
    },
  },
  {
    opType: 'Gemm',
    infer: (ctx) => {
      const a = inputAt(ctx, 0);
      const b = inputAt(ctx, 1);
      const ta = intAttribute(ctx.attributes, 'transA', 0) === 1;
      const tb = intAttribute(ctx.attributes, 'transB', 0) === 1;
      if (a.rank !== undefined && a.rank !== 2)
        throw new Error(`Gemm: ${a.name} must be 2-D, got ${formatShape(a.shape)}`);
      if (b.rank !== undefined && b.rank !== 2)
        throw new Error(`Gemm: ${b.name} must be 2-D, got ${formatShape(b.shape)}`);
      const m = a.shape?.[ta ? 1 : 0] ?? null;
      const n = b.shape?.[tb ? 0 : 1] ?? null;
      return [{ dtype: a.dtype, shape: [m, n] }];
    },
    grad: (ctx) => {
      const { g, node } = ctx;
      const { x, dy } = io(ctx);
      const a = x(0);
      const b = x(1);
      const ta = intAttribute(node.attributes, 'transA', 0) === 1;
      const tb = intAttribute(node.attributes, 'transB', 0) === 1;
      const alpha = floatAttribute(node.attributes, 'alpha', 1);
      const beta = floatAttribute(node.attributes, 'beta', 1);
      // Y = α·op(A)·op(B) + β·C; each case below is one Gemm with the transposes folded in.
      const da = !ctx.needsGrad[0]
        ? undefined
        : ta
          ? g.gemm(b, dy, undefined, { transA: tb, transB: true, alpha })
          : g.gemm(dy, b, undefined, { transB: !tb, alpha });
      const db = !ctx.needsGrad[1]
        ? undefined
        : tb
          ? g.gemm(dy, a, undefined, { transA: true, transB: ta, alpha })
          : g.gemm(a, dy, undefined, { transA: !ta, alpha });
      const c = node.inputs[2];
      const dc =
        c && ctx.needsGrad[2]
          ? sumToShape(g, beta === 1 ? dy : g.mul(dy, g.scalarLike(dy, beta)), c)
          : undefined;
      return [da, db, dc];
    },
  },
];
