import { intAttribute } from '../core/attribute.js';
import type { GraphBuilder } from '../core/graph-builder.js';
import type { OpDefinition } from '../core/op-definition.js';
import { formatShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import {
  bnb4Codebook,
  bnb4PairTable,
  bnb4TypeOf,
  dequantizeBnb4,
  type Bnb4Type,
} from '../composites/bnb4.js';
import { io } from './grad-helpers.js';
import { inputAt } from './infer-helpers.js';

/** One [256, 2] decoding table per graph and 4-bit type, shared by every gradient that needs it. */
const pairTables = new WeakMap<GraphBuilder, Map<Bnb4Type, Tensor>>();

function pairTableConstant(g: GraphBuilder, type: Bnb4Type): Tensor {
  let tables = pairTables.get(g);
  if (!tables) {
    tables = new Map();
    pairTables.set(g, tables);
  }
  let table = tables.get(type);
  if (!table) {
    table = g.constant('float32', [256, 2], [...bnb4PairTable(bnb4Codebook(type))]);
    tables.set(type, table);
  }
  return table;
}

/** onnxruntime's quantized contrib ops. */
export const QUANT_OPS: readonly OpDefinition[] = [
  {
    // Y [M, N] = A [M, K] · dequant(B)ᵀ, B the [N, K] weight packed 4-bit (bitsandbytes layout).
    opType: 'MatMulBnb4',
    domain: 'com.microsoft',
    infer: (ctx) => {
      const a = inputAt(ctx, 0);
      const b = inputAt(ctx, 1);
      const k = intAttribute(ctx.attributes, 'K', -1);
      const n = intAttribute(ctx.attributes, 'N', -1);
      if (k <= 0 || n <= 0) throw new Error('MatMulBnb4: attributes K and N must be positive');
      if (intAttribute(ctx.attributes, 'transB', 1) !== 1) {
        // ENGINE-NOTES: onnxruntime's CPU kernel ignores transB = 0 and computes A·Wᵀ anyway.
        throw new Error('MatMulBnb4: only transB = 1 is computed correctly by onnxruntime');
      }
      if (a.dtype !== 'float32' && a.dtype !== 'float16') {
        throw new Error(`MatMulBnb4: ${a.name} must be float32 or float16, got ${a.dtype}`);
      }
      if (b.dtype !== 'uint8') throw new Error(`MatMulBnb4: ${b.name} must be uint8`);
      if (a.rank !== undefined && a.rank !== 2) {
        throw new Error(`MatMulBnb4: ${a.name} must be 2-D, got ${formatShape(a.shape)}`);
      }
      const last = a.shape?.[1];
      if (typeof last === 'number' && last !== k) {
        throw new Error(`MatMulBnb4: ${a.name} ${formatShape(a.shape)} does not have K = ${k}`);
      }
      return [{ dtype: a.dtype, shape: [a.shape?.[0] ?? null, n] }];
    },
    nonDifferentiableInputs: [1, 2],
    grad: (ctx) => {
      const { g, node } = ctx;
      const { x, dy } = io(ctx);
      if (!ctx.needsGrad[0]) return [undefined, undefined, undefined];
      const type = bnb4TypeOf(intAttribute(node.attributes, 'quant_type', 1));
      const weight = dequantizeBnb4(
        g,
        x(1),
        x(2),
        pairTableConstant(g, type),
        {
          shape: [intAttribute(node.attributes, 'N', 0), intAttribute(node.attributes, 'K', 0)],
          blockSize: intAttribute(node.attributes, 'block_size', 64),
        },
        dy, // the fp32 copy is made when the gradient arrives and freed after its product
      );
      return [g.gemm(dy, weight), undefined, undefined]; // dA = dY · W
    },
  },
];
