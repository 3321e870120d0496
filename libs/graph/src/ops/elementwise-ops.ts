import { intAttribute } from '../core/attribute.js';
import { isFloatDType, type DType } from '../core/dtype.js';
import type { OpDefinition } from '../core/op-definition.js';
import { broadcastShapes } from '../core/shape.js';
import { io, reduced } from './grad-helpers.js';
import { broadcastAll, inputAt, sameAsFirst } from './infer-helpers.js';

const DTYPE_BY_CODE: Readonly<Record<number, DType>> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  6: 'int32',
  7: 'int64',
  9: 'bool',
  10: 'float16',
  11: 'float64',
};

/** Elementwise arithmetic and unary math: forward inference and gradient rules. */
export const ELEMENTWISE_OPS: readonly OpDefinition[] = [
  {
    opType: 'Add',
    infer: broadcastAll,
    grad: (ctx) => {
      const { dy } = io(ctx);
      return [reduced(ctx, 0, () => dy), reduced(ctx, 1, () => dy)];
    },
  },
  {
    opType: 'Sub',
    infer: broadcastAll,
    grad: (ctx) => {
      const { dy } = io(ctx);
      return [reduced(ctx, 0, () => dy), reduced(ctx, 1, () => ctx.g.neg(dy))];
    },
  },
  {
    opType: 'Mul',
    infer: broadcastAll,
    grad: (ctx) => {
      const { x, dy } = io(ctx);
      return [
        reduced(ctx, 0, () => ctx.g.mul(dy, x(1))),
        reduced(ctx, 1, () => ctx.g.mul(dy, x(0))),
      ];
    },
  },
  {
    opType: 'Div',
    infer: broadcastAll,
    grad: (ctx) => {
      const { g } = ctx;
      const { x, y, dy } = io(ctx);
      // y = a/b: da = dy/b, db = −dy·y/b.
      return [
        reduced(ctx, 0, () => g.div(dy, x(1))),
        reduced(ctx, 1, () => g.neg(g.div(g.mul(dy, y(0)), x(1)))),
      ];
    },
  },
  {
    opType: 'Pow',
    infer: (ctx) => [
      {
        dtype: inputAt(ctx, 0).dtype,
        shape: broadcastShapes(inputAt(ctx, 0).shape, inputAt(ctx, 1).shape, 'Pow'),
      },
    ],
    grad: (ctx) => {
      const { g } = ctx;
      const { x, y, dy } = io(ctx);
      // y = a^p: da = dy·p·a^(p−1), dp = dy·y·ln a.
      const a = x(0);
      const p = x(1);
      return [
        reduced(ctx, 0, () => g.mul(dy, g.mul(p, g.pow(a, g.sub(p, g.scalarLike(p, 1)))))),
        reduced(ctx, 1, () => g.mul(dy, g.mul(y(0), g.log(a)))),
      ];
    },
  },
  {
    opType: 'Neg',
    infer: sameAsFirst,
    grad: (ctx) => [ctx.g.neg(io(ctx).dy)],
  },
  {
    opType: 'Sqrt',
    infer: sameAsFirst,
    grad: (ctx) => {
      const { y, dy } = io(ctx);
      // d√a = 1/(2√a).
      return [ctx.g.div(ctx.g.mul(dy, ctx.g.scalarLike(dy, 0.5)), y(0))];
    },
  },
  {
    opType: 'Reciprocal',
    infer: sameAsFirst,
    grad: (ctx) => {
      const { y, dy } = io(ctx);
      return [ctx.g.neg(ctx.g.mul(dy, ctx.g.mul(y(0), y(0))))];
    },
  },
  {
    opType: 'Exp',
    infer: sameAsFirst,
    grad: (ctx) => {
      const { y, dy } = io(ctx);
      return [ctx.g.mul(dy, y(0))];
    },
  },
  {
    opType: 'Log',
    infer: sameAsFirst,
    grad: (ctx) => {
      const { x, dy } = io(ctx);
      return [ctx.g.div(dy, x(0))];
    },
  },
  {
    opType: 'Abs',
    infer: sameAsFirst,
    grad: (ctx) => {
      const { x, dy } = io(ctx);
      return [ctx.g.mul(dy, ctx.g.node1('Sign', [x(0)]))];
    },
  },
  {
    opType: 'Sin',
    infer: sameAsFirst,
    grad: (ctx) => {
      const { x, dy } = io(ctx);
      return [ctx.g.mul(dy, ctx.g.cos(x(0)))];
    },
  },
  {
    opType: 'Cos',
    infer: sameAsFirst,
    grad: (ctx) => {
      const { x, dy } = io(ctx);
      return [ctx.g.neg(ctx.g.mul(dy, ctx.g.sin(x(0))))];
    },
  },
  {
    opType: 'Sigmoid',
    infer: sameAsFirst,
    grad: (ctx) => {
      const { g } = ctx;
      const { y, dy } = io(ctx);
      // σ' = σ(1 − σ).
      return [g.mul(dy, g.mul(y(0), g.sub(g.scalarLike(dy, 1), y(0))))];
    },
  },
  {
    opType: 'Tanh',
    infer: sameAsFirst,
    grad: (ctx) => {
      const { g } = ctx;
      const { y, dy } = io(ctx);
      return [g.mul(dy, g.sub(g.scalarLike(dy, 1), g.mul(y(0), y(0))))];
    },
  },
  {
    opType: 'Relu',
    infer: sameAsFirst,
    grad: (ctx) => {
      const { g } = ctx;
      const { x, dy } = io(ctx);
      return [g.where(g.greater(x(0), g.scalarLike(x(0), 0)), dy, g.scalarLike(dy, 0))];
    },
  },
  {
    opType: 'Sum',
    infer: broadcastAll,
    grad: (ctx) => {
      const { dy } = io(ctx);
      return ctx.node.inputs.map((_, i) => reduced(ctx, i, () => dy));
    },
  },
  {
    opType: 'Identity',
    infer: sameAsFirst,
    grad: (ctx) => [io(ctx).dy],
  },
  {
    opType: 'Sign',
    infer: sameAsFirst,
  },
  {
    opType: 'Cast',
    infer: (ctx) => {
      const to = DTYPE_BY_CODE[intAttribute(ctx.attributes, 'to', 1)];
      if (!to)
        throw new Error(
          `Cast: unsupported target type code ${intAttribute(ctx.attributes, 'to', 1)}`,
        );
      return [{ dtype: to, shape: inputAt(ctx, 0).shape }];
    },
    grad: (ctx) => {
      const { x, dy } = io(ctx);
      const from = x(0).dtype;
      return [isFloatDType(from) ? ctx.g.cast(dy, from) : undefined];
    },
  },
  {
    opType: 'Where',
    nonDifferentiableInputs: [0],
    infer: (ctx) => {
      const a = inputAt(ctx, 1);
      const b = inputAt(ctx, 2);
      if (a.dtype !== b.dtype)
        throw new Error(`Where: ${a.name} is ${a.dtype} but ${b.name} is ${b.dtype}`);
      const shape = broadcastShapes(
        broadcastShapes(inputAt(ctx, 0).shape, a.shape, 'Where'),
        b.shape,
        'Where',
      );
      return [{ dtype: a.dtype, shape }];
    },
    grad: (ctx) => {
      const { g } = ctx;
      const { x, dy } = io(ctx);
      const zero = g.scalarLike(dy, 0);
      return [
        undefined,
        reduced(ctx, 1, () => g.where(x(0), dy, zero)),
        reduced(ctx, 2, () => g.where(x(0), zero, dy)),
      ];
    },
  },
];
