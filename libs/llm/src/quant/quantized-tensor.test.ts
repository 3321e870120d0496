import { describe, expect, it } from 'vitest';
import { createQuantConfig } from './quant-config.js';
import { QuantizationError } from './quantization-error.js';
import { pythonFloatRepr } from './python-json.js';
import { quantErrorStats } from './quality.js';
import { blockAbsmax, dequantizeTensor, quantizeTensor } from './quantized-tensor.js';
import { gaussian as normal } from './test-models.js';

describe('quantizeTensor', () => {
  it('NF4 of a normal matrix: ~20 dB SNR, error within half the widest code gap x absmax', () => {
    const data = normal(37 * 53, 1); // 1961 elements: odd, not a multiple of 64
    const q = quantizeTensor('w', { shape: [37, 53], data }, createQuantConfig());
    expect(q.kind).toBe('4bit');
    if (q.kind !== '4bit') return;
    expect(q.packed.length).toBe(981);
    const back = dequantizeTensor(q);
    const stats = quantErrorStats(data, back.data);
    // NF4 on Gaussian weights sits near 20 dB; the widest NF4 gap is 0.3038 (-1 to -0.6962).
    expect(stats.snrDb).toBeGreaterThan(18);
    expect(stats.snrDb).toBeLessThan(23);
    const absmax = blockAbsmax(q);
    for (let i = 0; i < data.length; i++) {
      expect(Math.abs(data[i]! - back.data[i]!)).toBeLessThanOrEqual(
        0.152 * absmax[Math.floor(i / 64)]! * 1.0001,
      );
    }
  });

  it('double quantization keeps absmax within 1% and costs 8.5 instead of 32 bits per block', () => {
    const data = normal(64 * 700, 2);
    const plain = quantizeTensor(
      'w',
      { shape: [700, 64], data },
      createQuantConfig({ doubleQuant: false }),
    );
    const nested = quantizeTensor('w', { shape: [700, 64], data }, createQuantConfig());
    if (plain.kind !== '4bit' || nested.kind !== '4bit') throw new Error('expected 4-bit');
    const exact = blockAbsmax(plain);
    const restored = blockAbsmax(nested);
    for (let i = 0; i < exact.length; i++) {
      expect(Math.abs(restored[i]! - exact[i]!) / exact[i]!).toBeLessThan(0.01);
    }
    expect(plain.packed).toEqual(nested.packed); // codes depend on the exact absmax only
  });

  it('an all-zero block restores to zero; with double quantization, to within its absmax error', () => {
    const data = new Float32Array(130);
    data.set(normal(64, 3), 64); // blocks: zeros, values, a 2-element tail of zeros
    for (const scheme of ['nf4', 'fp4'] as const) {
      const plain = quantizeTensor(
        'w',
        { shape: [130], data },
        createQuantConfig({ scheme, doubleQuant: false }),
      );
      for (const i of [0, 63, 128, 129]) expect(Math.abs(dequantizeTensor(plain).data[i]!)).toBe(0);
      // bitsandbytes normalizes a zero block to NaN (0 · 1/0), which takes code 0; its restored
      // absmax is then the nested 8-bit error, not 0. Kept for bit-exactness, and tiny.
      const nested = quantizeTensor('w', { shape: [130], data }, createQuantConfig({ scheme }));
      if (nested.kind !== '4bit') throw new Error('expected 4-bit');
      const restored = blockAbsmax(nested);
      expect(Math.abs(restored[0]!)).toBeLessThan(0.01 * restored[1]!);
    }
  });

  it('int8 per row: codes in [-127, 127], the row max maps to ±127, error <= absmax/254', () => {
    const data = normal(9 * 31, 4);
    const q = quantizeTensor('w', { shape: [9, 31], data }, createQuantConfig({ scheme: 'int8' }));
    if (q.kind !== 'int8') throw new Error('expected int8');
    const back = dequantizeTensor(q).data;
    for (let r = 0; r < 9; r++) {
      const row = q.codes.subarray(r * 31, r * 31 + 31);
      expect(Math.max(...Array.from(row, Math.abs))).toBe(127);
      for (let c = 0; c < 31; c++) {
        expect(Math.abs(back[r * 31 + c]! - data[r * 31 + c]!)).toBeLessThanOrEqual(
          (q.rowAbsmax[r]! / 254) * 1.0001,
        );
      }
    }
  });

  it('refuses NaN and Inf, naming the tensor and the element', () => {
    const data = normal(100, 5);
    data[42] = NaN;
    expect(() =>
      quantizeTensor(
        'model.layers.3.mlp.up_proj.weight',
        { shape: [100], data },
        createQuantConfig(),
      ),
    ).toThrow('tensor "model.layers.3.mlp.up_proj.weight": element 42 is NaN');
    data[42] = -Infinity;
    expect(() =>
      quantizeTensor('w', { shape: [100], data }, createQuantConfig({ scheme: 'int8' })),
    ).toThrow(QuantizationError);
  });
});

describe('createQuantConfig', () => {
  it('defaults to NF4, block 64, double quantization', () => {
    expect(createQuantConfig()).toEqual({
      scheme: 'nf4',
      blockSize: 64,
      doubleQuant: true,
      nestedBlockSize: 256,
    });
  });

  it('refuses an unknown scheme or block size, naming the field', () => {
    const err = (f: () => unknown): QuantizationError => {
      try {
        f();
      } catch (e) {
        return e as QuantizationError;
      }
      throw new Error('expected a refusal');
    };
    const scheme = err(() => createQuantConfig({ scheme: 'q3' as 'nf4' }));
    expect(scheme.field).toBe('scheme');
    expect(scheme.message).toContain(
      'unsupported quantization scheme "q3" (supported: nf4, fp4, int8)',
    );
    for (const blockSize of [16, 48, 8192, 63.5]) {
      const e = err(() => createQuantConfig({ blockSize }));
      expect(e.field).toBe('blockSize');
      expect(e.message).toContain(`unsupported block size ${blockSize}`);
    }
    expect(createQuantConfig({ blockSize: 4096 }).blockSize).toBe(4096);
  });
});

describe('pythonFloatRepr', () => {
  it('writes floats as Python repr does', () => {
    expect(pythonFloatRepr(0)).toBe('0.0');
    expect(pythonFloatRepr(1)).toBe('1.0');
    expect(pythonFloatRepr(0.0001)).toBe('0.0001');
    expect(pythonFloatRepr(0.00001)).toBe('1e-05');
    expect(pythonFloatRepr(1.5e-7)).toBe('1.5e-07');
    expect(pythonFloatRepr(Math.fround(0.0123))).toBe('0.012299999594688416');
    expect(pythonFloatRepr(1e16)).toBe('1e+16');
    expect(pythonFloatRepr(123456.5)).toBe('123456.5');
  });
});
