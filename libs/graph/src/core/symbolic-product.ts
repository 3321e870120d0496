import type { Dim } from './shape.js';

/** A product of dims: a static coefficient times named symbols (with repetition, sorted). */
interface DimProduct {
  readonly coefficient: number;
  readonly symbols: readonly string[];
}

/** Parses dims into one product; undefined when any dim is unknown. Symbols like 'B*T' split. */
function productOf(dims: readonly Dim[]): DimProduct | undefined {
  let coefficient = 1;
  const symbols: string[] = [];
  for (const d of dims) {
    if (d === null) return undefined;
    if (typeof d === 'number') {
      coefficient *= d;
      continue;
    }
    for (const part of d.split('*')) {
      const n = Number(part);
      if (Number.isInteger(n) && part.trim() !== '') coefficient *= n;
      else symbols.push(part);
    }
  }
  return { coefficient, symbols: symbols.sort() };
}

/**
 * The dim that −1 stands for in a Reshape: (product of the input dims) / (product of the other
 * target dims), kept symbolic where needed (`'B*T'`, `'4*B'`) so that later shape checks can tell
 * that two flattened tensors have the same row count. Undefined when it cannot be told.
 */
export function quotientDim(numerator: readonly Dim[], denominator: readonly Dim[]): Dim {
  const top = productOf(numerator);
  const bottom = productOf(denominator);
  if (!top || !bottom || bottom.coefficient === 0 || top.coefficient % bottom.coefficient !== 0)
    return null;
  const remaining = [...top.symbols];
  for (const s of bottom.symbols) {
    const i = remaining.indexOf(s);
    if (i < 0) return null;
    remaining.splice(i, 1);
  }
  const coefficient = top.coefficient / bottom.coefficient;
  if (remaining.length === 0) return coefficient;
  return coefficient === 1 ? remaining.join('*') : `${coefficient}*${remaining.join('*')}`;
}
