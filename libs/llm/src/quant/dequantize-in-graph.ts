import type { GraphBuilder, Tensor } from '@lathe/graph';
import { blockAbsmax, type Quantized4bit } from './quantized-tensor.js';

/**
 * Emits a 4-bit weight's fp32 values inside a graph, so a frozen base stays 4-bit in memory
 * (QLoRA's storage; ENGINE-NOTES: the validated alternative to MatMulBnb4, exact for gradients,
 * as long as the session disables ConstantFolding, which would fold it back to fp32 at load).
 *
 * Initializers: the packed bytes (uint8, zero-padded to whole blocks) and the restored fp32
 * absmax per block (double-quantized absmax are restored in JS: 32 bits per block instead of
 * 8.5, i.e. +0.37 bit per weight, and a graph without a second dequantization). Nibbles are
 * split with integer Div/Mul/Sub (the graph library has no bitwise ops), the codebook is a
 * 16-entry Gather, and the block scale a broadcast Mul, so the result is bit-identical to
 * {@link dequantizeTensor}.
 *
 * @param name prefix of the initializers' names (e.g. the weight's Hugging Face name)
 * @returns float32 tensor of `q.shape`
 */
export function dequantize4bitInGraph(g: GraphBuilder, name: string, q: Quantized4bit): Tensor {
  const count = q.shape.reduce((a, d) => a * d, 1);
  const absmax = blockAbsmax(q);
  const blocks = absmax.length;
  const padded = blocks * q.blockSize; // even: block sizes are powers of two >= 32
  const bytes = new Uint8Array(padded / 2);
  bytes.set(q.packed);
  const packed = g.cast(g.initializer(`${name}.nf4_packed`, 'uint8', [padded / 2], bytes), 'int32');
  const sixteen = g.constant('int32', [], [16]);
  const high = g.div(packed, sixteen); // integer division: the high nibble
  const low = g.sub(packed, g.mul(high, sixteen));
  // [padded/2, 2] -> [padded]: the high nibble is the earlier element.
  const codes = g.reshape(g.concat([g.unsqueeze(high, [1]), g.unsqueeze(low, [1])], 1), [padded]);
  const codebook = g.initializer(`${name}.nf4_quant_map`, 'float32', [16], q.quantMap.slice());
  const values = g.reshape(g.gather(codebook, codes), [blocks, q.blockSize]); // [blocks, bs]
  const scale = g.initializer(`${name}.nf4_absmax`, 'float32', [blocks, 1], absmax.slice());
  const flat = g.reshape(g.mul(values, scale), [padded]);
  const exact = padded === count ? flat : g.slice(flat, [0], [count]);
  return g.reshape(exact, [...q.shape]);
}
