import { sumToShape } from '../autodiff/sum-to-shape.js';
import { intAttribute, intsAttribute } from '../core/attribute.js';
import type { GraphBuilder } from '../core/graph-builder.js';
import type { GradContext, InferContext, OpDefinition, OutputInfo } from '../core/op-definition.js';
import { broadcastShapes, formatShape, normalizeAxis, type Dim } from '../core/shape.js';
import { quotientDim } from '../core/symbolic-product.js';
import type { Tensor } from '../core/tensor.js';
import { io, shapeOf } from './grad-helpers.js';
import { constInts, dimValues, inputAt } from './infer-helpers.js';

function inferReshape(ctx: InferContext): OutputInfo[] {
  const x = inputAt(ctx, 0);
  const target = dimValues(ctx, 1);
  if (!target) {
    const len = inputAt(ctx, 1).shape?.[0];
    return [
      {
        dtype: x.dtype,
        shape: typeof len === 'number' ? new Array<Dim>(len).fill(null) : undefined,
      },
    ];
  }
  const dims: Dim[] = target.map((d, i) =>
    d === 0 ? (x.shape?.[i] ?? null) : d === -1 ? null : d,
  );
  const inferred = target.indexOf(-1);
  if (inferred >= 0 && x.shape)
    dims[inferred] = quotientDim(
      x.shape,
      dims.filter((_, i) => i !== inferred),
    );
  return [{ dtype: x.dtype, shape: dims }];
}

function inferSlice(ctx: InferContext): OutputInfo[] {
  const x = inputAt(ctx, 0);
  if (x.shape === undefined) return [{ dtype: x.dtype, shape: undefined }];
  const starts = constInts(ctx, 1);
  const ends = constInts(ctx, 2);
  const axes = ctx.inputs[3] ? constInts(ctx, 3) : starts?.map((_, i) => i);
  const steps = ctx.inputs[4] ? constInts(ctx, 4) : starts?.map(() => 1);
  const shape: Dim[] = [...x.shape];
  if (!starts || !ends || !axes || !steps)
    return [{ dtype: x.dtype, shape: shape.map(() => null) }];
  axes.forEach((a, i) => {
    const axis = normalizeAxis(a, shape.length, 'Slice');
    const dim = x.shape?.[axis];
    const step = steps[i] ?? 1;
    if (typeof dim !== 'number' || step !== 1) {
      shape[axis] = null;
      return;
    }
    const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
    shape[axis] = Math.max(clamp(ends[i] ?? dim) - clamp(starts[i] ?? 0), 0);
  });
  return [{ dtype: x.dtype, shape }];
}

/** Gradient of Slice (step 1): the output gradient padded back with zeros. */
function sliceGrad(ctx: GradContext): (Tensor | undefined)[] {
  const { g, node } = ctx;
  const { x, y, dy } = io(ctx);
  const input = x(0);
  const rank = input.rank;
  const starts = node.inputs[1]?.constValues;
  const axes = node.inputs[3] ? node.inputs[3].constValues : starts?.map((_, i) => i);
  const steps = node.inputs[4] ? node.inputs[4].constValues : undefined;
  if (rank === undefined || !starts || !axes || (steps && steps.some((s) => s !== 1))) {
    throw new Error('Slice gradient needs a known rank, constant starts and axes, and step 1');
  }
  const begins = new Array<number>(rank).fill(0);
  axes.forEach((a, i) => {
    const axis = normalizeAxis(a, rank, 'Slice');
    let start = starts[i] ?? 0;
    const dim = input.shape?.[axis];
    if (start < 0) {
      if (typeof dim !== 'number')
        throw new Error(`Slice gradient: negative start ${start} on symbolic dim ${String(dim)}`);
      start += dim;
    }
    if (typeof dim === 'number') start = Math.min(start, dim);
    begins[axis] = start;
  });
  // Pads are zero on axes that were not sliced, so only the sliced axes' sizes matter: static
  // pads when those are known, else end pads from Shape at run time.
  const out = y(0);
  const sliced = new Set(axes.map((a) => normalizeAxis(a, rank, 'Slice')));
  const ends = begins.map((b, i) => {
    if (!sliced.has(i)) return 0;
    const dimIn = input.shape?.[i];
    const dimOut = out.shape?.[i];
    return typeof dimIn === 'number' && typeof dimOut === 'number' ? dimIn - dimOut - b : null;
  });
  if (ends.every((e) => e !== null)) {
    return [g.pad(dy, g.int64s([...begins, ...ends]), g.scalarLike(dy, 0))];
  }
  const beginT = g.int64s(begins);
  const endPads = g.sub(g.sub(g.shape(input), g.shape(out)), beginT);
  return [g.pad(dy, g.concat([beginT, endPads], 0), g.scalarLike(dy, 0))];
}

