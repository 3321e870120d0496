import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../core/graph-builder.js';
import type { Tensor } from '../core/tensor.js';
import { listOps } from '../ops/op-registry.js';
import { checkGradients } from '../testing/check-gradients.js';
import { OP_GRADIENT_CASES, type OpGradientCase } from '../testing/op-gradient-cases.js';
import { seededUniform } from '../testing/seeded-uniform.js';

// Tolerances: float64 central differences with ε = 1e-6 have truncation error ~1e-12·f''' and
// rounding error ~1e-10; a gradient passes when |analytic − numeric| ≤ 1e-7 + 1e-6·max|numeric|.
// The Cast case perturbs a float32 input (ε = 1e-3, the step actually taken after rounding) and
// is held to 1e-5 relative: truncation error ε²·f'''/6 ≈ 1e-6 relative for x·eˣ on [-1, 1].
const ATOL = 1e-7;
const RTOL = 1e-6;
const RTOL_FLOAT32 = 1e-5;

/** The case's ops followed by a loss Σ y ⊙ R (R fixed random), or Σ y² when y's shape is symbolic. */
function buildCase(g: GraphBuilder, c: OpGradientCase): { loss: Tensor; wrt: Tensor[]; y: Tensor } {
  const inputs: Record<string, Tensor> = {};
  for (const [name, feed] of Object.entries(c.feeds))
    inputs[name] = g.input(name, feed.dtype, c.shapes?.[name] ?? feed.dims);
  const y = c.build(g, inputs);
  const shape = y.shape;
  let weighted: Tensor;
  if (shape?.every((d): d is number => typeof d === 'number')) {
    const count = shape.reduce((n, d) => n * d, 1);
    weighted = g.mul(
      y,
      g.constant(y.dtype, shape, Array.from(seededUniform(999, count, 0.5, 1.5))),
    );
  } else {
    weighted = g.mul(y, y);
  }
  const loss = g.reduceSum(weighted, [], false);
  return { loss, y, wrt: c.wrt.map((n) => inputs[n] as Tensor) };
}

describe('gradient rules against central finite differences (float64)', () => {
  it.each(OP_GRADIENT_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const result = await checkGradients({ feeds: c.feeds, build: (g) => buildCase(g, c) });
    const rtol = c.name.startsWith('Cast') ? RTOL_FLOAT32 : RTOL;
    for (const [name, check] of result.inputs) {
      expect(
        check.maxAbsValue,
        `gradient of ${name} is identically zero: the case cannot fail`,
      ).toBeGreaterThan(0);
      expect(check.maxAbsError, `d loss / d ${name}`).toBeLessThanOrEqual(
        ATOL + rtol * check.maxAbsValue,
      );
    }
  });

  /** Ops whose rule is checked against finite differences in another file, and why. */
  const CHECKED_ELSEWHERE: Readonly<Record<string, string>> = {
    MatMulBnb4: 'composites/bnb4.test.ts, in float32: the kernel has no float64 version',
  };

  it('covers every op that has a gradient rule', () => {
    const covered = new Set<string>();
    for (const c of OP_GRADIENT_CASES) {
      const g = new GraphBuilder();
      const inputs: Record<string, Tensor> = {};
      for (const [name, feed] of Object.entries(c.feeds))
        inputs[name] = g.input(name, feed.dtype, c.shapes?.[name] ?? feed.dims);
      c.build(g, inputs);
      for (const n of g.nodes) covered.add(n.opType);
    }
    const withRules = listOps()
      .filter((o) => o.hasGradient && !(o.opType in CHECKED_ELSEWHERE))
      .map((o) => o.opType);
    expect(withRules.filter((op) => !covered.has(op))).toEqual([]);
  });
});
