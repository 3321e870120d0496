import { intAttribute } from '../core/attribute.js';
import type { OpDefinition } from '../core/op-definition.js';
import { formatShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { inputAt } from './infer-helpers.js';

/**
 * ONNX SoftmaxCrossEntropyLoss (reduction 'none', logits [N, C], labels [N]) with a gradient
 * rule from forward ops: d logits = (softmax − onehot(label)) · dloss, zero on ignored rows,
 * plus the log-softmax adjoint when the log_prob output is used too.
 */
export const LOSS_OPS: readonly OpDefinition[] = [
  {
    opType: 'SoftmaxCrossEntropyLoss',
    nonDifferentiableInputs: [1, 2],
    infer: (ctx) => {
      const logits = inputAt(ctx, 0);
      const labels = inputAt(ctx, 1);
      if (ctx.inputs[2])
        throw new Error('SoftmaxCrossEntropyLoss: class weights are not supported');
      if (
        ctx.attributes['reduction']?.kind !== 'string' ||
        ctx.attributes['reduction'].value !== 'none'
      ) {
        throw new Error(
          "SoftmaxCrossEntropyLoss: only reduction 'none' is supported (reduce in the graph instead)",
        );
      }
      if (logits.rank !== undefined && logits.rank !== 2) {
        throw new Error(
          `SoftmaxCrossEntropyLoss: logits must be [N, C], got ${formatShape(logits.shape)}`,
        );
      }
      if (labels.dtype !== 'int64' && labels.dtype !== 'int32') {
        throw new Error(
          `SoftmaxCrossEntropyLoss: labels ${labels.name} must be int64 or int32, got ${labels.dtype}`,
        );
      }
      return [
        { dtype: logits.dtype, shape: labels.shape },
        { dtype: logits.dtype, shape: logits.shape },
      ].slice(0, ctx.outputCount);
    },
    grad: (ctx) => {
      const { g, node } = ctx;
      const logits = node.inputs[0];
      const labels = node.inputs[1];
      const logProb = node.outputs[1];
      if (!logits || !labels) throw new Error('SoftmaxCrossEntropyLoss gradient: missing inputs');
      if (!logProb)
        throw new Error(
          'SoftmaxCrossEntropyLoss gradient needs the log_prob output (emit 2 outputs)',
        );
      const [dLoss, dLogProb] = ctx.gradOutputs;
      const probs = g.exp(logProb); // [N, C]
      const terms: Tensor[] = [];
      if (dLoss) {
        const ignore = intAttribute(node.attributes, 'ignore_index', -100);
        const labels64 = labels.dtype === 'int64' ? labels : g.cast(labels, 'int64');
        const weight = g.where(
          g.equal(labels64, g.scalar(ignore, 'int64')),
          g.scalarLike(dLoss, 0),
          dLoss,
        ); // [N]
        const classes = g.range(
          g.scalar(0, 'int64'),
          g.squeeze(g.shape(logits, 1, 2), [0]),
          g.scalar(1, 'int64'),
        ); // [C]
        const oneHot = g.cast(g.equal(g.unsqueeze(labels64, [1]), classes), logits.dtype); // [N, C]
        terms.push(g.mul(g.sub(probs, oneHot), g.unsqueeze(weight, [1])));
      }
      if (dLogProb) terms.push(g.sub(dLogProb, g.mul(probs, g.reduceSum(dLogProb, [1], true))));
      const first = terms[0];
      if (!first) return [undefined, undefined];
      return [terms.length === 1 ? first : g.sum(terms), undefined];
    },
  },
];
