import { intAttribute } from '../core/attribute.js';
import type { OpDefinition } from '../core/op-definition.js';
import type { Dim } from '../core/shape.js';
import { broadcastAll, broadcastBool, dimValues, inputAt } from './infer-helpers.js';

const comparison = (opType: string): OpDefinition => ({ opType, infer: broadcastBool });

/**
 * Ops whose outputs carry no gradient (integer or boolean results). They may appear in a
 * training graph (masks, shapes, indices) but never on the path from parameters to the loss.
 */
export const NON_DIFFERENTIABLE_OPS: readonly OpDefinition[] = [
  {
    opType: 'Shape',
    infer: (ctx) => {
      const x = inputAt(ctx, 0);
      if (x.shape === undefined) return [{ dtype: 'int64', shape: [null] }];
      const rank = x.shape.length;
      const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
      const dims = x.shape.slice(
        clamp(intAttribute(ctx.attributes, 'start', 0)),
        clamp(intAttribute(ctx.attributes, 'end', rank)),
      );
      const constValues = dims.every((d) => typeof d === 'number') ? dims : undefined;
      return [{ dtype: 'int64', shape: [dims.length], constValues, shapeValues: dims }];
    },
  },
  { opType: 'Size', infer: () => [{ dtype: 'int64', shape: [] }] },
  {
    opType: 'ConstantOfShape',
    infer: (ctx) => {
      const value = ctx.attributes['value'];
      const dtype = value?.kind === 'tensor' ? value.dtype : 'float32';
      const dims = dimValues(ctx, 0);
      const len = inputAt(ctx, 0).shape?.[0];
      const shape: Dim[] | undefined = dims
        ? [...dims]
        : typeof len === 'number'
          ? new Array<Dim>(len).fill(null)
          : undefined;
      return [{ dtype, shape }];
    },
  },
  { opType: 'Range', infer: (ctx) => [{ dtype: inputAt(ctx, 0).dtype, shape: [null] }] },
  {
    opType: 'NonZero',
    infer: (ctx) => [{ dtype: 'int64', shape: [inputAt(ctx, 0).rank ?? null, null] }],
  },
  { opType: 'Not', infer: (ctx) => [{ dtype: 'bool', shape: inputAt(ctx, 0).shape }] },
  { opType: 'BitwiseAnd', infer: broadcastAll },
  { opType: 'BitwiseOr', infer: broadcastAll },
  { opType: 'BitShift', infer: broadcastAll },
  comparison('Equal'),
  comparison('Less'),
  comparison('LessOrEqual'),
  comparison('Greater'),
  comparison('GreaterOrEqual'),
  comparison('And'),
  comparison('Or'),
];