function inferConcat(ctx: InferContext): OutputInfo[] {
  const first = inputAt(ctx, 0);
  const rank = first.rank;
  if (rank === undefined) return [{ dtype: first.dtype, shape: undefined }];
  const axis = normalizeAxis(intAttribute(ctx.attributes, 'axis', 0), rank, 'Concat');
  const shape: Dim[] = [...(first.shape ?? [])];
  let total: number | null = 0;
  for (const t of ctx.inputs) {
    if (!t) continue;
    if (t.dtype !== first.dtype)
      throw new Error(`Concat: ${first.name} is ${first.dtype} but ${t.name} is ${t.dtype}`);
    if (t.rank !== rank)
      throw new Error(
        `Concat: ${t.name} ${formatShape(t.shape)} differs in rank from ${formatShape(first.shape)}`,
      );
    const d = t.shape?.[axis];
    total = typeof d === 'number' && total !== null ? total + d : null;
  }
  shape[axis] = total;
  const constValues =
    first.dtype === 'int64' && rank === 1 && ctx.inputs.every((t) => t?.constValues)
      ? ctx.inputs.flatMap((t) => t?.constValues ?? [])
      : undefined;
  const shapeValues =
    first.dtype === 'int64' &&
    rank === 1 &&
    ctx.inputs.every((t) => t?.constValues ?? t?.shapeValues)
      ? ctx.inputs.flatMap((t) => t?.constValues ?? t?.shapeValues ?? [])
      : undefined;
  return [{ dtype: first.dtype, shape, constValues, shapeValues }];
}

/** Sizes of each part along `axis`, constant when static. */
function partSizes(g: GraphBuilder, parts: readonly Tensor[], axis: number): Tensor {
  const dims = parts.map((p) => p.shape?.[axis]);
  if (dims.every((d) => typeof d === 'number')) return g.int64s(dims);
  return g.concat(
    parts.map((p) => g.shape(p, axis, axis + 1)),
    0,
  );
}

function inferGather(ctx: InferContext): OutputInfo[] {
  const data = inputAt(ctx, 0);
  const indices = inputAt(ctx, 1);
  if (data.shape === undefined || indices.shape === undefined)
    return [{ dtype: data.dtype, shape: undefined }];
  const axis = normalizeAxis(intAttribute(ctx.attributes, 'axis', 0), data.shape.length, 'Gather');
  const constValues =
    data.constValues && indices.constValues && data.shape.length === 1
      ? indices.constValues.map((i) => data.constValues?.[i < 0 ? i + data.shape!.length : i] ?? 0)
      : undefined;
  return [
    {
      dtype: data.dtype,
      shape: [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)],
      constValues,
    },
  ];
}

