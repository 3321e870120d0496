import { describe, expect, it } from 'vitest';
import { clipGradNorm, globalGradNorm } from './grad-clip.js';

describe('clipGradNorm', () => {
  it('scales all gradients together to the max norm and returns the norm before clipping', () => {
    // Global norm over both tensors: sqrt(3^2 + 4^2 + 12^2) = 13.
    const a = new Float32Array([3, 4]);
    const b = new Float32Array([12]);
    const norm = clipGradNorm([a, b], 1);
    expect(norm).toBeCloseTo(13, 10);
    const coef = 1 / (13 + 1e-6);
    expect(Array.from(a)).toEqual([Math.fround(3 * coef), Math.fround(4 * coef)]);
    expect(b[0]).toBeCloseTo(12 * coef, 6);
    expect(globalGradNorm([a, b])).toBeCloseTo(1, 5);
  });

  it('leaves gradients under the limit untouched', () => {
    const a = new Float32Array([0.3, 0.4]);
    expect(clipGradNorm([a], 1)).toBeCloseTo(0.5, 7);
    expect(Array.from(a)).toEqual([Math.fround(0.3), Math.fround(0.4)]);
  });

  it('reports a non-finite norm without touching anything', () => {
    const a = new Float32Array([NaN, 1]);
    expect(clipGradNorm([a], 1)).toBeNaN();
    expect(a[1]).toBe(1);
  });
});
