/** The per-step and evaluation metrics, under the names TRL's DPOTrainer logs. */
export interface DpoMetrics {
  readonly loss: number;
  readonly 'rewards/chosen': number;
  readonly 'rewards/rejected': number;
  readonly 'rewards/accuracies': number;
  readonly 'rewards/margins': number;
  readonly 'logps/chosen': number;
  readonly 'logps/rejected': number;
}

/**
 * Metrics of P pairs from the policy's and the reference's (scaled) log-probs in batch order
 * (chosen rows, then rejected rows): reward = β·(π − ref); accuracy counts chosen > rejected
 * strictly (a tie, as at the start of LoRA training, is not a win), as TRL does. Means are over
 * pairs, unweighted.
 */
export function dpoMetrics(
  loss: number,
  policy: ArrayLike<number>,
  reference: ArrayLike<number>,
  beta: number,
): DpoMetrics {
  const p = policy.length / 2;
  if (!Number.isInteger(p) || p === 0 || reference.length !== policy.length)
    throw new RangeError(
      `DPO metrics need 2P policy and reference log-probs (got ${policy.length} and ${reference.length})`,
    );
  let chosen = 0;
  let rejected = 0;
  let wins = 0;
  let logpChosen = 0;
  let logpRejected = 0;
  for (let i = 0; i < p; i++) {
    const c = beta * ((policy[i] ?? 0) - (reference[i] ?? 0));
    const r = beta * ((policy[p + i] ?? 0) - (reference[p + i] ?? 0));
    chosen += c;
    rejected += r;
    if (c > r) wins += 1;
    logpChosen += policy[i] ?? 0;
    logpRejected += policy[p + i] ?? 0;
  }
  return {
    loss,
    'rewards/chosen': chosen / p,
    'rewards/rejected': rejected / p,
    'rewards/accuracies': wins / p,
    'rewards/margins': (chosen - rejected) / p,
    'logps/chosen': logpChosen / p,
    'logps/rejected': logpRejected / p,
  };
}
