import type { ExternalDataRef, GraphBuilder, Tensor } from '@lathe/graph';
import { blockAbsmax, type Quantized4bit } from './quantized-tensor.js';

/**
 * The initializers of one 4-bit weight in a graph, declared once; {@link emitDequantize4bit}
 * emits the nodes restoring it to fp32 and may be called again for a second copy (the backward
 * pass of QLoRA recomputes the weight instead of keeping the forward's fp32 copy alive).
 */
export interface FourBitGraphWeight {
  /** uint8 [padded/2]: the packed codes, zero-padded to whole blocks. */
  readonly packed: Tensor;
  /** float32 [256, 2]: for each byte, the values of its high and low nibble. */
  readonly pairTable: Tensor;
  /** float32 [blocks, 1]: the restored absmax of each block. */
  readonly absmax: Tensor;
  readonly blocks: number;
  readonly blockSize: number;
  readonly shape: readonly number[];
}

/**
 * Where an initializer's bytes go: returned as is (inline in the model) or registered in an
 * external data file, as the frozen weights of a training graph are.
 */
export type InitializerStore = (name: string, data: Uint8Array | Float32Array) => ExternalDataRef;

/** byte -> [codebook[byte >> 4], codebook[byte & 15]]: one Gather decodes both nibbles. */
function pairTable(quantMap: Float32Array): Float32Array {
  const table = new Float32Array(512);
  for (let byte = 0; byte < 256; byte++) {
    table[2 * byte] = quantMap[byte >> 4]!;
    table[2 * byte + 1] = quantMap[byte & 0x0f]!;
  }
  return table;
}

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
  const padded = blocks * q.blockSize; // even: block sizes are powers of two >= 32
  let bytes = q.packed;
  if (bytes.length !== padded / 2) {
    bytes = new Uint8Array(padded / 2);
    bytes.set(q.packed);
  }
  const table = pairTable(q.quantMap);
  return {
    packed: g.initializer(
      `${name}.nf4_packed`,
      'uint8',
      [padded / 2],
      store?.(`${name}.nf4_packed`, bytes) ?? bytes,
    ),
    pairTable: g.initializer(`${name}.nf4_pair_table`, 'float32', [256, 2], table),
    absmax: g.initializer(
      `${name}.nf4_absmax`,
      'float32',
      [blocks, 1],
      store?.(`${name}.nf4_absmax`, absmax) ?? absmax.slice(),
    ),
    blocks,
    blockSize: q.blockSize,
    shape: q.shape,
  };
}

/**
 * Emits the nodes restoring a declared 4-bit weight to fp32: Cast the bytes to int32, Gather
 * both nibbles' values from the pair table ([n/2, 2], the high nibble first, as bitsandbytes
 * packs them), scale each block by its absmax, and drop the padding. Three passes over the
 * weight; the result is bit-identical to {@link dequantizeTensor} (the same float32 products).
 *
 * @param after a tensor the dequantization must wait for (the activation that meets the weight):
 *   the bytes are viewed through a Reshape whose target ([-1]) is computed from its shape, so the
 *   fp32 copy is made where it is used instead of wherever the scheduler puts nodes that depend on
 *   initializers only (onnxruntime's order can run them all first and keep every fp32 copy alive).
 *   Default: none.
 * @returns float32 tensor of the weight's shape
 */
export function emitDequantize4bit(g: GraphBuilder, w: FourBitGraphWeight, after?: Tensor): Tensor {
  const count = w.shape.reduce((a, d) => a * d, 1);
  const padded = w.blocks * w.blockSize;
  let packed = w.packed;
  if (after !== undefined) {
    const rows = g.shape(after, 0, 1); // int64 [1]
    packed = g.reshape(packed, g.sub(g.sub(rows, rows), g.int64s([1]))); // target [-1]
  }
  const pairs = g.gather(w.pairTable, g.cast(packed, 'int32'), 0); // [padded/2, 2]
  const values = g.reshape(pairs, [w.blocks, w.blockSize]);
  const flat = g.reshape(g.mul(values, w.absmax), [padded]);
  const exact = padded === count ? flat : g.slice(flat, [0], [count]);
  return g.reshape(exact, [...w.shape]);
}

/**
 * Emits a 4-bit weight's fp32 values inside a graph, so a frozen base stays 4-bit in memory
 * (QLoRA's storage; ENGINE-NOTES: the validated alternative to MatMulBnb4, exact for gradients,
 * as long as the session disables ConstantFolding, which would fold it back to fp32 at load).
 * {@link declare4bitWeight} then {@link emitDequantize4bit}, with inline initializers.
 *
 * @param name prefix of the initializers' names (e.g. the weight's Hugging Face name)
 * @returns float32 tensor of `q.shape`
 */
export function dequantize4bitInGraph(g: GraphBuilder, name: string, q: Quantized4bit): Tensor {
  return emitDequantize4bit(g, declare4bitWeight(g, name, q));
}
