import { attr, type AttributeValue } from './attribute.js';
import { onnxDataType, type DType } from './dtype.js';
import { GraphCore } from './graph-core.js';
import type { Tensor } from './tensor.js';

/** Options of {@link GraphBuilder.gemm}: Y = alpha·op(A)·op(B) + beta·C. */
export interface GemmOptions {
  /** Use Aᵀ. Default false. */
  readonly transA?: boolean;
  /** Use Bᵀ. Default false. */
  readonly transB?: boolean;
  /** Default 1. */
  readonly alpha?: number;
  /** Default 1. */
  readonly beta?: number;
}

/** Outputs of {@link GraphBuilder.softmaxCrossEntropyLoss}. */
export interface SoftmaxCrossEntropyOutputs {
  /** Per-row negative log-likelihood [N] (0 where the label is ignored). */
  readonly loss: Tensor;
  /** Log-probabilities [N, C]. */
  readonly logProb: Tensor;
}

/**
 * Builds an ONNX graph from TypeScript. One typed method per registered op; each emits a node
 * whose output dtype and shape the op's registry entry infers. Pass the builder explicitly to
 * the code that builds a model; there is no global graph.
 *
 * ```ts
 * const g = new GraphBuilder();
 * const x = g.input('x', 'float32', ['B', 4]);
 * const w = g.input('w', 'float32', [4, 3]);
 * g.output('y', g.sigmoid(g.matmul(x, w)));
 * ```
 */
