import type { GraphBuilder, Tensor } from '@lathe/graph';
import type { SequenceObjective } from '../model/training-graph.js';

/** DPO loss families: the paper's logistic loss (with optional label smoothing) or IPO's square. */
export type DpoLossType = 'sigmoid' | 'ipo';

/** Graph input [B]: reference log-probs per row, in the batch's row order (already scaled). */
export const REFERENCE_LOG_PROBS_INPUT = 'reference_log_probs';
/** Graph input [B]: multiplies each row's summed policy log-prob (1, or 1/length for IPO). */
export const RESPONSE_SCALE_INPUT = 'response_scale';
/** Graph input [P]: each pair's loss weight. */
export const PAIR_WEIGHTS_INPUT = 'pair_weights';
/** Graph input (scalar): β. */
export const BETA_INPUT = 'dpo_beta';
/** Graph input (scalar): ε of conservative DPO (sigmoid loss only). */
export const LABEL_SMOOTHING_INPUT = 'label_smoothing';
/** Graph output [P]: the unweighted loss of each pair. */
export const PAIR_LOSSES_OUTPUT = 'dpo_losses';

/**
 * The DPO loss over a batch whose first P rows are the chosen responses and whose last P rows
 * are the rejected ones, built from graph primitives so the trainable tensors' gradients come
 * from the same autodiff as the SFT loss.
 *
 * With d = (π_c − ref_c) − (π_r − ref_r): sigmoid gives −(1−ε)·log σ(βd) − ε·log σ(−βd);
 * ipo gives (d − 1/(2β))². The returned loss is Σ_p w_p·loss_p · loss_weight.
 *
 * log σ comes from a LogSoftmax over [0, βd]: onnxruntime's LogSoftmax subtracts the max, so it
 * neither overflows nor underflows, and its gradient is smooth at 0 (a relu/abs form of
 * softplus has a kink there, and the zero-initialized adapter starts exactly at d = 0).
 */
export function dpoObjective(lossType: DpoLossType): SequenceObjective {
  return (g: GraphBuilder, sequenceLogProbs: Tensor, lossWeight: Tensor): Tensor => {
    const refLogProbs = g.input(REFERENCE_LOG_PROBS_INPUT, 'float32', ['B']);
    const scale = g.input(RESPONSE_SCALE_INPUT, 'float32', ['B']);
    const weights = g.input(PAIR_WEIGHTS_INPUT, 'float32', ['P']);
    const beta = g.input(BETA_INPUT, 'float32', []);
    const smoothing = g.input(LABEL_SMOOTHING_INPUT, 'float32', []);
    const ratios = g.sub(g.mul(sequenceLogProbs, scale), refLogProbs); // [B]
    const [chosen, rejected] = g.split(g.reshape(ratios, [2, -1]), [1, 1], 0);
    if (!chosen || !rejected) throw new Error('Split gave fewer than two halves');
    const d = g.reshape(g.sub(chosen, rejected), [-1]); // [P]
    let losses: Tensor;
    if (lossType === 'ipo') {
      const target = g.div(g.scalar(1), g.mul(g.scalar(2), beta));
      const gap = g.sub(d, target);
      losses = g.mul(gap, gap);
    } else {
      const x = g.unsqueeze(g.mul(beta, d), [1]); // [P, 1]
      const lsm = g.logSoftmax(g.concat([g.mul(x, g.scalar(0)), x], 1), 1); // [P, 2]
      const [logSigNeg, logSigPos] = g.split(lsm, [1, 1], 1); // log σ(−x), log σ(x)
      if (!logSigNeg || !logSigPos) throw new Error('Split gave fewer than two columns');
      const keep = g.sub(g.scalar(1), smoothing);
      losses = g.reshape(g.neg(g.add(g.mul(keep, logSigPos), g.mul(smoothing, logSigNeg))), [-1]);
    }
    g.output(PAIR_LOSSES_OUTPUT, losses);
    return g.mul(g.reduceSum(g.mul(losses, weights), [0]), lossWeight);
  };
}
