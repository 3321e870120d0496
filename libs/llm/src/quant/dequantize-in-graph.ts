import {
  bnb4PairTable,
  dequantizeBnb4,
  isBnb4Codebook,
  matMulBnb4,
  type ExternalDataRef,
  type GraphBuilder,
  type Tensor,
} from '@lathe/graph';
import { blockAbsmax, type Quantized4bit } from './quantized-tensor.js';

/**
 * The initializers of one 4-bit weight in a graph, declared once; {@link emitDequantize4bit}
 * emits the nodes restoring it to fp32 and may be called again for a second copy (the backward
 * pass of QLoRA recomputes the weight instead of keeping the forward's fp32 copy alive), and
 * {@link emitMatMul4bit} multiplies by it without an fp32 copy where onnxruntime's kernel can.
 */
export interface FourBitGraphWeight {
  /** uint8 [padded/2]: the packed codes, zero-padded to whole blocks. */
  readonly packed: Tensor;
  /**
   * float32 [256, 2]: for each byte, the values of its high and low nibble; declared on first
   * use, so a weight used only through MatMulBnb4 (whose gradient brings its own table) has none.
   */
  readonly pairTable: Tensor;
  /** float32 [blocks]: the restored absmax of each block. */
  readonly absmax: Tensor;
  readonly blockSize: number;
  readonly shape: readonly number[];
  /**
   * Whether `com.microsoft.MatMulBnb4` computes x·Wᵀ with these tensors: a 2-D weight in whole
   * blocks whose codebook is the kernel's built-in NF4 or FP4 table (a checkpoint may carry its
   * own `quant_map`; those take the in-graph dequantization).
   */
  readonly matMulType: 'nf4' | 'fp4' | undefined;
}

/**
 * Where an initializer's bytes go: returned as is (inline in the model) or registered in an
 * external data file, as the frozen weights of a training graph are.
 */
export type InitializerStore = (name: string, data: Uint8Array | Float32Array) => ExternalDataRef;

/**
 * Declares a 4-bit weight's initializers: the packed bytes (uint8, zero-padded to whole blocks),
 * a 256-row table giving both nibbles' codebook values per byte, and the fp32 absmax per block
 * (double-quantized absmax are restored in JS: 32 bits per block instead of 8.5, i.e. +0.37 bit
 * per weight at block 64, and a graph without a second dequantization).
 *
 * @param name prefix of the initializers' names (e.g. the weight's Hugging Face name)
 * @param store where the bytes go; default inline
 */
export function declare4bitWeight(
  g: GraphBuilder,
  name: string,
  q: Quantized4bit,
  store?: InitializerStore,
): FourBitGraphWeight {
  const absmax = blockAbsmax(q);
  const blocks = absmax.length;
  const count = q.shape.reduce((a, d) => a * d, 1);
  const padded = blocks * q.blockSize; // even: block sizes are powers of two >= 32
  let bytes = q.packed;
  if (bytes.length !== padded / 2) {
    bytes = new Uint8Array(padded / 2);
    bytes.set(q.packed);
  }
  let pairTable: Tensor | undefined;
  return {
    packed: g.initializer(
      `${name}.nf4_packed`,
      'uint8',
      [padded / 2],
      store?.(`${name}.nf4_packed`, bytes) ?? bytes,
    ),
    get pairTable(): Tensor {
      pairTable ??= g.initializer(
        `${name}.nf4_pair_table`,
        'float32',
        [256, 2],
        bnb4PairTable(q.quantMap),
      );
      return pairTable;
    },
    absmax: g.initializer(
      `${name}.nf4_absmax`,
      'float32',
      [blocks],
      store?.(`${name}.nf4_absmax`, absmax) ?? absmax.slice(),
    ),
    blockSize: q.blockSize,
    shape: q.shape,
    matMulType:
      q.shape.length === 2 && padded === count && isBnb4Codebook(q.quantMap, q.quantType)
        ? q.quantType
        : undefined,
  };
}

/**
 * Emits the nodes restoring a declared 4-bit weight to fp32 (three passes over the weight;
 * bit-identical to {@link dequantizeTensor}: the same float32 products).
 *
 * @param after a tensor the dequantization must wait for (the activation that meets the weight),
 *   so the fp32 copy is made where it is used; see `dequantizeBnb4`. Default: none.
 * @returns float32 tensor of the weight's shape
 */
export function emitDequantize4bit(g: GraphBuilder, w: FourBitGraphWeight, after?: Tensor): Tensor {
  return dequantizeBnb4(g, w.packed, w.absmax, w.pairTable, w, after);
}

/**
 * x·Wᵀ for a declared 4-bit weight with `com.microsoft.MatMulBnb4` (no fp32 copy of W as a graph
 * tensor; its gradient in x dequantizes W once, when the gradient arrives), or undefined when the
 * kernel cannot compute this weight (see {@link FourBitGraphWeight.matMulType}).
 *
 * @param x float32 [M, in]
 * @returns float32 [M, out]
 */
export function emitMatMul4bit(
  g: GraphBuilder,
  x: Tensor,
  w: FourBitGraphWeight,
): Tensor | undefined {
  if (w.matMulType === undefined) return undefined;
  return matMulBnb4(g, x, w.packed, w.absmax, {
    shape: w.shape,
    blockSize: w.blockSize,
    type: w.matMulType,
  });
}

/**
 * Emits a 4-bit weight's fp32 values inside a graph, so a frozen base stays 4-bit in memory
 * (QLoRA's storage; ENGINE-NOTES: exact for gradients, as long as the session disables
 * ConstantFolding, which would fold it back to fp32 at load).
 * {@link declare4bitWeight} then {@link emitDequantize4bit}, with inline initializers.
 *
 * @param name prefix of the initializers' names (e.g. the weight's Hugging Face name)
 * @returns float32 tensor of `q.shape`
 */
export function dequantize4bitInGraph(g: GraphBuilder, name: string, q: Quantized4bit): Tensor {
  return emitDequantize4bit(g, declare4bitWeight(g, name, q));
}
