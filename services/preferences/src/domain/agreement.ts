/**
 * Agreement statistics over categorical ratings: Cohen's kappa for two raters, Fleiss' kappa for
 * a fixed number of raters per unit, Krippendorff's alpha (nominal) for any number >= 2.
 * Pure functions: the service feeds them one rating per (unit, rater), where a unit is a
 * candidate pair and the category the preferred candidate's id ('' for a tie).
 */

/** One rater's category for one unit. */
export interface Rating {
  readonly unit: string;
  readonly rater: string;
  readonly category: string;
}

/** Cohen's kappa of two raters over the units both rated. */
export interface CohenResult {
  readonly kappa: number;
  readonly observedAgreement: number;
  readonly sharedCount: number;
}

/**
 * Cohen's kappa (Cohen 1960): (p_o - p_e) / (1 - p_e), with p_e from each rater's own marginal
 * distribution over the shared units. NaN when p_e = 1 (both always chose the same category).
 */
export function cohenKappa(
  first: ReadonlyMap<string, string>,
  second: ReadonlyMap<string, string>,
): CohenResult {
  const countsA = new Map<string, number>();
  const countsB = new Map<string, number>();
  let shared = 0;
  let agreed = 0;
  for (const [unit, a] of first) {
    const b = second.get(unit);
    if (b === undefined) continue;
    shared += 1;
    if (a === b) agreed += 1;
    countsA.set(a, (countsA.get(a) ?? 0) + 1);
    countsB.set(b, (countsB.get(b) ?? 0) + 1);
  }
  if (shared === 0) return { kappa: Number.NaN, observedAgreement: Number.NaN, sharedCount: 0 };
  const po = agreed / shared;
  let pe = 0;
  for (const [category, na] of countsA)
    pe += (na / shared) * ((countsB.get(category) ?? 0) / shared);
  const kappa = pe === 1 ? Number.NaN : (po - pe) / (1 - pe);
  return { kappa, observedAgreement: po, sharedCount: shared };
}

/** Groups ratings by unit: unit -> category counts. */
function countsByUnit(ratings: readonly Rating[]): Map<string, Map<string, number>> {
  const units = new Map<string, Map<string, number>>();
  for (const r of ratings) {
    let counts = units.get(r.unit);
    if (counts === undefined) {
      counts = new Map();
      units.set(r.unit, counts);
    }
    counts.set(r.category, (counts.get(r.category) ?? 0) + 1);
  }
  return units;
}

function total(counts: ReadonlyMap<string, number>): number {
  let n = 0;
  for (const c of counts.values()) n += c;
  return n;
}

/**
 * Fleiss' kappa (Fleiss 1971) over the units rated exactly `k` times (others are skipped, as the
 * statistic assumes a constant number of raters): P_i = (sum_j n_ij^2 - k) / (k (k - 1)),
 * P-bar = mean P_i, p_j = sum_i n_ij / (N k), P_e = sum_j p_j^2, kappa = (P-bar - P_e) / (1 - P_e).
 * NaN when no unit qualifies, when k < 2, or when P_e = 1.
 */
export function fleissKappa(
  ratings: readonly Rating[],
  k: number,
): { kappa: number; itemCount: number } {
  const units = [...countsByUnit(ratings).values()].filter((c) => total(c) === k);
  if (units.length === 0 || k < 2) return { kappa: Number.NaN, itemCount: units.length };
  const categoryTotals = new Map<string, number>();
  let sumP = 0;
  for (const counts of units) {
    let squares = 0;
    for (const [category, n] of counts) {
      squares += n * n;
      categoryTotals.set(category, (categoryTotals.get(category) ?? 0) + n);
    }
    sumP += (squares - k) / (k * (k - 1));
  }
  const pBar = sumP / units.length;
  let pe = 0;
  for (const n of categoryTotals.values()) pe += (n / (units.length * k)) ** 2;
  const kappa = pe === 1 ? Number.NaN : (pBar - pe) / (1 - pe);
  return { kappa, itemCount: units.length };
}

/**
 * Krippendorff's alpha with the nominal metric (Krippendorff 2011, "Computing Krippendorff's
 * alpha-reliability", section C): coincidences o_ck = sum_u (pairs of values c,k in u) / (m_u - 1)
 * over units with m_u >= 2 values; alpha = 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c n_k.
 * NaN when no unit qualifies or when every value is the same category (no expected disagreement).
 */
export function krippendorffAlpha(ratings: readonly Rating[]): {
  alpha: number;
  itemCount: number;
} {
  const units = [...countsByUnit(ratings).values()].filter((c) => total(c) >= 2);
  const nc = new Map<string, number>();
  let observedDisagreement = 0; // sum over c != k of o_ck
  for (const counts of units) {
    const m = total(counts);
    for (const [c, count] of counts) {
      // Each of the `count` values of c pairs with the m - count values of other categories.
      observedDisagreement += (count * (m - count)) / (m - 1);
      nc.set(c, (nc.get(c) ?? 0) + count);
    }
  }
  let n = 0;
  for (const v of nc.values()) n += v;
  let expected = 0; // sum over c != k of n_c n_k
  for (const v of nc.values()) expected += v * (n - v);
  if (units.length === 0 || expected === 0) return { alpha: Number.NaN, itemCount: units.length };
  return { alpha: 1 - ((n - 1) * observedDisagreement) / expected, itemCount: units.length };
}

/** The aggregated verdict of one unit. */
export interface MajorityVerdict {
  /** The winning category; undefined when the top count is shared (no majority). */
  readonly category: string | undefined;
  /** Votes for the winning category (or the shared top count). */
  readonly votes: number;
  /** All votes. */
  readonly total: number;
  /** votes / total. */
  readonly agreement: number;
}

/**
 * Majority vote with the tie rule: a category wins only with strictly more votes than every
 * other; two categories sharing the top count give no verdict (the pair is left out rather than
 * broken by an arbitrary order). A majority for the tie category ('') is a verdict of "tie".
 */
export function majority(categories: readonly string[]): MajorityVerdict {
  const counts = new Map<string, number>();
  for (const c of categories) counts.set(c, (counts.get(c) ?? 0) + 1);
  let best: string | undefined;
  let bestVotes = 0;
  let shared = false;
  for (const [c, v] of counts) {
    if (v > bestVotes) {
      best = c;
      bestVotes = v;
      shared = false;
    } else if (v === bestVotes) shared = true;
  }
  const n = categories.length;
  return {
    category: shared ? undefined : best,
    votes: bestVotes,
    total: n,
    agreement: n === 0 ? Number.NaN : bestVotes / n,
  };
}
