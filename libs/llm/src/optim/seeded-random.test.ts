import { describe, expect, it } from 'vitest';
import { SeededRandom } from './seeded-random.js';

describe('SeededRandom', () => {
  it('is deterministic per seed and differs between seeds', () => {
    const draw = (seed: number): number[] => {
      const r = SeededRandom.fromSeed(seed);
      return Array.from({ length: 8 }, () => r.nextUint32());
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
    expect(draw(2 ** 32)).not.toEqual(draw(0));
  });

  it('resumes exactly from an exported state', () => {
    const a = SeededRandom.fromSeed(7);
    for (let i = 0; i < 5; i++) a.nextFloat();
    const b = SeededRandom.fromState(a.state());
    expect(Array.from({ length: 10 }, () => b.nextFloat())).toEqual(
      Array.from({ length: 10 }, () => a.nextFloat()),
    );
  });

  it('splits named streams without advancing the parent', () => {
    const a = SeededRandom.fromSeed(1);
    const before = a.state();
    const x = a.split('data').nextUint32();
    expect(a.state()).toEqual(before);
    expect(a.split('data').nextUint32()).toBe(x);
    expect(a.split('lora').nextUint32()).not.toBe(x);
  });

  it('draws uniform floats with the right mean and integers in range', () => {
    const r = SeededRandom.fromSeed(5);
    let sum = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) sum += r.nextFloat();
    // Standard error of the mean of U(0,1) over 20000 draws is 0.002; allow 5 sigma.
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.01);
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) counts[r.nextInt(3)]! += 1;
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(150);
  });

  it('shuffles into a permutation and makes inverted-dropout masks', () => {
    const r = SeededRandom.fromSeed(9);
    const items = r.shuffle(Array.from({ length: 50 }, (_, i) => i));
    expect([...items].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(items).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
    const mask = r.dropoutMask(10000, 0.25);
    const kept = mask.filter((v) => v !== 0);
    expect(new Set(kept)).toEqual(new Set([Math.fround(1 / 0.75)]));
    expect(Math.abs(kept.length / 10000 - 0.75)).toBeLessThan(0.03);
  });
});
