import { describe, expect, it } from 'vitest';
import { GraphBuilder } from './graph-builder.js';

describe('GraphBuilder shape inference', () => {
  it('broadcasts static and symbolic dims and names both shapes when they clash', () => {
    const g = new GraphBuilder();
    const a = g.input('a', 'float32', ['B', 1, 4]);
    const b = g.input('b', 'float32', ['T', 4]);
    expect(g.add(a, b).shape).toEqual(['B', 'T', 4]);
    const c = g.input('c', 'float32', [3]);
    expect(() => g.mul(a, c)).toThrow('Mul: shapes [B, 1, 4] and [3] do not broadcast');
  });

  it('infers MatMul, Reshape, Transpose, Slice, Concat, Gather and reductions', () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', ['B', 'T', 6]);
    const w = g.input('w', 'float32', [6, 4]);
    const h = g.matmul(x, w);
    expect(h.shape).toEqual(['B', 'T', 4]);
    expect(g.reshape(h, [0, 0, 2, 2]).shape).toEqual(['B', 'T', 2, 2]);
    expect(g.transpose(g.reshape(h, [0, 0, 2, 2]), [0, 2, 1, 3]).shape).toEqual(['B', 2, 'T', 2]);
    expect(g.slice(h, [1], [3], [-1]).shape).toEqual(['B', 'T', 2]);
    expect(g.concat([h, h], -1).shape).toEqual(['B', 'T', 8]);
    expect(g.reduceMean(h, [-1], true).shape).toEqual(['B', 'T', 1]);
    expect(g.reduceSum(h, [], false).shape).toEqual([]);
    const table = g.input('table', 'float32', [10, 6]);
    const ids = g.input('ids', 'int64', ['B', 'T']);
    expect(g.gather(table, ids, 0).shape).toEqual(['B', 'T', 6]);
    expect(g.reshape(g.input('s', 'float32', [2, 3, 4]), [-1, 4]).shape).toEqual([6, 4]);
    expect(() => g.matmul(x, g.input('v', 'float32', [5, 2]))).toThrow(
      'MatMul: inner dims differ: [B, T, 6] x [5, 2]',
    );
  });

  it('rejects mixed dtypes, duplicate names and initializers whose data does not fit', () => {
    const g = new GraphBuilder();
    const a = g.input('a', 'float32', [2]);
    const b = g.input('b', 'float64', [2]);
    expect(() => g.add(a, b)).toThrow('Add: a is float32 but b is float64');
    expect(() => g.input('a', 'float32', [2])).toThrow('graph value name a is already used');
    expect(() => g.initializer('w', 'float32', [2, 2], new Float32Array(3))).toThrow(
      'initializer w: [2, 2] float32 needs 16 bytes, data has 12',
    );
  });

  it('shares small constants', () => {
    const g = new GraphBuilder();
    expect(g.scalar(1)).toBe(g.scalar(1));
    expect(g.scalar(1, 'float64')).not.toBe(g.scalar(1));
  });
});

describe('symbolic dims through Reshape', () => {
  it('names the flattened dim so that flattened tensors can be matched', () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', ['B', 'T', 8]);
    const rows = g.reshape(x, [-1, 8]);
    expect(rows.shape).toEqual(['B*T', 8]);
    expect(g.reshape(x, [-1, 4]).shape).toEqual(['2*B*T', 4]);
    expect(g.reshape(rows, g.shape(x)).shape).toEqual(['B', 'T', 8]);
    expect(
      g.add(rows, g.reshape(g.input('y', 'float32', ['B', 'T', 2, 4]), [-1, 8])).shape,
    ).toEqual(['B*T', 8]);
    expect(g.reshape(g.input('z', 'float32', ['B', null, 8]), [-1, 8]).shape).toEqual([null, 8]);
  });
});

describe('bitwise ops for quantized codes', () => {
  it('infer shapes and keep integer dtypes', () => {
    const g = new GraphBuilder();
    const codes = g.input('codes', 'uint8', [4, 8]);
    const high = g.bitShift(codes, g.constant('uint8', [], [4]), 'RIGHT');
    const low = g.bitwiseAnd(codes, g.constant('uint8', [], [15]));
    expect(high.shape).toEqual([4, 8]);
    expect(low.dtype).toBe('uint8');
  });
});
