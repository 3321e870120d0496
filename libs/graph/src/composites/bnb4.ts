import { attr } from '../core/attribute.js';
import type { GraphBuilder } from '../core/graph-builder.js';
import type { Tensor } from '../core/tensor.js';

/**
 * Blockwise 4-bit weights in the bitsandbytes layout (QLoRA, Dettmers et al. 2023): a [N, K]
 * matrix flattened row-major, two 4-bit codes per byte with the even element in the high nibble,
 * each code an index into a 16-value codebook, scaled by the absmax of its block of
 * `blockSize` consecutive elements. onnxruntime's `com.microsoft.MatMulBnb4` multiplies by such a
 * weight without materializing it in fp32; this module emits that op and the in-graph
 * dequantization its gradient (and any other use of the fp32 values) needs.
 */

/** The two 4-bit data types, as `MatMulBnb4`'s `quant_type` attribute numbers them. */
export type Bnb4Type = 'fp4' | 'nf4';

const QUANT_TYPE: Readonly<Record<Bnb4Type, number>> = { fp4: 0, nf4: 1 };

/**
 * NF4: quantiles of N(0, 1) scaled to [-1, 1] with an exact zero (QLoRA §3, appendix E), in code
 * order; the float32 values bitsandbytes and onnxruntime's kernel both use.
 */
const NF4_VALUES = [
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
  -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
  0.7229568362236023, 1.0,
];

/**
 * FP4 as bitsandbytes lays it out: sign bit, then 2 exponent bits and 1 mantissa bit (bias 3,
 * with subnormals); magnitudes divided by 12 so the largest is 1. Code order is the bit pattern.
 */
const FP4_MAGNITUDES = [0, 0.0625, 8, 12, 4, 6, 2, 3];
const FP4_VALUES = [...FP4_MAGNITUDES, ...FP4_MAGNITUDES.map((m) => -m)].map((v) => v / 12);

/** The 16-value codebook of a 4-bit type in code order (a fresh float32 copy). */
export function bnb4Codebook(type: Bnb4Type): Float32Array {
  return Float32Array.from(type === 'nf4' ? NF4_VALUES : FP4_VALUES);
}

/** Whether `codebook` is exactly the built-in table of `type` (what `MatMulBnb4` decodes with). */
export function isBnb4Codebook(codebook: Float32Array, type: Bnb4Type): boolean {
  const builtIn = bnb4Codebook(type);
  return codebook.length === builtIn.length && builtIn.every((v, i) => Object.is(v, codebook[i]));
}

/**
 * byte -> [codebook[byte >> 4], codebook[byte & 15]], as a [256, 2] table: one Gather on the
 * packed bytes decodes both nibbles, the high one first.
 */
export function bnb4PairTable(codebook: Float32Array): Float32Array {
  const table = new Float32Array(512);
  for (let byte = 0; byte < 256; byte++) {
    table[2 * byte] = codebook[byte >> 4]!;
    table[2 * byte + 1] = codebook[byte & 0x0f]!;
  }
  return table;
}

/** How a packed weight is laid out. */
export interface Bnb4Layout {
  /** Shape of the fp32 weight (row-major); `MatMulBnb4` takes [N, K]. */
  readonly shape: readonly number[];
  /** Elements per absmax block. */
  readonly blockSize: number;
}

/** Number of absmax blocks of a layout (the last one may be partial). */
export function bnb4Blocks(layout: Bnb4Layout): number {
  const count = layout.shape.reduce((a, d) => a * d, 1);
  return Math.ceil(count / layout.blockSize);
}

/**
 * Emits the nodes restoring a packed weight to fp32: Cast the bytes to int32, Gather both
 * nibbles' values from `pairTable` ([256, 2], see {@link bnb4PairTable}), scale each block by its
 * absmax and drop the padding. The result is bit-identical to codebook[code] · absmax in float32.
 *
 * @param packed uint8 [bytes]: at least ⌈count/2⌉ bytes; zero-padded here to whole blocks
 * @param absmax float32 [blocks] (or [blocks, 1])
 * @param after a tensor the dequantization must wait for (the activation or gradient that meets
 *   the weight): the bytes are viewed through a Reshape whose target ([-1]) is computed from its
 *   shape, so the fp32 copy is made where it is used instead of wherever the scheduler puts nodes
 *   that depend on initializers only (onnxruntime can run those all first and keep every fp32
 *   copy alive at once). Default: none.
 * @returns float32 tensor of `layout.shape`
 */
