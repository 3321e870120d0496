import { describe, expect, it } from 'vitest';
import { AdamW } from '../optim/adamw.js';
import { CHECKPOINT_FORMAT, type Checkpoint } from '../train/checkpoint.js';
import { referenceFromCheckpoint, referenceTensors } from './dpo-checkpoint.js';

function checkpointWith(extra: Checkpoint['extra']): Checkpoint {
  return {
    state: {
      format: CHECKPOINT_FORMAT,
      step: 2,
      data: { epoch: 0, stepInEpoch: 2 },
      rng: [1, 2, 3, 4],
      fingerprint: {},
      tokensSeen: 0,
      lastLoss: 0.5,
    },
    trainable: new Map(),
    optimizer: new AdamW().state(),
    ...(extra === undefined ? {} : { extra }),
  };
}

describe('DPO checkpoint reference cache', () => {
  const cache = { train: Float32Array.of(-1, -2, -3, -4), eval: Float32Array.of(-5, -6) };

  it('comes back as it was stored, per split, as [2, pairs] tensors', () => {
    const tensors = referenceTensors(cache);
    expect([...tensors.values()].map((t) => t.shape)).toEqual([
      [2, 2],
      [2, 1],
    ]);
    expect(referenceFromCheckpoint('/c', checkpointWith(tensors), { train: 2, eval: 1 })).toEqual(
      cache,
    );
  });

  it('is refused when sized for other data or missing (an SFT checkpoint)', () => {
    const sized = checkpointWith(referenceTensors(cache));
    expect(() => referenceFromCheckpoint('/c', sized, { train: 3, eval: 1 })).toThrow(
      '/c: "reference_logps.train" holds 4 log-probs; this run\'s 3 pairs need 6',
    );
    expect(() =>
      referenceFromCheckpoint('/c', checkpointWith(undefined), { train: 2, eval: 1 }),
    ).toThrow('/c: no "reference_logps.train": not a DPO checkpoint');
  });
});