/** Gradient of Gather: scatter-add of the output gradient into zeros shaped like the data. */
function gatherGrad(ctx: GradContext): (Tensor | undefined)[] {
  const { g, node } = ctx;
  const { x, dy } = io(ctx);
  const data = x(0);
  const indices = x(1);
  const dataRank = data.rank;
  const q = indices.rank;
  if (dataRank === undefined || q === undefined)
    throw new Error(`Gather gradient needs known ranks for ${data.name}`);
  const axis = normalizeAxis(intAttribute(node.attributes, 'axis', 0), dataRank, 'Gather');
  const zeros = (like: Tensor): Tensor => g.constantOfShape(g.shape(like), 0, dy.dtype);
  const scatterIndices = g.unsqueeze(indices, [q]); // [..idx, 1]
  if (axis === 0) return [g.scatterND(zeros(data), scatterIndices, dy, 'add'), undefined];
  // Move the gathered axis first: data' = [d_axis, d_<axis, d_>axis], dy' = [idx.., d_<axis, d_>axis].
  const dataPerm = [
    axis,
    ...Array.from({ length: dataRank }, (_, i) => i).filter((i) => i !== axis),
  ];
  const dyPerm = [
    ...Array.from({ length: q }, (_, i) => axis + i),
    ...Array.from({ length: axis }, (_, i) => i),
    ...Array.from({ length: dataRank - axis - 1 }, (_, i) => axis + q + i),
  ];
  const scattered = g.scatterND(
    zeros(g.transpose(data, dataPerm)),
    scatterIndices,
    g.transpose(dy, dyPerm),
    'add',
  );
  const inverse = dataPerm.map((_, i) => dataPerm.indexOf(i));
  return [g.transpose(scattered, inverse), undefined];
}