export function dequantizeBnb4(
  g: GraphBuilder,
  packed: Tensor,
  absmax: Tensor,
  pairTable: Tensor,
  layout: Bnb4Layout,
  after?: Tensor,
): Tensor {
  const count = layout.shape.reduce((a, d) => a * d, 1);
  const blocks = bnb4Blocks(layout);
  const padded = blocks * layout.blockSize; // even: block sizes are even
  const bytes = packed.shape?.[0];
  if (packed.rank !== 1 || typeof bytes !== 'number' || bytes < Math.ceil(count / 2)) {
    throw new Error(`4-bit weight ${packed.name}: needs ${Math.ceil(count / 2)} packed bytes`);
  }
  let codes = packed;
  if (after !== undefined) {
    const rows = g.shape(after, 0, 1); // int64 [1]
    codes = g.reshape(codes, g.sub(g.sub(rows, rows), g.int64s([1]))); // target [-1]
  }
  if (bytes < padded / 2) {
    codes = g.pad(codes, g.int64s([0, padded / 2 - bytes]), g.constant('uint8', [], [0]));
  }
  const pairs = g.gather(pairTable, g.cast(codes, 'int32'), 0); // [padded/2, 2]
  const values = g.reshape(pairs, [blocks, layout.blockSize]);
  const scale = absmax.rank === 2 ? absmax : g.reshape(absmax, [blocks, 1]);
  const flat = g.reshape(g.mul(values, scale), [padded]);
  const exact = padded === count ? flat : g.slice(flat, [0], [count]);
  return g.reshape(exact, [...layout.shape]);
}

/** The attributes of a {@link matMulBnb4} node. */
export interface MatMulBnb4Options extends Bnb4Layout {
  readonly type: Bnb4Type;
}

/**
 * A·Wᵀ for a packed weight W [N, K] (`shape`), with onnxruntime's `com.microsoft.MatMulBnb4`:
 * the weight stays 4-bit in the graph and no fp32 copy is a graph tensor (the kernel restores it
 * into scratch memory per call). Only the layout onnxruntime computes correctly is emitted
 * (ENGINE-NOTES: B given as [N, K], i.e. `transB` 1). Differentiable in A: the gradient
 * dY·W dequantizes W in the graph, after dY exists.
 *
 * @param a float32 [M, K]
 * @param packed uint8 [⌈N·K/2⌉]
 * @param absmax float32 [⌈N·K/blockSize⌉]
 * @returns float32 [M, N]
 */
export function matMulBnb4(
  g: GraphBuilder,
  a: Tensor,
  packed: Tensor,
  absmax: Tensor,
  options: MatMulBnb4Options,
): Tensor {
  const [n, k] = options.shape;
  if (options.shape.length !== 2 || n === undefined || k === undefined) {
    throw new Error(`MatMulBnb4 needs a 2-D weight, got [${options.shape.join(', ')}]`);
  }
  const [y] = g.node(
    'MatMulBnb4',
    [a, packed, absmax],
    {
      K: attr.int(k),
      N: attr.int(n),
      block_size: attr.int(options.blockSize),
      quant_type: attr.int(QUANT_TYPE[options.type]),
    },
    { domain: 'com.microsoft' },
  );
  if (!y) throw new Error('MatMulBnb4 gave no output');
  return y;
}

/** The 4-bit type a `quant_type` attribute names. */
export function bnb4TypeOf(quantType: number): Bnb4Type {
  if (quantType === QUANT_TYPE.nf4) return 'nf4';
  if (quantType === QUANT_TYPE.fp4) return 'fp4';
  throw new Error(`MatMulBnb4: quant_type ${quantType} is neither 0 (FP4) nor 1 (NF4)`);
}
