import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../core/graph-builder.js';
import { serializeModel } from '../onnx/model-proto.js';
import { GraphSession } from '../session/graph-session.js';
import { gradients } from './gradients.js';

/** Op types of the nodes appended after `from`. */
function opsAfter(g: GraphBuilder, from: number): string[] {
  return g.nodes.slice(from).map((n) => n.opType);
}

describe('gradients', () => {
  it('fails with the op name when a node on the path has no gradient rule', () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', [3]);
    const y = g.node1('Sign', [x]);
    expect(() => gradients(g, g.reduceSum(y, [], false), [x])).toThrow('no gradient rule for Sign');
  });

  it('ignores ops off the path from the parameters to the loss', () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', [3]);
    const frozen = g.input('frozen', 'float32', [3]);
    const y = g.mul(x, g.node1('Sign', [frozen])); // Sign has no rule but only feeds a constant factor
    const [dx] = gradients(g, g.reduceSum(y, [], false), [x]);
    expect(dx?.shape).toEqual([3]);
  });

  it('sums the contributions of a tensor used several times with one Sum node', () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', [2, 2]);
    const loss = g.reduceSum(g.add(g.add(g.mul(x, x), g.exp(x)), x), [], false);
    const before = g.nodes.length;
    gradients(g, loss, [x]);
    const backward = opsAfter(g, before);
    expect(backward.filter((op) => op === 'Sum')).toHaveLength(1);
    const sum = g.nodes.find((n, i) => i >= before && n.opType === 'Sum');
    expect(sum?.inputs).toHaveLength(4); // x·x twice, exp(x), x
  });

  it('differentiates [B,T,K]·[K,N] with two Gemms and no Transpose', () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', ['B', 'T', 8]);
    const w = g.input('w', 'float32', [8, 4]);
    const loss = g.reduceSum(g.matmul(x, w), [], false);
    const before = g.nodes.length;
    const [dx, dw] = gradients(g, loss, [x, w]);
    const backward = opsAfter(g, before);
    expect(backward.filter((op) => op === 'Gemm')).toHaveLength(2);
    expect(backward).not.toContain('Transpose');
    expect(backward).not.toContain('MatMul');
    expect(dw?.shape).toEqual([8, 4]);
    expect(dx?.shape).toEqual(['B', 'T', 8]);
  });

  it('refuses integer losses and parameters, and parameters the loss does not use', () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', [2]);
    const unused = g.input('unused', 'float32', [2]);
    const ids = g.input('ids', 'int64', [2]);
    const loss = g.reduceSum(x, [], false);
    expect(() => gradients(g, ids, [x])).toThrow('cannot differentiate ids: it is int64');
    expect(() => gradients(g, loss, [ids])).toThrow(
      'cannot differentiate with respect to ids: it is int64',
    );
    expect(() => gradients(g, loss, [unused])).toThrow(`${loss.name} does not depend on unused`);
    const [zeros] = gradients(g, loss, [unused], { allowUnused: true });
    expect(zeros?.producer?.opType).toBe('ConstantOfShape');
  });

  it('differentiates a non-scalar result as its sum, or against a given seed', async () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float64', ['N']);
    const seed = g.input('seed', 'float64', ['N']);
    const y = g.mul(x, x); // dy/dx = 2x
    const [plain] = gradients(g, y, [x]);
    const [seeded] = gradients(g, y, [x], { seed });
    if (!plain || !seeded) throw new Error('missing gradients');
    g.output('plain', plain);
    g.output('seeded', seeded);
    const session = await GraphSession.create(serializeModel(g));
    const out = await session.run({
      x: { dtype: 'float64', dims: [3], data: Float64Array.from([1, -2, 3]) },
      seed: { dtype: 'float64', dims: [3], data: Float64Array.from([1, 10, 100]) },
    });
    await session.close();
    expect(Array.from(out['plain']?.data as Float64Array)).toEqual([2, -4, 6]);
    expect(Array.from(out['seeded']?.data as Float64Array)).toEqual([2, -40, 600]);
  });
});
