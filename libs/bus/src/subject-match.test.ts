import { describe, expect, it } from 'vitest';
import { subjectMatches } from './subject-match.js';

describe('subjectMatches', () => {
  it('matches literal subjects token by token', () => {
    expect(subjectMatches('lathe.datasets.created', 'lathe.datasets.created')).toBe(true);
    expect(subjectMatches('lathe.datasets.created', 'lathe.datasets.deleted')).toBe(false);
    expect(subjectMatches('lathe.datasets', 'lathe.datasets.created')).toBe(false);
  });

  it('lets * stand for exactly one token', () => {
    expect(subjectMatches('lathe.*.created', 'lathe.datasets.created')).toBe(true);
    expect(subjectMatches('lathe.*.created', 'lathe.datasets.v2.created')).toBe(false);
  });

  it('lets a trailing > stand for one or more tokens', () => {
    expect(subjectMatches('lathe.datasets.>', 'lathe.datasets.created')).toBe(true);
    expect(subjectMatches('lathe.datasets.>', 'lathe.datasets.a.b')).toBe(true);
    expect(subjectMatches('lathe.datasets.>', 'lathe.datasets')).toBe(false);
    expect(subjectMatches('lathe.datasets.>', 'lathe.training.created')).toBe(false);
  });
});
