import { describe, expect, it } from 'vitest';
import { createLrSchedule } from './lr-schedule.js';

describe('createLrSchedule', () => {
  it('warms up linearly from 0, then follows a half cosine to 0', () => {
    const s = createLrSchedule({ lr: 1e-3, totalSteps: 110, warmupSteps: 10 });
    expect(s.lrAt(0)).toBe(0);
    expect(s.lrAt(5)).toBeCloseTo(5e-4, 12);
    expect(s.lrAt(10)).toBeCloseTo(1e-3, 12);
    // Half way through decay: 0.5 * (1 + cos(pi/2)) = 0.5.
    expect(s.lrAt(60)).toBeCloseTo(5e-4, 12);
    // A quarter: 0.5 * (1 + cos(pi/4)) = 0.853553...
    expect(s.lrAt(35)).toBeCloseTo(1e-3 * 0.8535533905932737, 12);
    expect(s.lrAt(110)).toBeCloseTo(0, 12);
  });

  it('decays linearly to a floor', () => {
    const s = createLrSchedule({ lr: 2, totalSteps: 10, decay: 'linear', minLrRatio: 0.1 });
    expect(s.lrAt(0)).toBe(2);
    expect(s.lrAt(5)).toBeCloseTo(2 * (0.1 + 0.9 * 0.5), 12);
    expect(s.lrAt(10)).toBeCloseTo(0.2, 12);
  });

  it('stays constant after warmup when asked', () => {
    const s = createLrSchedule({ lr: 1, totalSteps: 10, warmupSteps: 2, decay: 'constant' });
    expect([0, 1, 2, 9].map((i) => s.lrAt(i))).toEqual([0, 0.5, 1, 1]);
  });

  it('rejects invalid configurations naming the field', () => {
    expect(() => createLrSchedule({ lr: 0, totalSteps: 1 })).toThrow(/lr must be > 0/);
    expect(() => createLrSchedule({ lr: 1, totalSteps: 5, warmupSteps: 6 })).toThrow(/warmupSteps/);
  });
});
