import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RecordBits, SpilledSignatures } from './curation-memory.js';
import { MinHasher } from './minhash.js';
import {
  BandTable,
  InMemorySignatures,
  MinHashLshIndex,
} from './test-support/in-memory-lsh-index.js';

const id = (n: number): string => createHash('sha256').update(String(n)).digest('hex');

describe('RecordBits', () => {
  it('sets, reads and clears one bit per record, and refuses positions outside the run', () => {
    const bits = new RecordBits(1000);
    for (const i of [0, 7, 8, 9, 500, 999]) bits.set(i);
    const set = Array.from({ length: 1000 }, (_, i) => i).filter((i) => bits.has(i));
    expect(set).toEqual([0, 7, 8, 9, 500, 999]);
    bits.clear();
    expect(bits.has(500)).toBe(false);
    expect(() => bits.set(1000)).toThrow(/outside 0\.\.999/);
  });
});

describe('BandTable', () => {
  it('returns every value stored under a key, and none under others', () => {
    const table = new BandTable();
    const expected = new Map<number, number[]>();
    for (let v = 0; v < 50_000; v++) {
      const key = (v * 2654435761) % 7919; // many values per key
      table.add(key, v);
      expected.set(key, [...(expected.get(key) ?? []), v]);
    }
    expect(table.size).toBe(50_000);
    for (const key of [0, 1, 7918, 4242]) {
      const got: number[] = [];
      table.forEach(key, (v) => got.push(v));
      expect(got.sort((a, b) => a - b)).toEqual(expected.get(key) ?? []);
    }
    const none: number[] = [];
    table.forEach(0xfffffff0, (v) => none.push(v));
    expect(none).toEqual([]);
  });
});

describe('SpilledSignatures', () => {
  it('reads back every row, flushed or pending, and removes its file on close', () => {
    const parent = mkdtempSync(join(tmpdir(), 'spill-test-'));
    const store = new SpilledSignatures(128, parent);
    const sig = (n: number): Uint32Array =>
      Uint32Array.from({ length: 128 }, (_, i) => (n * 131 + i * 7) >>> 0);
    // 544-byte rows: 1927 fit in a 1 MiB buffer, so 5000 rows cross two flushes.
    for (let n = 0; n < 5000; n++) expect(store.append(id(n), sig(n))).toBe(n);
    for (const n of [0, 1, 1926, 1927, 3854, 4999]) {
      const row = store.read(n);
      expect(row.key).toBe(id(n));
      expect([...row.signature]).toEqual([...sig(n)]);
    }
    expect(readdirSync(parent)).toHaveLength(1);
    store.close();
    expect(readdirSync(parent)).toEqual([]);
    expect(existsSync(parent)).toBe(true);
  });
});

describe('MinHashLshIndex over a spilled store', () => {
  it('finds the same near-duplicates as over signatures in memory', () => {
    const hasher = new MinHasher({ threshold: 0.7, shingleSize: 3, numPermutations: 128, seed: 1 });
    // Words drawn from a hash of (text, position): distinct texts share almost no shingle.
    const words = (n: number): string[] =>
      Array.from({ length: 60 }, (_, i) => `w${id(n * 100 + i).slice(0, 6)}`);
    const texts: string[] = [];
    for (let n = 0; n < 3000; n++) {
      const base = words(n % 2500); // the last 500 repeat earlier ones with one word changed
      if (n >= 2500) base[n % 60] = `changed${n}`;
      texts.push(base.join(' '));
    }
    const answers = (index: MinHashLshIndex): string[] =>
      texts.map((text, n) => {
        const sig = hasher.signature(text);
        const match = index.query(sig);
        if (match === undefined) index.add(id(n), sig);
        return match === undefined ? '' : `${match.key}:${match.similarity}`;
      });
    const spilled = new MinHashLshIndex(0.7, 128, new SpilledSignatures(128));
    const inMemory = new MinHashLshIndex(0.7, 128, new InMemorySignatures());
    const a = answers(spilled);
    expect(a).toEqual(answers(inMemory));
    spilled.close();
    expect(a.slice(2500).filter((m) => m !== '')).toHaveLength(500);
    expect(a.slice(0, 2500).filter((m) => m !== '')).toHaveLength(0);
  });
});