export class GraphBuilder extends GraphCore {
  // Elementwise arithmetic (NumPy broadcasting).
  /** a + b */
  add(a: Tensor, b: Tensor): Tensor {
    return this.node1('Add', [a, b]);
  }
  /** a − b */
  sub(a: Tensor, b: Tensor): Tensor {
    return this.node1('Sub', [a, b]);
  }
  /** a · b */
  mul(a: Tensor, b: Tensor): Tensor {
    return this.node1('Mul', [a, b]);
  }
  /** a / b */
  div(a: Tensor, b: Tensor): Tensor {
    return this.node1('Div', [a, b]);
  }
  /** a ^ b */
  pow(a: Tensor, b: Tensor): Tensor {
    return this.node1('Pow', [a, b]);
  }
  /** −x */
  neg(x: Tensor): Tensor {
    return this.node1('Neg', [x]);
  }
  /** √x */
  sqrt(x: Tensor): Tensor {
    return this.node1('Sqrt', [x]);
  }
  /** 1/x */
  reciprocal(x: Tensor): Tensor {
    return this.node1('Reciprocal', [x]);
  }
  /** eˣ */
  exp(x: Tensor): Tensor {
    return this.node1('Exp', [x]);
  }
  /** ln x */
  log(x: Tensor): Tensor {
    return this.node1('Log', [x]);
  }
  /** |x| */
  abs(x: Tensor): Tensor {
    return this.node1('Abs', [x]);
  }
  /** sin x */
  sin(x: Tensor): Tensor {
    return this.node1('Sin', [x]);
  }
  /** cos x */
  cos(x: Tensor): Tensor {
    return this.node1('Cos', [x]);
  }
  /** 1 / (1 + e⁻ˣ) */
  sigmoid(x: Tensor): Tensor {
    return this.node1('Sigmoid', [x]);
  }
  /** tanh x */
  tanh(x: Tensor): Tensor {
    return this.node1('Tanh', [x]);
  }
  /** max(x, 0) */
  relu(x: Tensor): Tensor {
    return this.node1('Relu', [x]);
  }
  /** Elementwise sum of any number of tensors (one node). */
  sum(terms: readonly Tensor[]): Tensor {
    if (terms.length === 0) throw new Error('Sum needs at least one input');
    return this.node1('Sum', terms);
  }
  /** x unchanged, as a new value. */
  identity(x: Tensor): Tensor {
    return this.node1('Identity', [x]);
  }
  /** Converts the element type. */
  cast(x: Tensor, to: DType): Tensor {
    return this.node1('Cast', [x], { to: attr.int(onnxDataType(to)) });
  }
  /** cond ? a : b elementwise, with broadcasting. */
  where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
    return this.node1('Where', [cond, a, b]);
  }

  // Matrix products.
  /** NumPy matmul with batch broadcasting. */
  matmul(a: Tensor, b: Tensor): Tensor {
    return this.node1('MatMul', [a, b]);
  }
  /** alpha·op(A)·op(B) + beta·C on 2-D A and B, transposes folded into the kernel. */
  gemm(a: Tensor, b: Tensor, c?: Tensor, options: GemmOptions = {}): Tensor {
    const attributes: Record<string, AttributeValue> = {};
    if (options.transA) attributes['transA'] = attr.int(1);
    if (options.transB) attributes['transB'] = attr.int(1);
    if (options.alpha !== undefined) attributes['alpha'] = attr.float(options.alpha);
    if (options.beta !== undefined) attributes['beta'] = attr.float(options.beta);
    return this.node1('Gemm', c ? [a, b, c] : [a, b], attributes);
  }

  // Normalized exponentials.
  /** softmax along `axis` (default last). */
  softmax(x: Tensor, axis = -1): Tensor {
    return this.node1('Softmax', [x], { axis: attr.int(axis) });
  }
  /** log softmax along `axis` (default last). */
  logSoftmax(x: Tensor, axis = -1): Tensor {
    return this.node1('LogSoftmax', [x], { axis: attr.int(axis) });
  }

  // Reductions (axes may be negative).
  /** Sum over `axes`; `keepDims` keeps them as size 1. */
  reduceSum(x: Tensor, axes: readonly number[], keepDims = false): Tensor {
    return this.reduce('ReduceSum', x, axes, keepDims);
  }
  /** Mean over `axes`. */
  reduceMean(x: Tensor, axes: readonly number[], keepDims = false): Tensor {
    return this.reduce('ReduceMean', x, axes, keepDims);
  }
  /** Maximum over `axes` (gradient goes to every maximal element). */
  reduceMax(x: Tensor, axes: readonly number[], keepDims = false): Tensor {
    return this.reduce('ReduceMax', x, axes, keepDims);
  }

  // Shapes and indexing.
  /** Reshape; a number list may use 0 (copy that dim) and −1 (infer one dim). */
  reshape(x: Tensor, shape: readonly number[] | Tensor): Tensor {
    return this.node1('Reshape', [
      x,
      Array.isArray(shape) ? this.int64s(shape) : (shape as Tensor),
    ]);
  }
  /** Permutes axes. */
  transpose(x: Tensor, perm: readonly number[]): Tensor {
    return this.node1('Transpose', [x], { perm: attr.ints(perm) });
  }
  /** Inserts size-1 axes at `axes` (positions in the output). */
  unsqueeze(x: Tensor, axes: readonly number[]): Tensor {
    return this.node1('Unsqueeze', [x, this.int64s(axes)]);
  }
  /** Removes size-1 axes. */
  squeeze(x: Tensor, axes: readonly number[]): Tensor {
    return this.node1('Squeeze', [x, this.int64s(axes)]);
  }
  /** x[starts:ends:steps] along `axes` (default all leading axes), ONNX clamping rules. */
  slice(
    x: Tensor,
    starts: readonly number[],
    ends: readonly number[],
    axes?: readonly number[],
    steps?: readonly number[],
  ): Tensor {
    const ins: Tensor[] = [x, this.int64s(starts), this.int64s(ends)];
    if (axes || steps) ins.push(this.int64s(axes ?? starts.map((_, i) => i)));
    if (steps) ins.push(this.int64s(steps));
    return this.node1('Slice', ins);
  }
  /** Concatenates along `axis`. */
  concat(parts: readonly Tensor[], axis: number): Tensor {
    return this.node1('Concat', parts, { axis: attr.int(axis) });
  }
  /** Splits along `axis` into pieces of the given static sizes. */
  split(x: Tensor, sizes: readonly number[], axis: number): Tensor[] {
    return this.node(
      'Split',
      [x, this.int64s(sizes)],
      { axis: attr.int(axis) },
      { outputs: sizes.length },
    );
  }
  /** data indexed by `indices` along `axis` (embedding lookup with axis 0). */
  gather(data: Tensor, indices: Tensor, axis = 0): Tensor {
    return this.node1('Gather', [data, indices], { axis: attr.int(axis) });
  }
  /** Broadcasts x to `shape` (a 1-D int64 tensor or static dims). */
  expand(x: Tensor, shape: readonly number[] | Tensor): Tensor {
    return this.node1('Expand', [x, Array.isArray(shape) ? this.int64s(shape) : (shape as Tensor)]);
  }
  /** Pads with constant `value`; `pads` holds all begins then all ends. */
  pad(x: Tensor, pads: Tensor, value?: Tensor): Tensor {
    return this.node1('Pad', value ? [x, pads, value] : [x, pads]);
  }
  /** Scatters `updates` into a copy of `data` at `indices` (ONNX ScatterND), optionally adding. */
  scatterND(
    data: Tensor,
    indices: Tensor,
    updates: Tensor,
    reduction: 'none' | 'add' = 'none',
  ): Tensor {
    return this.node1(
      'ScatterND',
      [data, indices, updates],
      reduction === 'none' ? {} : { reduction: attr.string(reduction) },
    );
  }
  /** The shape of x as a 1-D int64 tensor (optionally dims start..end). */
  shape(x: Tensor, start?: number, end?: number): Tensor {
    const attributes: Record<string, AttributeValue> = {};
    if (start !== undefined) attributes['start'] = attr.int(start);
    if (end !== undefined) attributes['end'] = attr.int(end);
    return this.node1('Shape', [x], attributes);
  }
  /** A tensor of the given runtime shape filled with `value`. */
  constantOfShape(shape: Tensor, value: number, dtype: DType = 'float32'): Tensor {
    return this.node1('ConstantOfShape', [shape], { value: attr.tensor(dtype, [1], [value]) });
  }
  /** [start, start+delta, ...) below limit; all three are scalars of one dtype. */
  range(start: Tensor, limit: Tensor, delta: Tensor): Tensor {
    return this.node1('Range', [start, limit, delta]);
  }

  // Comparisons and logic (bool results, no gradients).
  /** a == b */
  equal(a: Tensor, b: Tensor): Tensor {
    return this.node1('Equal', [a, b]);
  }
  /** a < b */
  less(a: Tensor, b: Tensor): Tensor {
    return this.node1('Less', [a, b]);
  }
  /** a <= b */
  lessOrEqual(a: Tensor, b: Tensor): Tensor {
    return this.node1('LessOrEqual', [a, b]);
  }
  /** a > b */
  greater(a: Tensor, b: Tensor): Tensor {
    return this.node1('Greater', [a, b]);
  }
  /** a && b */
  and(a: Tensor, b: Tensor): Tensor {
    return this.node1('And', [a, b]);
  }
  /** a || b */
  or(a: Tensor, b: Tensor): Tensor {
    return this.node1('Or', [a, b]);
  }
  /** Bitwise a & b on integer tensors (unpacking quantized codes). */
  bitwiseAnd(a: Tensor, b: Tensor): Tensor {
    return this.node1('BitwiseAnd', [a, b]);
  }
  /** Shifts unsigned integers left or right by b bits (unpacking quantized codes). */
  bitShift(a: Tensor, b: Tensor, direction: 'LEFT' | 'RIGHT'): Tensor {
    return this.node1('BitShift', [a, b], { direction: attr.string(direction) });
  }
  /** !x */
  not(x: Tensor): Tensor {
    return this.node1('Not', [x]);
  }

  /**
   * ONNX SoftmaxCrossEntropyLoss with reduction 'none' on logits [N, C] and int64 labels [N]:
   * per-row NLL (0 at `ignoreIndex`) and the log-probabilities.
   */
  softmaxCrossEntropyLoss(
    logits: Tensor,
    labels: Tensor,
    ignoreIndex = -100,
  ): SoftmaxCrossEntropyOutputs {
    const [loss, logProb] = this.node(
      'SoftmaxCrossEntropyLoss',
      [logits, labels],
      { reduction: attr.string('none'), ignore_index: attr.int(ignoreIndex) },
      { outputs: 2 },
    );
    if (!loss || !logProb) throw new Error('SoftmaxCrossEntropyLoss: missing outputs');
    return { loss, logProb };
  }

  private reduce(opType: string, x: Tensor, axes: readonly number[], keepDims: boolean): Tensor {
    return this.node1(opType, [x, this.int64s(axes)], { keepdims: attr.int(keepDims ? 1 : 0) });
  }
}
