import type { GraphBuilder } from '../core/graph-builder.js';
import type { Shape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import type { TensorData } from '../session/tensor-data.js';
import { seededUniform } from './seeded-uniform.js';

/** One gradient-check case: inputs (by feed), the op(s) under test, and which inputs to differentiate. */
export interface OpGradientCase {
  readonly name: string;
  readonly feeds: Readonly<Record<string, TensorData>>;
  /** Declared shapes where they differ from the feed dims (symbolic dims). */
  readonly shapes?: Readonly<Record<string, Shape>>;
  readonly wrt: readonly string[];
  /** Builds the op(s) under test and returns their (any-shaped) result. */
  build(g: GraphBuilder, x: Readonly<Record<string, Tensor>>): Tensor;
}

function size(dims: readonly number[]): number {
  return dims.reduce((n, d) => n * d, 1);
}

/** A float64 feed of seeded uniform values in [lo, hi). */
export function f64(dims: readonly number[], seed: number, lo = -1, hi = 1): TensorData {
  return { dtype: 'float64', dims, data: seededUniform(seed, size(dims), lo, hi) };
}

function i64(dims: readonly number[], values: readonly number[]): TensorData {
  return { dtype: 'int64', dims, data: BigInt64Array.from(values, (v) => BigInt(v)) };
}

function bool(dims: readonly number[], values: readonly number[]): TensorData {
  return { dtype: 'bool', dims, data: Uint8Array.from(values) };
}

const T = (x: Readonly<Record<string, Tensor>>, name: string): Tensor => {
  const t = x[name];
  if (!t) throw new Error(`case input ${name} is missing`);
  return t;
};

/**
 * The gradient-check table: every op with a gradient rule appears in at least one case (a test
 * asserts it), with broadcasting, symbolic-dim and multi-use variants.
 */
export const OP_GRADIENT_CASES: readonly OpGradientCase[] = [
  {
    name: 'Add with broadcasting [2,3,4] + [3,1]',
    feeds: { a: f64([2, 3, 4], 1), b: f64([3, 1], 2) },
    wrt: ['a', 'b'],
    build: (g, x) => g.add(T(x, 'a'), T(x, 'b')),
  },
  {
    name: 'Add with a symbolic dim broadcast at run time [N,3] + [M,3], M = 1',
    feeds: { a: f64([4, 3], 3), b: f64([1, 3], 4) },
    shapes: { a: ['N', 3], b: ['M', 3] },
    wrt: ['a', 'b'],
    build: (g, x) => g.add(T(x, 'a'), T(x, 'b')),
  },
  {
    name: 'Sub with broadcasting [3] - [2,3]',
    feeds: { a: f64([3], 5), b: f64([2, 3], 6) },
    wrt: ['a', 'b'],
    build: (g, x) => g.sub(T(x, 'a'), T(x, 'b')),
  },
  {
    name: 'Mul with broadcasting [2,1,4] * [3,1]',
    feeds: { a: f64([2, 1, 4], 7), b: f64([3, 1], 8) },
    wrt: ['a', 'b'],
    build: (g, x) => g.mul(T(x, 'a'), T(x, 'b')),
  },
  {
    name: 'Mul of a tensor with itself (summed contributions)',
    feeds: { a: f64([2, 3], 9) },
    wrt: ['a'],
    build: (g, x) => g.mul(T(x, 'a'), g.exp(T(x, 'a'))),
  },
  {
    name: 'Div with broadcasting [2,3] / [3]',
    feeds: { a: f64([2, 3], 10), b: f64([3], 11, 0.5, 2) },
    wrt: ['a', 'b'],
    build: (g, x) => g.div(T(x, 'a'), T(x, 'b')),
  },
  {
    name: 'Pow base and exponent [2,3] ^ [3]',
    feeds: { a: f64([2, 3], 12, 0.5, 2), b: f64([3], 13, -1.5, 2.5) },
    wrt: ['a', 'b'],
    build: (g, x) => g.pow(T(x, 'a'), T(x, 'b')),
  },
  { name: 'Neg', feeds: { a: f64([2, 3], 14) }, wrt: ['a'], build: (g, x) => g.neg(T(x, 'a')) },
  {
    name: 'Sqrt',
    feeds: { a: f64([2, 3], 15, 0.3, 2) },
    wrt: ['a'],
    build: (g, x) => g.sqrt(T(x, 'a')),
  },
  {
    name: 'Reciprocal',
    feeds: { a: f64([2, 3], 16, 0.5, 2) },
    wrt: ['a'],
    build: (g, x) => g.reciprocal(T(x, 'a')),
  },
  { name: 'Exp', feeds: { a: f64([2, 3], 17) }, wrt: ['a'], build: (g, x) => g.exp(T(x, 'a')) },
  {
    name: 'Log',
    feeds: { a: f64([2, 3], 18, 0.3, 2) },
    wrt: ['a'],
    build: (g, x) => g.log(T(x, 'a')),
  },
  { name: 'Abs', feeds: { a: f64([2, 3], 19) }, wrt: ['a'], build: (g, x) => g.abs(T(x, 'a')) },
  {
    name: 'Sin',
    feeds: { a: f64([2, 3], 63, -3, 3) },
    wrt: ['a'],
    build: (g, x) => g.sin(T(x, 'a')),
  },
  {
    name: 'Cos',
    feeds: { a: f64([2, 3], 64, -3, 3) },
    wrt: ['a'],
    build: (g, x) => g.cos(T(x, 'a')),
  },
  {
    name: 'Sigmoid',
    feeds: { a: f64([2, 3], 20, -3, 3) },
    wrt: ['a'],
    build: (g, x) => g.sigmoid(T(x, 'a')),
  },
  {
    name: 'Tanh',
    feeds: { a: f64([2, 3], 21, -2, 2) },
    wrt: ['a'],
    build: (g, x) => g.tanh(T(x, 'a')),
  },
  { name: 'Relu', feeds: { a: f64([2, 3], 22) }, wrt: ['a'], build: (g, x) => g.relu(T(x, 'a')) },
  {
    name: 'Sum of three with broadcasting',
    feeds: { a: f64([2, 3], 23), b: f64([3], 24), c: f64([2, 1], 25) },
    wrt: ['a', 'b', 'c'],
    build: (g, x) => g.sum([T(x, 'a'), T(x, 'b'), T(x, 'c')]),
  },
  {
    name: 'Identity',
    feeds: { a: f64([2, 3], 26) },
    wrt: ['a'],
    build: (g, x) => g.identity(T(x, 'a')),
  },
  {
    name: 'Cast float32 -> float64 (float32 input, step 1e-3)',
    feeds: { a: { dtype: 'float32', dims: [2, 3], data: Float32Array.from(seededUniform(27, 6)) } },
    wrt: ['a'],
    build: (g, x) => g.mul(g.cast(T(x, 'a'), 'float64'), g.exp(g.cast(T(x, 'a'), 'float64'))),
  },
  {
    name: 'Where with broadcasting (cond [2,3], a [2,3], b [3])',
    feeds: { c: bool([2, 3], [1, 0, 1, 0, 0, 1]), a: f64([2, 3], 28), b: f64([3], 29) },
    wrt: ['a', 'b'],
    build: (g, x) => g.where(T(x, 'c'), T(x, 'a'), T(x, 'b')),
  },
  {
    name: 'MatMul 2-D',
    feeds: { a: f64([3, 4], 30), b: f64([4, 2], 31) },
    wrt: ['a', 'b'],
    build: (g, x) => g.matmul(T(x, 'a'), T(x, 'b')),
  },
  {
    name: 'MatMul [B,T,K] x [K,N] with symbolic B, T (Gemm-folded rule)',
    feeds: { a: f64([2, 3, 4], 32), b: f64([4, 5], 33) },
    shapes: { a: ['B', 'T', 4] },
    wrt: ['a', 'b'],
    build: (g, x) => g.matmul(T(x, 'a'), T(x, 'b')),
  },
  {
    name: 'MatMul batched with batch broadcasting [2,1,3,4] x [1,3,4,2]',
    feeds: { a: f64([2, 1, 3, 4], 34), b: f64([1, 3, 4, 2], 35) },
    wrt: ['a', 'b'],
    build: (g, x) => g.matmul(T(x, 'a'), T(x, 'b')),
  },
  ...[false, true].flatMap((transA) =>
    [false, true].map((transB): OpGradientCase => ({
      name: `Gemm transA=${transA} transB=${transB} alpha 0.7 beta 1.3, C [4] broadcast`,
      feeds: {
        a: f64(transA ? [3, 2] : [2, 3], 36),
        b: f64(transB ? [4, 3] : [3, 4], 37),
        c: f64([4], 38),
      },
      wrt: ['a', 'b', 'c'],
      build: (g, x) =>
        g.gemm(T(x, 'a'), T(x, 'b'), T(x, 'c'), { transA, transB, alpha: 0.7, beta: 1.3 }),
    })),
  ),
  {
    name: 'Softmax last axis',
    feeds: { a: f64([2, 5], 39, -2, 2) },
    wrt: ['a'],
    build: (g, x) => g.softmax(T(x, 'a'), -1),
  },
  {
    name: 'Softmax axis 1 of 3',
    feeds: { a: f64([2, 3, 2], 40, -2, 2) },
    wrt: ['a'],
    build: (g, x) => g.softmax(T(x, 'a'), 1),
  },
  {
    name: 'LogSoftmax last axis',
    feeds: { a: f64([3, 4], 41, -2, 2) },
    wrt: ['a'],
    build: (g, x) => g.logSoftmax(T(x, 'a'), -1),
  },
  {
    name: 'ReduceSum axes [0,2] keepdims 0',
    feeds: { a: f64([2, 3, 4], 42) },
    wrt: ['a'],
    build: (g, x) => g.reduceSum(T(x, 'a'), [0, 2], false),
  },
  {
    name: 'ReduceSum axis -1 keepdims 1',
    feeds: { a: f64([2, 3], 43) },
    wrt: ['a'],
    build: (g, x) => g.reduceSum(T(x, 'a'), [-1], true),
  },
  {
    name: 'ReduceMean axis 1',
    feeds: { a: f64([2, 3, 2], 44) },
    wrt: ['a'],
    build: (g, x) => g.reduceMean(T(x, 'a'), [1], false),
  },
  {
    name: 'ReduceMean over a symbolic axis (count from Shape)',
    feeds: { a: f64([2, 5], 45) },
    shapes: { a: ['B', 'T'] },
    wrt: ['a'],
    build: (g, x) => g.reduceMean(T(x, 'a'), [-1], true),
  },
  {
    name: 'ReduceMax axis 1',
    feeds: { a: f64([3, 4], 46) },
    wrt: ['a'],
    build: (g, x) => g.reduceMax(T(x, 'a'), [1], false),
  },
  {
    name: 'Reshape with 0 and -1',
    feeds: { a: f64([2, 3, 4], 47) },
    wrt: ['a'],
    build: (g, x) => g.reshape(T(x, 'a'), [0, -1]),
  },
  {
    name: 'Transpose [2,0,1]',
    feeds: { a: f64([2, 3, 4], 48) },
    wrt: ['a'],
    build: (g, x) => g.transpose(T(x, 'a'), [2, 0, 1]),
  },
  {
    name: 'Unsqueeze then Squeeze',
    feeds: { a: f64([2, 3], 49) },
    wrt: ['a'],
    build: (g, x) => g.squeeze(g.mul(g.unsqueeze(T(x, 'a'), [0, 2]), g.scalar(3, 'float64')), [0]),
  },
  {
    name: 'Slice with negative start on the last axis',
    feeds: { a: f64([2, 5], 50) },
    wrt: ['a'],
    build: (g, x) => g.slice(T(x, 'a'), [-3], [-1], [1]),
  },
  {
    name: 'Slice on a symbolic axis (pads from Shape)',
    feeds: { a: f64([2, 6], 51) },
    shapes: { a: ['B', 'T'] },
    wrt: ['a'],
    build: (g, x) => g.slice(T(x, 'a'), [1, 2], [2, 5], [0, 1]),
  },
  {
    name: 'Concat of three along axis 1 (one input used twice)',
    feeds: { a: f64([2, 2], 52), b: f64([2, 3], 53) },
    wrt: ['a', 'b'],
    build: (g, x) => g.concat([T(x, 'a'), T(x, 'b'), T(x, 'a')], 1),
  },
  {
    name: 'Concat on symbolic dims',
    feeds: { a: f64([2, 3], 54), b: f64([1, 3], 55) },
    shapes: { a: ['N', 3], b: ['M', 3] },
    wrt: ['a', 'b'],
    build: (g, x) => g.concat([T(x, 'a'), T(x, 'b')], 0),
  },
  {
    name: 'Split into [1,3] with one part unused',
    feeds: { a: f64([2, 4], 56) },
    wrt: ['a'],
    build: (g, x) => {
      const [, right] = g.split(T(x, 'a'), [1, 3], 1);
      if (!right) throw new Error('Split gave no second part');
      return right;
    },
  },
  {
    name: 'Split with both parts used',
    feeds: { a: f64([3, 2], 57) },
    wrt: ['a'],
    build: (g, x) => {
      const [top, bottom] = g.split(T(x, 'a'), [1, 2], 0);
      if (!top || !bottom) throw new Error('Split gave too few parts');
      return g.mul(top, bottom);
    },
  },
  {
    name: 'Gather axis 0 (embedding) with repeated indices [2,3]',
    feeds: { a: f64([5, 3], 58), i: i64([2, 3], [0, 4, 4, 2, 0, 0]) },
    wrt: ['a'],
    build: (g, x) => g.gather(T(x, 'a'), T(x, 'i'), 0),
  },
  {
    name: 'Gather axis 1 with repeated indices',
    feeds: { a: f64([2, 4, 3], 59), i: i64([3], [3, 1, 3]) },
    wrt: ['a'],
    build: (g, x) => g.gather(T(x, 'a'), T(x, 'i'), 1),
  },
  {
    name: 'Expand [3,1] to [2,3,4]',
    feeds: { a: f64([3, 1], 60) },
    wrt: ['a'],
    build: (g, x) => g.expand(T(x, 'a'), [2, 3, 4]),
  },
  {
    name: 'SoftmaxCrossEntropyLoss with ignored rows',
    feeds: { a: f64([5, 4], 61, -2, 2), y: i64([5], [1, -100, 3, 0, -100]) },
    wrt: ['a'],
    build: (g, x) => g.softmaxCrossEntropyLoss(T(x, 'a'), T(x, 'y')).loss,
  },
  {
    name: 'SoftmaxCrossEntropyLoss with its log_prob output used too',
    feeds: { a: f64([3, 4], 62, -2, 2), y: i64([3], [2, 0, -100]) },
    wrt: ['a'],
    build: (g, x) => {
      const { loss, logProb } = g.softmaxCrossEntropyLoss(T(x, 'a'), T(x, 'y'));
      return g.add(g.reduceSum(logProb, [1], false), loss);
    },
  },
];
