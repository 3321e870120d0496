import { describe, expect, it } from 'vitest';
import { cohenKappa, fleissKappa, krippendorffAlpha, majority } from './agreement.js';
import type { Rating } from './agreement.js';

// A fixed example computed by hand (fractions below). Categories: x, y and '' (tie).
//        r1  r2  r3
//   u1   x   x   x
//   u2   x   y   x
//   u3   y   y   y
//   u4   x   y   ''
//   u5   y   y   -      (only two ratings: in alpha, not in Fleiss with k = 3)
const table: Record<string, readonly (string | undefined)[]> = {
  u1: ['x', 'x', 'x'],
  u2: ['x', 'y', 'x'],
  u3: ['y', 'y', 'y'],
  u4: ['x', 'y', ''],
  u5: ['y', 'y', undefined],
};
const ratings: Rating[] = Object.entries(table).flatMap(([unit, row]) =>
  row.flatMap((category, i) =>
    category === undefined ? [] : [{ unit, rater: `r${String(i + 1)}`, category }],
  ),
);
const byRater = (rater: string): Map<string, string> =>
  new Map(ratings.filter((r) => r.rater === rater).map((r) => [r.unit, r.category]));

// Tolerance: the values are exact fractions; 1e-12 allows only floating-point rounding.
const TOL = 12;

describe('agreement statistics on a hand-computed example', () => {
  it("Cohen's kappa per pair of raters", () => {
    // r1/r2: p_o = 3/5; p_e = (3/5)(1/5) + (2/5)(4/5) = 11/25; kappa = (15/25 - 11/25)/(14/25) = 2/7.
    const r12 = cohenKappa(byRater('r1'), byRater('r2'));
    expect(r12.sharedCount).toBe(5);
    expect(r12.observedAgreement).toBeCloseTo(3 / 5, TOL);
    expect(r12.kappa).toBeCloseTo(2 / 7, TOL);
    // r1/r3 over u1..u4: p_o = 3/4; p_e = (3/4)(2/4) + (1/4)(1/4) = 7/16; kappa = (5/16)/(9/16) = 5/9.
    expect(cohenKappa(byRater('r1'), byRater('r3')).kappa).toBeCloseTo(5 / 9, TOL);
    // r2/r3: p_o = 1/2; p_e = (1/4)(2/4) + (3/4)(1/4) = 5/16; kappa = (3/16)/(11/16) = 3/11.
    expect(cohenKappa(byRater('r2'), byRater('r3')).kappa).toBeCloseTo(3 / 11, TOL);
  });

  it("Fleiss' kappa over the units with exactly k ratings", () => {
    // P_i = 1, 1/3, 1, 0 -> P-bar = 7/12; p = 6/12, 5/12, 1/12 -> P_e = 62/144 = 31/72;
    // kappa = (42/72 - 31/72) / (41/72) = 11/41.
    const f = fleissKappa(ratings, 3);
    expect(f.itemCount).toBe(4);
    expect(f.kappa).toBeCloseTo(11 / 41, TOL);
  });

  it("Krippendorff's alpha (nominal) over every unit with two or more ratings", () => {
    // Observed disagreements sum_{c!=k} o_ck: u2 = 2, u4 = 3, others 0 -> 5.
    // n_c: x 6, y 7, '' 1; n = 14; sum_{c!=k} n_c n_k = 6*8 + 7*7 + 1*13 = 110.
    // alpha = 1 - 13 * 5 / 110 = 9/22.
    const a = krippendorffAlpha(ratings);
    expect(a.itemCount).toBe(5);
    expect(a.alpha).toBeCloseTo(9 / 22, TOL);
  });

  it("Fleiss' kappa matches the published 10 x 14 example (Fleiss 1971 as tabulated on Wikipedia: 0.210)", () => {
    const rows = [
      [0, 0, 0, 0, 14],
      [0, 2, 6, 4, 2],
      [0, 0, 3, 5, 6],
      [0, 3, 9, 2, 0],
      [2, 2, 8, 1, 1],
      [7, 7, 0, 0, 0],
      [3, 2, 6, 3, 0],
      [2, 5, 3, 2, 2],
      [6, 5, 2, 1, 0],
      [0, 2, 2, 3, 7],
    ];
    const published: Rating[] = rows.flatMap((row, i) => {
      let rater = 0;
      return row.flatMap((n, c) =>
        Array.from({ length: n }, () => ({
          unit: `s${String(i)}`,
          rater: `p${String(rater++)}`,
          category: `c${String(c)}`,
        })),
      );
    });
    expect(fleissKappa(published, 14).kappa).toBeCloseTo(0.21, 3);
  });

  it('perfect agreement gives 1 and no variation gives NaN', () => {
    const perfect: Rating[] = [
      { unit: 'a', rater: 'p', category: 'x' },
      { unit: 'a', rater: 'q', category: 'x' },
      { unit: 'b', rater: 'p', category: 'y' },
      { unit: 'b', rater: 'q', category: 'y' },
    ];
    expect(fleissKappa(perfect, 2).kappa).toBeCloseTo(1, TOL);
    expect(krippendorffAlpha(perfect).alpha).toBeCloseTo(1, TOL);
    const same = perfect.map((r) => ({ ...r, category: 'x' }));
    expect(fleissKappa(same, 2).kappa).toBeNaN();
    expect(krippendorffAlpha(same).alpha).toBeNaN();
    expect(cohenKappa(new Map([['a', 'x']]), new Map([['a', 'x']])).kappa).toBeNaN();
  });
});

describe('majority with tie rules', () => {
  it('a strict plurality wins; a shared top count gives no verdict; ties can win', () => {
    expect(majority(['x', 'x', 'y'])).toEqual({
      category: 'x',
      votes: 2,
      total: 3,
      agreement: 2 / 3,
    });
    expect(majority(['x', 'y']).category).toBeUndefined();
    expect(majority(['', '', 'x']).category).toBe('');
    expect(majority(['x', 'y', '']).category).toBeUndefined();
  });
});
