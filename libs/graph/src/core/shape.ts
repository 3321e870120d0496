/**
 * One dimension of a tensor shape: a static size, a symbolic name shared by every tensor with
 * the same size (for example `'B'` or `'T'`), or `null` when nothing is known.
 */
export type Dim = number | string | null;

/** A tensor shape; `undefined` where even the rank is unknown. */
export type Shape = readonly Dim[];

/** True when two dims are known to be equal (same static size or same symbol). */
export function sameDim(a: Dim, b: Dim): boolean {
  return a !== null && b !== null && a === b;
}

/** True when every dim of a shape is a static number. */
export function isStaticShape(shape: Shape | undefined): shape is readonly number[] {
  return shape !== undefined && shape.every((d) => typeof d === 'number');
}

/** Number of elements of a static shape. */
export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/** Renders a shape for error messages: `[B, T, 512]`. */
export function formatShape(shape: Shape | undefined): string {
  if (shape === undefined) return '[?]';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}

/**
 * NumPy broadcasting of two shapes (the rule ONNX elementwise ops follow). Returns undefined
 * when a rank is unknown and throws when two static dims disagree.
 */
export function broadcastShapes(
  a: Shape | undefined,
  b: Shape | undefined,
  what: string,
): Shape | undefined {
  if (a === undefined || b === undefined) return undefined;
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = i < rank - a.length ? 1 : (a[i - (rank - a.length)] ?? null);
    const db = i < rank - b.length ? 1 : (b[i - (rank - b.length)] ?? null);
    if (da === 1) out.push(db);
    else if (db === 1) out.push(da);
    else if (sameDim(da, db)) out.push(da);
    else if (typeof da === 'number' && typeof db === 'number') {
      throw new Error(`${what}: shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast`);
    } else out.push(typeof da === 'number' ? da : typeof db === 'number' ? db : (da ?? db));
  }
  return out;
}

/** Normalizes a possibly negative axis against a rank, naming the op when out of range. */
export function normalizeAxis(axis: number, rank: number, what: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`${what}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}
