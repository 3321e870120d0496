import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SeededRandom } from '@lathe/llm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExternalSorter } from './external-sort.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'external-sort-test-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Random entries with few distinct leading words, so ties on the first words are common. */
function entries(count: number, width: number, seed: number): number[][] {
  const random = SeededRandom.fromSeed(seed);
  return Array.from({ length: count }, () =>
    Array.from({ length: width }, (_, k) =>
      k === 0
        ? Math.floor(random.nextFloat() * 40) * 0x05f5e100
        : Math.floor(random.nextFloat() * 2 ** 32),
    ),
  );
}

function byWords(a: number[], b: number[]): number {
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return (a[k] ?? 0) - (b[k] ?? 0);
  return 0;
}

function drain(sorter: ExternalSorter): number[][] {
  const out: number[][] = [];
  const cursor = sorter.sorted();
  while (cursor.next()) out.push([...cursor.entry]);
  return out;
}

describe('ExternalSorter', () => {
  for (const width of [2, 5]) {
    it(`sorts ${width}-word entries in memory when they fit the budget`, () => {
      const input = entries(3000, width, width);
      const sorter = new ExternalSorter(dir, 'fit', width, 1 << 20);
      for (const e of input) sorter.add(e);
      expect(drain(sorter)).toEqual([...input].sort(byWords));
      expect(sorter.runCount).toBe(0);
      expect(readdirSync(dir)).toEqual([]);
    });

    it(`sorts ${width}-word entries through runs and merge levels under a tiny budget`, () => {
      const input = entries(20_000, width, 10 + width);
      // 1 KiB: a few dozen entries per run, so hundreds of runs, more than one merge's fan-in.
      const sorter = new ExternalSorter(dir, 'tiny', width, 1024 + 64 * width);
      for (const e of input) sorter.add(e);
      const out = drain(sorter);
      expect(sorter.runCount).toBeGreaterThan(32);
      expect(out).toEqual([...input].sort(byWords));
      // Every run file is deleted once merged.
      expect(readdirSync(dir)).toEqual([]);
    });
  }

  it('keeps identical entries (a multiset, not a set)', () => {
    const sorter = new ExternalSorter(dir, 'dup', 2, 256);
    for (let i = 0; i < 100; i++) sorter.add2(7, i % 3);
    const out = drain(sorter);
    expect(out).toHaveLength(100);
    expect(out.filter((e) => e[1] === 0)).toHaveLength(34);
  });

  it('refuses a budget too small for one read buffer and entries of the wrong width', () => {
    expect(() => new ExternalSorter(dir, 'x', 4, 100)).toThrow(/too small/);
    expect(() => new ExternalSorter(dir, 'x', 2, 4096).add([1, 2, 3])).toThrow(/3 words/);
  });
});
