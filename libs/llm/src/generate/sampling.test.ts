import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../optim/seeded-random.js';
import { argmax, sampleToken, validateSampling } from './sampling.js';

describe('sampleToken', () => {
  const logits = new Float32Array([0, Math.log(2), Math.log(4), Math.log(1), -Infinity]);

  it('greedy takes the first maximum', () => {
    expect(argmax(new Float32Array([1, 3, 3, 2]))).toBe(1);
    expect(sampleToken(logits, { greedy: true }, SeededRandom.fromSeed(1))).toBe(2);
  });

  it('samples in proportion to softmax probabilities (1:2:4:1)', () => {
    const rng = SeededRandom.fromSeed(7);
    const counts = [0, 0, 0, 0, 0];
    const n = 40_000;
    for (let i = 0; i < n; i++) counts[sampleToken(logits, {}, rng)]! += 1;
    // Standard error of a frequency here is below 0.0025; allow 4 of them.
    [1 / 8, 2 / 8, 4 / 8, 1 / 8, 0].forEach((p, i) =>
      expect(Math.abs(counts[i]! / n - p)).toBeLessThan(0.01),
    );
  });

  it('top-k keeps the k best, top-p the smallest set reaching p, temperature sharpens', () => {
    const rng = SeededRandom.fromSeed(3);
    const seen = (opts: Parameters<typeof sampleToken>[1]): Set<number> => {
      const s = new Set<number>();
      for (let i = 0; i < 2000; i++) s.add(sampleToken(logits, opts, rng));
      return s;
    };
    expect([...seen({ topK: 2 })].sort()).toEqual([1, 2]);
    // Sorted probabilities 0.5, 0.25, 0.125, 0.125: p = 0.7 needs the first two.
    expect([...seen({ topP: 0.7 })].sort()).toEqual([1, 2]);
    expect([...seen({ topP: 0.5 })]).toEqual([2]);
    expect([...seen({ temperature: 1e-3 })]).toEqual([2]);
  });

  it('is reproducible from the seed', () => {
    const draw = (seed: number): number[] => {
      const rng = SeededRandom.fromSeed(seed);
      return Array.from({ length: 20 }, () => sampleToken(logits, { temperature: 0.8 }, rng));
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
  });

  it('rejects bad options by name', () => {
    expect(() => validateSampling({ temperature: 0 })).toThrow(
      'temperature must be a positive number, got 0',
    );
    expect(() => validateSampling({ topP: 1.5 })).toThrow('top-p must be in (0, 1], got 1.5');
    expect(() => validateSampling({ topK: -1 })).toThrow(
      'top-k must be a non-negative integer, got -1',
    );
  });
});
