import { describe, expect, it } from 'vitest';
import { FP4, NF4 } from './codebooks.js';
import { DYNAMIC_MAP, nearestDynamicCode } from './dynamic-map.js';

describe('4-bit codebooks', () => {
  it('NF4 is the QLoRA table: ascending, exact zero at code 7, ends at -1 and 1', () => {
    expect(NF4.codebook.length).toBe(16);
    for (let i = 1; i < 16; i++) expect(NF4.codebook[i]!).toBeGreaterThan(NF4.codebook[i - 1]!);
    expect([NF4.codebook[0], NF4.codebook[7], NF4.codebook[15]]).toEqual([-1, 0, 1]);
    // Every code is its own nearest code, and 0 (the padding value) encodes as code 7.
    for (let c = 0; c < 16; c++) expect(NF4.encode(NF4.codebook[c]!)).toBe(c);
  });

  it('NF4 goes up only strictly past a float32 midpoint; NaN lands on code 0', () => {
    const mid = Math.fround((NF4.codebook[8]! + NF4.codebook[9]!) / 2);
    expect(NF4.encode(mid)).toBe(8);
    const above = new Float32Array([mid]);
    new Uint32Array(above.buffer)[0]! += 1; // next float32 up
    expect(NF4.encode(above[0]!)).toBe(9);
    expect(NF4.encode(NaN)).toBe(0);
  });

  it('FP4 codes are sign | exponent | mantissa, values divided by 12', () => {
    expect(FP4.codebook[0b0011]).toBe(1);
    expect(FP4.codebook[0b0010]).toBe(Math.fround(8 / 12));
    expect(FP4.codebook[0b1011]).toBe(-1);
    expect(FP4.encode(1)).toBe(0b0011);
    expect(FP4.encode(-0.5)).toBe(0b1101);
    expect(FP4.encode(-0)).toBe(0);
    // The kernel's literal 0.583333 (below the true midpoint 7/12) decides between 0.5 and 2/3.
    expect(FP4.encode(Math.fround(0.5833332))).toBe(0b0010);
    expect(FP4.encode(Math.fround(0.583333))).toBe(0b0101);
  });
});

describe('dynamic map', () => {
  it('has 256 ascending values with one zero, up to 1 and down to -(1 - 0.9/128) (no -1)', () => {
    expect(DYNAMIC_MAP.length).toBe(256);
    for (let i = 1; i < 256; i++) expect(DYNAMIC_MAP[i]!).toBeGreaterThan(DYNAMIC_MAP[i - 1]!);
    expect(DYNAMIC_MAP[0]).toBeCloseTo(-(1 - 0.9 / 128), 7);
    expect(DYNAMIC_MAP[255]).toBe(1);
    expect(DYNAMIC_MAP.filter((v) => v === 0).length).toBe(1);
    // The smallest magnitude is 1e-6 · (0.1 + 1) / 2.
    const smallest = Math.min(...Array.from(DYNAMIC_MAP).filter((v) => v > 0));
    expect(smallest).toBeCloseTo(0.55e-6, 12);
  });

  it('search returns the nearest code, ties staying on the even index', () => {
    for (let i = 0; i < 256; i++) expect(nearestDynamicCode(DYNAMIC_MAP, DYNAMIC_MAP[i]!)).toBe(i);
    for (const x of [-0.9999, -0.3, -1e-7, 0, 2e-6, 0.0123, 0.77, 0.99999]) {
      const code = nearestDynamicCode(DYNAMIC_MAP, Math.fround(x));
      const best = Math.min(...Array.from(DYNAMIC_MAP, (v) => Math.abs(v - Math.fround(x))));
      expect(Math.abs(DYNAMIC_MAP[code]! - Math.fround(x))).toBe(best);
    }
    const odd = 101;
    const mid = Math.fround((DYNAMIC_MAP[odd]! + DYNAMIC_MAP[odd + 1]!) * 0.5);
    expect(nearestDynamicCode(DYNAMIC_MAP, mid)).toBe(odd + 1);
    const mid2 = Math.fround((DYNAMIC_MAP[odd - 1]! + DYNAMIC_MAP[odd]!) * 0.5);
    expect(nearestDynamicCode(DYNAMIC_MAP, mid2)).toBe(odd - 1);
  });
});
