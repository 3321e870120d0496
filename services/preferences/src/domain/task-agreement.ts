import type {
  Agreement,
  GoldAccuracy,
  PairwiseKappa,
} from '@lathe/contracts/lathe/preferences/v1/agreement';
import { cohenKappa, fleissKappa, krippendorffAlpha } from './agreement.js';
import type { Rating } from './agreement.js';

/** One current verdict of a task, as agreement needs it. */
export interface Verdict {
  /** The candidate pair judged (the unit of agreement). */
  readonly pairId: string;
  readonly annotatorId: string;
  /** The preferred candidate's id, '' for a tie: on-screen order does not enter. */
  readonly winner: string;
  /** The item's gold answer ('' = tie); undefined when the item is not gold. */
  readonly gold: string | undefined;
  readonly firstId: string;
  readonly secondId: string;
}

/**
 * Agreement of a task from its current verdicts: Cohen's kappa for every pair of annotators
 * sharing a candidate pair, Fleiss' kappa over pairs judged exactly k times, Krippendorff's alpha
 * over pairs judged at least twice, and accuracy on gold items. Gold items count in agreement
 * too: they are judged blind like any other. A gold answer naming a candidate scores only the
 * pairs containing it; a gold tie scores every pair of the item.
 */
export function taskAgreement(taskId: string, k: number, verdicts: readonly Verdict[]): Agreement {
  const ratings: Rating[] = verdicts.map((v) => ({
    unit: v.pairId,
    rater: v.annotatorId,
    category: v.winner,
  }));
  const byAnnotator = new Map<string, Map<string, string>>();
  for (const r of ratings) {
    let m = byAnnotator.get(r.rater);
    if (m === undefined) byAnnotator.set(r.rater, (m = new Map<string, string>()));
    m.set(r.unit, r.category);
  }
  const annotators = [...byAnnotator.keys()].sort();
  const cohen: PairwiseKappa[] = [];
  for (let i = 0; i < annotators.length; i++)
    for (let j = i + 1; j < annotators.length; j++) {
      const a = annotators[i] ?? '';
      const b = annotators[j] ?? '';
      const result = cohenKappa(
        byAnnotator.get(a) ?? new Map<string, string>(),
        byAnnotator.get(b) ?? new Map<string, string>(),
      );
      if (result.sharedCount > 0)
        cohen.push({
          annotatorAId: a,
          annotatorBId: b,
          kappa: result.kappa,
          sharedCount: result.sharedCount,
          observedAgreement: result.observedAgreement,
        });
    }
  const gold = new Map<string, { correct: number; judged: number }>();
  for (const v of verdicts) {
    if (v.gold === undefined) continue;
    if (v.gold !== '' && v.gold !== v.firstId && v.gold !== v.secondId) continue;
    const g = gold.get(v.annotatorId) ?? { correct: 0, judged: 0 };
    g.judged += 1;
    if (v.winner === v.gold) g.correct += 1;
    gold.set(v.annotatorId, g);
  }
  const goldAccuracy: GoldAccuracy[] = [...gold.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([annotatorId, g]) => ({
      annotatorId,
      correctCount: g.correct,
      judgedCount: g.judged,
      accuracy: g.correct / g.judged,
    }));
  const fleiss = fleissKappa(ratings, k);
  const alpha = krippendorffAlpha(ratings);
  return {
    taskId,
    cohen,
    fleissKappa: fleiss.kappa,
    fleissItemCount: fleiss.itemCount,
    krippendorffAlpha: alpha.alpha,
    krippendorffItemCount: alpha.itemCount,
    goldAccuracy,
    judgementCount: verdicts.length,
  };
}
