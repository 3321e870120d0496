import { describe, expect, it } from 'vitest';
import { serverReadsTermReason } from './term-reason.js';

describe('serverReadsTermReason', () => {
  it.each([
    ['2.9.10', false],
    ['2.10.3', false],
    ['1.99.99', false],
    ['2.10.4', true],
    ['2.10.22', true],
    ['2.11.0', true],
    ['3.0.0', true],
    ['v2.10.4', true],
    ['2.11.0-RC.1', true],
  ])('nats-server %s: %s', (version, expected) => {
    expect(serverReadsTermReason(version)).toBe(expected);
  });

  it('treats a missing or unparsable version as a server that does not read the reason', () => {
    expect(serverReadsTermReason(undefined)).toBe(false);
    expect(serverReadsTermReason('')).toBe(false);
    expect(serverReadsTermReason('nightly')).toBe(false);
  });
});
