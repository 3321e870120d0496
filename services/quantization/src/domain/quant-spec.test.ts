import {
  QuantizationScheme,
  QuantizationSpec,
} from '@lathe/contracts/lathe/quantization/v1/quantization_job';
import { LatheError } from '@lathe/service-kit';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SKIP_TENSORS,
  cacheKeyOf,
  quantConfigOf,
  specOut,
  specViolations,
} from './quant-spec.js';

const NF4 = QuantizationScheme.QUANTIZATION_SCHEME_NF4;
const INT8 = QuantizationScheme.QUANTIZATION_SCHEME_INT8;
const spec = (fields: Partial<QuantizationSpec>): QuantizationSpec =>
  QuantizationSpec.fromPartial({ scheme: NF4, ...fields });
const fields = (s: QuantizationSpec): string[] => specViolations(s).map((v) => v.field);
const DIGEST = 'a'.repeat(64);

describe('specViolations', () => {
  it('accepts every block size bitsandbytes has kernels for, and the default skip list', () => {
    for (const blockSize of [32, 64, 128, 256, 512, 1024, 2048, 4096])
      expect(fields(spec({ blockSize }))).toEqual([]);
    expect(fields(spec({ skipTensors: [...DEFAULT_SKIP_TENSORS].reverse() }))).toEqual([]);
    expect(fields(spec({ doubleQuant: true, doubleQuantBlockSize: 256 }))).toEqual([]);
  });

  it('names each unsupported option with its field', () => {
    expect(specViolations(spec({ blockSize: 48 }))).toEqual([
      {
        field: 'spec.blockSize',
        description: expect.stringContaining('unsupported block size 48') as string,
      },
    ]);
    expect(fields(spec({ blockSize: 16 }))).toEqual(['spec.blockSize']);
    expect(fields(spec({ blockSize: 8192 }))).toEqual(['spec.blockSize']);
    expect(fields(spec({ scheme: 99 as QuantizationScheme }))).toEqual(['spec.scheme']);
    expect(fields(spec({ doubleQuant: true, doubleQuantBlockSize: 128 }))).toEqual([
      'spec.doubleQuantBlockSize',
    ]);
    expect(fields(spec({ doubleQuantBlockSize: 256 }))).toEqual(['spec.doubleQuantBlockSize']);
    expect(fields(spec({ skipTensors: ['*mlp*'] }))).toEqual(['spec.skipTensors']);
    expect(fields(spec({ scheme: INT8, blockSize: 64, doubleQuant: true }))).toEqual([
      'spec.blockSize',
      'spec.doubleQuant',
    ]);
  });
});

describe('quantConfigOf', () => {
  it('fills in block 64 and takes double quantization as the request says (unset: off)', () => {
    expect(quantConfigOf(spec({}))).toEqual({
      scheme: 'nf4',
      blockSize: 64,
      doubleQuant: false,
      nestedBlockSize: 256,
    });
    expect(quantConfigOf(spec({ blockSize: 128, doubleQuant: true }))).toMatchObject({
      blockSize: 128,
      doubleQuant: true,
    });
    expect(quantConfigOf(spec({ scheme: INT8 })).scheme).toBe('int8');
  });

  it('throws INVALID_ARGUMENT listing the violations, and for a missing scheme', () => {
    const bad = (() => {
      try {
        quantConfigOf(spec({ blockSize: 100 }));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(bad).toBeInstanceOf(LatheError);
    expect((bad as LatheError).details.fieldViolations?.map((v) => v.field)).toEqual([
      'spec.blockSize',
    ]);
    expect(() =>
      quantConfigOf(spec({ scheme: QuantizationScheme.QUANTIZATION_SCHEME_UNSPECIFIED })),
    ).toThrow(/spec.scheme/);
  });

  it('reports what was applied: int8 carries no block size or double quantization', () => {
    expect(specOut(quantConfigOf(spec({ doubleQuant: true })))).toEqual({
      scheme: NF4,
      blockSize: 64,
      doubleQuant: true,
      doubleQuantBlockSize: 256,
      skipTensors: DEFAULT_SKIP_TENSORS,
    });
    expect(specOut(quantConfigOf(spec({ scheme: INT8 })))).toMatchObject({
      scheme: INT8,
      blockSize: undefined,
      doubleQuant: false,
    });
  });
});

describe('cacheKeyOf', () => {
  const key = (s: Partial<QuantizationSpec>, digest = DIGEST): string =>
    cacheKeyOf(digest, quantConfigOf(spec(s)));

  it('is equal for the same source digest and applied spec', () => {
    expect(key({})).toBe(key({ blockSize: 64 }));
    expect(key({ doubleQuant: true })).toBe(key({ doubleQuant: true, doubleQuantBlockSize: 256 }));
    expect(key({})).toMatch(/^[0-9a-f]{64}$/);
  });

  it('differs with the digest, the scheme, the block size and double quantization', () => {
    const keys = [
      key({}),
      key({}, 'b'.repeat(64)),
      key({ scheme: QuantizationScheme.QUANTIZATION_SCHEME_FP4 }),
      key({ scheme: INT8 }),
      key({ blockSize: 128 }),
      key({ doubleQuant: true }),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });
});