/** Reshape, Transpose, (Un)Squeeze, Slice, Concat, Split, Gather, Expand and Pad. */
export const SHAPE_OPS: readonly OpDefinition[] = [
  {
    opType: 'Reshape',
    nonDifferentiableInputs: [1],
    infer: inferReshape,
    grad: (ctx) => {
      const { x, dy } = io(ctx);
      return [ctx.g.reshape(dy, shapeOf(ctx.g, x(0))), undefined];
    },
  },
  {
    opType: 'Transpose',
    infer: (ctx) => {
      const x = inputAt(ctx, 0);
      const perm = intsAttribute(ctx.attributes, 'perm');
      if (!perm) return [{ dtype: x.dtype, shape: x.shape ? [...x.shape].reverse() : undefined }];
      if (x.rank !== undefined && perm.length !== x.rank) {
        throw new Error(
          `Transpose: perm [${perm.join(', ')}] does not fit ${x.name} ${formatShape(x.shape)}`,
        );
      }
      return [
        { dtype: x.dtype, shape: x.shape ? perm.map((p) => x.shape?.[p] ?? null) : undefined },
      ];
    },
    grad: (ctx) => {
      const { dy } = io(ctx);
      const perm = intsAttribute(ctx.node.attributes, 'perm');
      if (!perm) throw new Error('Transpose gradient needs an explicit perm');
      return [
        ctx.g.transpose(
          dy,
          perm.map((_, i) => perm.indexOf(i)),
        ),
      ];
    },
  },
  {
    opType: 'Unsqueeze',
    nonDifferentiableInputs: [1],
    infer: (ctx) => {
      const x = inputAt(ctx, 0);
      const axes = constInts(ctx, 1);
      if (x.shape === undefined || !axes) return [{ dtype: x.dtype, shape: undefined }];
      const rank = x.shape.length + axes.length;
      const norm = axes.map((a) => normalizeAxis(a, rank, 'Unsqueeze'));
      const shape: Dim[] = [];
      let j = 0;
      for (let i = 0; i < rank; i++) shape.push(norm.includes(i) ? 1 : (x.shape[j++] ?? null));
      return [{ dtype: x.dtype, shape, constValues: x.constValues }];
    },
    grad: (ctx) => {
      const { dy } = io(ctx);
      const axes = ctx.node.inputs[1]?.constValues;
      if (!axes) throw new Error('Unsqueeze gradient needs constant axes');
      return [ctx.g.squeeze(dy, axes), undefined];
    },
  },
  {
    opType: 'Squeeze',
    nonDifferentiableInputs: [1],
    infer: (ctx) => {
      const x = inputAt(ctx, 0);
      const axes = constInts(ctx, 1);
      if (x.shape === undefined || !axes) return [{ dtype: x.dtype, shape: undefined }];
      const norm = axes.map((a) => normalizeAxis(a, x.shape?.length ?? 0, 'Squeeze'));
      return [
        {
          dtype: x.dtype,
          shape: x.shape.filter((_, i) => !norm.includes(i)),
          constValues: x.constValues,
        },
      ];
    },
    grad: (ctx) => {
      const { x, dy } = io(ctx);
      const axes = ctx.node.inputs[1]?.constValues;
      if (!axes) return [ctx.g.reshape(dy, shapeOf(ctx.g, x(0))), undefined];
      const rank = x(0).rank ?? 0;
      return [
        ctx.g.unsqueeze(
          dy,
          axes.map((a) => normalizeAxis(a, rank, 'Squeeze')),
        ),
        undefined,
      ];
    },
  },
  {
    opType: 'Slice',
    nonDifferentiableInputs: [1, 2, 3, 4],
    infer: inferSlice,
    grad: sliceGrad,
  },
  {
    opType: 'Concat',
    infer: inferConcat,
    grad: (ctx) => {
      const { g, node } = ctx;
      const { dy } = io(ctx);
      const parts = node.inputs.filter((t): t is Tensor => t !== undefined);
      const rank = parts[0]?.rank;
      if (rank === undefined) throw new Error('Concat gradient needs a known rank');
      const axis = normalizeAxis(intAttribute(node.attributes, 'axis', 0), rank, 'Concat');
      if (parts.length === 1) return [dy];
      return g.node('Split', [dy, partSizes(g, parts, axis)], node.attributes, {
        outputs: parts.length,
      });
    },
  },
  {
    opType: 'Split',
    nonDifferentiableInputs: [1],
    infer: (ctx) => {
      const x = inputAt(ctx, 0);
      const sizes = constInts(ctx, 1);
      const rank = x.rank;
      return Array.from({ length: ctx.outputCount }, (_, j) => {
        if (x.shape === undefined || rank === undefined)
          return { dtype: x.dtype, shape: undefined };
        const axis = normalizeAxis(intAttribute(ctx.attributes, 'axis', 0), rank, 'Split');
        const shape: Dim[] = [...x.shape];
        shape[axis] = sizes?.[j] ?? null;
        return { dtype: x.dtype, shape };
      });
    },
    grad: (ctx) => {
      const { g, node } = ctx;
      const parts = node.outputs.map(
        (out, j) => ctx.gradOutputs[j] ?? g.constantOfShape(g.shape(out), 0, out.dtype),
      );
      return [g.concat(parts, intAttribute(node.attributes, 'axis', 0)), undefined];
    },
  },
  {
    opType: 'Gather',
    nonDifferentiableInputs: [1],
    infer: inferGather,
    grad: gatherGrad,
  },
  {
    opType: 'Expand',
    nonDifferentiableInputs: [1],
    infer: (ctx) => {
      const x = inputAt(ctx, 0);
      const target = dimValues(ctx, 1);
      const len = inputAt(ctx, 1).shape?.[0];
      const shape: Dim[] | undefined = target
        ? [...target]
        : typeof len === 'number'
          ? new Array<Dim>(len).fill(null)
          : undefined;
      return [
        { dtype: x.dtype, shape: shape ? broadcastShapes(x.shape, shape, 'Expand') : undefined },
      ];
    },
    grad: (ctx) => {
      const { x, dy } = io(ctx);
      return [sumToShape(ctx.g, dy, x(0)), undefined];
    },
  },
  {
    opType: 'Pad',
    nonDifferentiableInputs: [1, 2, 3],
    infer: (ctx) => {
      const x = inputAt(ctx, 0);
      return [{ dtype: x.dtype, shape: x.shape?.map(() => null) }];
    },
  },
  {
    opType: 'ScatterND',
    nonDifferentiableInputs: [1],
    infer: (ctx) => {
      const x = inputAt(ctx, 0);
      return [{ dtype: x.dtype, shape: x.shape }];
    },
  },
];
