import type { TokenizedExample } from './tokenize-example.js';

/** The label value ignored by the loss (PyTorch's `ignore_index`). */
export const IGNORE_INDEX = -100;

/**
 * One packed row of `seqLen` positions holding one or more whole examples.
 *
 * Per position t: `inputIds[t]`; `positionIds[t]` restarts at 0 for each example; `segmentIds[t]`
 * is 1, 2, ... per example and 0 for padding (attention stays within a segment); `labels[t]` is the
 * target for position t (the next token of the same example when that token is trained on, else
 * {@link IGNORE_INDEX}), so no example ever predicts its neighbour's first token.
 */
export interface PackedRow {
  readonly inputIds: Int32Array;
  readonly positionIds: Int32Array;
  readonly segmentIds: Int32Array;
  readonly labels: Int32Array;
  /** Number of labels that are not ignored. */
  readonly targetTokens: number;
}

/** Counts of what packing had to change, for the run's report. */
export interface PackingStats {
  /** Examples cut to `seqLen` tokens. */
  readonly truncated: number;
  /** Examples left with no trained token after truncation, and therefore dropped. */
  readonly droppedEmpty: number;
}

/** Rows plus the packing statistics. */
export interface PackedRows {
  readonly rows: PackedRow[];
  readonly stats: PackingStats;
}

/**
 * Packs tokenized examples into rows of `seqLen` positions, in the given order, greedily: an
 * example joins the current row when it fits, otherwise it starts the next one. Examples longer
 * than `seqLen` are truncated (kept from the start); examples without a single target are dropped.
 * With `pack = false` each example gets its own row (segment 1, padding after it).
 */
export function packSequences(
  examples: readonly TokenizedExample[],
  seqLen: number,
  pack = true,
): PackedRows {
  if (!Number.isInteger(seqLen) || seqLen < 2)
    throw new RangeError(`seqLen must be an integer >= 2, got ${seqLen}`);
  const rows: PackedRow[] = [];
  let truncated = 0;
  let droppedEmpty = 0;
  let current: { ids: number[]; pos: number[]; seg: number[]; labels: number[] } | undefined;
  const flush = (): void => {
    if (current === undefined) return;
    const pad = seqLen - current.ids.length;
    const fill = (values: number[], v: number): Int32Array =>
      Int32Array.from([...values, ...Array<number>(pad).fill(v)]);
    rows.push({
      inputIds: fill(current.ids, 0),
      positionIds: fill(current.pos, 0),
      segmentIds: fill(current.seg, 0),
      labels: fill(current.labels, IGNORE_INDEX),
      targetTokens: current.labels.filter((l) => l !== IGNORE_INDEX).length,
    });
    current = undefined;
  };
  for (const ex of examples) {
    let n = ex.ids.length;
    if (n > seqLen) {
      n = seqLen;
      truncated++;
    }
    // labels[t] = ids[t + 1] when that token is trained on; the last position has no target.
    const labels: number[] = [];
    for (let t = 0; t < n; t++) {
      labels.push(
        t + 1 < n && ex.trainMask[t + 1] === true ? (ex.ids[t + 1] ?? IGNORE_INDEX) : IGNORE_INDEX,
      );
    }
    if (labels.every((l) => l === IGNORE_INDEX)) {
      droppedEmpty++;
      continue;
    }
    if (current !== undefined && (!pack || current.ids.length + n > seqLen)) flush();
    current ??= { ids: [], pos: [], seg: [], labels: [] };
    const segment = (current.seg.at(-1) ?? 0) + 1;
    for (let t = 0; t < n; t++) {
      current.ids.push(ex.ids[t] ?? 0);
      current.pos.push(t);
      current.seg.push(segment);
      current.labels.push(labels[t] ?? IGNORE_INDEX);
    }
  }
  flush();
  return { rows, stats: { truncated, droppedEmpty } };
}
