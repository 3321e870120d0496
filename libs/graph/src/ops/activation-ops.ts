import { intAttribute } from '../core/attribute.js';
import type { OpDefinition } from '../core/op-definition.js';
import { io } from './grad-helpers.js';
import { sameAsFirst } from './infer-helpers.js';

/** Softmax and LogSoftmax (opset 13 semantics: one axis), backward from forward ops only. */
export const ACTIVATION_OPS: readonly OpDefinition[] = [
  {
    opType: 'Softmax',
    infer: sameAsFirst,
    grad: (ctx) => {
      const { g, node } = ctx;
      const { y, dy } = io(ctx);
      const axis = intAttribute(node.attributes, 'axis', -1);
      // dx = y ⊙ (dy − Σ_axis dy ⊙ y); the CPU build has no SoftmaxGrad kernel.
      const s = y(0);
      return [g.mul(s, g.sub(dy, g.reduceSum(g.mul(dy, s), [axis], true)))];
    },
  },
  {
    opType: 'LogSoftmax',
    infer: sameAsFirst,
    grad: (ctx) => {
      const { g, node } = ctx;
      const { y, dy } = io(ctx);
      const axis = intAttribute(node.attributes, 'axis', -1);
      // dx = dy − softmax ⊙ Σ_axis dy, softmax = exp(log-softmax).
      return [g.sub(dy, g.mul(g.exp(y(0)), g.reduceSum(dy, [axis], true)))];
    },
  },
];
