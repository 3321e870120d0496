import type { GraphBuilder } from '../core/graph-builder.js';
import type { Tensor } from '../core/tensor.js';

/**
 * Per-token negative log-likelihood of `labels` under softmax(`logits`): logits [..., V] and
 * int64 labels [...] give NLL [...], 0 where the label equals `ignoreIndex` (default −100, as in
 * PyTorch and Hugging Face). One SoftmaxCrossEntropyLoss on the flattened rows.
 */
export function tokenNll(
  g: GraphBuilder,
  logits: Tensor,
  labels: Tensor,
  ignoreIndex = -100,
): Tensor {
  const vocab = logits.shape?.[logits.shape.length - 1];
  if (logits.rank === 2 && labels.rank === 1)
    return g.softmaxCrossEntropyLoss(logits, labels, ignoreIndex).loss;
  const rows = g.reshape(
    logits,
    typeof vocab === 'number' ? [-1, vocab] : g.concat([g.int64s([-1]), g.shape(logits, -1)], 0),
  ); // [N, V]
  const { loss } = g.softmaxCrossEntropyLoss(rows, g.reshape(labels, [-1]), ignoreIndex); // [N]
  return g.reshape(loss, g.shape(labels));
}
