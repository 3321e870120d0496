import { gradients } from '../autodiff/gradients.js';
import { GraphBuilder } from '../core/graph-builder.js';
import type { Tensor } from '../core/tensor.js';
import { serializeModel } from '../onnx/model-proto.js';
import { GraphSession } from '../session/graph-session.js';
import type { TensorData, TensorMap } from '../session/tensor-data.js';

/** A graph to check: it declares its inputs on `g` and returns a scalar loss and the inputs to differentiate. */
export interface GradientCheckCase {
  build(g: GraphBuilder): { readonly loss: Tensor; readonly wrt: readonly Tensor[] };
  /** Values of every graph input; `wrt` inputs must be float64 or float32. */
  readonly feeds: TensorMap;
  /** Central-difference step. Default 1e-6 for float64 inputs, 1e-3 for float32. */
  readonly epsilon?: number;
}

/** Analytic and numeric gradient of one input. */
export interface InputGradientCheck {
  /** The autodiff gradient, flattened. */
  readonly analytic: Float64Array;
  /** The central-difference gradient, flattened. */
  readonly numeric: Float64Array;
  /** max over elements of |analytic − numeric|; callers set the tolerance. */
  readonly maxAbsError: number;
  /** max over elements of |numeric|, to scale a relative tolerance. */
  readonly maxAbsValue: number;
}

/** Result of {@link checkGradients}: per input, plus the op types the forward graph used. */
export interface GradientCheckResult {
  readonly inputs: ReadonlyMap<string, InputGradientCheck>;
  readonly forwardOps: ReadonlySet<string>;
  readonly loss: number;
}

/**
 * Compares the autodiff gradient of a graph's loss with central finite differences of the same
 * graph's forward runs in onnxruntime: (L(x + ε·eᵢ) − L(x − ε·eᵢ)) / 2ε for every element of
 * every `wrt` input. Meant for tiny graphs (two runs per element).
 */
export async function checkGradients(testCase: GradientCheckCase): Promise<GradientCheckResult> {
  const g = new GraphBuilder({ name: 'gradient-check' });
  const { loss, wrt } = testCase.build(g);
  if (loss.rank !== 0)
    throw new Error(
      `gradient check needs a scalar loss, ${loss.name} has rank ${String(loss.rank)}`,
    );
  const forwardOps = new Set(g.nodes.map((n) => n.opType));
  const grads = gradients(g, loss, wrt);
  g.output('loss', loss);
  grads.forEach((grad, i) => g.output(`grad.${wrt[i]?.name ?? i}`, grad));
  const session = await GraphSession.create(serializeModel(g), { intraOpThreads: 1 });
  try {
    const base = await session.run(testCase.feeds);
    const lossAt = async (feeds: TensorMap): Promise<number> => {
      const out = await session.run(feeds, ['loss']);
      return Number(out['loss']?.data[0]);
    };
    const inputs = new Map<string, InputGradientCheck>();
    for (const t of wrt) {
      const feed = testCase.feeds[t.name];
      if (!feed) throw new Error(`gradient check: no feed for ${t.name}`);
      const analyticData = base[`grad.${t.name}`]?.data;
      if (!analyticData) throw new Error(`gradient check: no gradient output for ${t.name}`);
      const analytic = Float64Array.from(analyticData as Float64Array | Float32Array);
      const eps = testCase.epsilon ?? (feed.dtype === 'float64' ? 1e-6 : 1e-3);
      const numeric = new Float64Array(feed.data.length);
      for (let i = 0; i < feed.data.length; i++) {
        const up = perturbed(feed, i, eps);
        const down = perturbed(feed, i, -eps);
        const plus = await lossAt({ ...testCase.feeds, [t.name]: up.feed });
        const minus = await lossAt({ ...testCase.feeds, [t.name]: down.feed });
        // Divide by the step actually taken: float32 rounds x ± ε.
        numeric[i] = (plus - minus) / (up.value - down.value);
      }
      let maxAbsError = 0;
      let maxAbsValue = 0;
      for (let i = 0; i < numeric.length; i++) {
        maxAbsError = Math.max(maxAbsError, Math.abs((analytic[i] ?? NaN) - (numeric[i] ?? NaN)));
        maxAbsValue = Math.max(maxAbsValue, Math.abs(numeric[i] ?? 0));
      }
      if (analytic.length !== numeric.length) {
        throw new Error(
          `gradient check: ${t.name} has ${numeric.length} elements, its gradient ${analytic.length}`,
        );
      }
      inputs.set(t.name, { analytic, numeric, maxAbsError, maxAbsValue });
    }
    return { inputs, forwardOps, loss: Number(base['loss']?.data[0]) };
  } finally {
    await session.close();
  }
}

function perturbed(
  feed: TensorData,
  index: number,
  delta: number,
): { feed: TensorData; value: number } {
  if (feed.dtype !== 'float64' && feed.dtype !== 'float32') {
    throw new Error(`gradient check: cannot perturb a ${feed.dtype} input`);
  }
  const data =
    feed.dtype === 'float64'
      ? Float64Array.from(feed.data as Float64Array)
      : Float32Array.from(feed.data as Float32Array);
  data[index] = (data[index] ?? 0) + delta;
  return { feed: { ...feed, data }, value: data[index] ?? NaN };
}
