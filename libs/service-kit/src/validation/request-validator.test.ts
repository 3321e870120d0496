import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { LatheError } from '../errors/lathe-error.js';
import { RequestValidator, validateRequest } from './request-validator.js';

describe('RequestValidator', () => {
  it('collects every violation and throws one INVALID_ARGUMENT', () => {
    let thrown: unknown;
    try {
      validateRequest((v) =>
        v
          .resourceName('name', '9lives')
          .required('path', '')
          .intInRange('annotatorsPerItem', 0, 1, 100)
          .enumSet('kind', 0)
          .present('spec', undefined)
          .modelRef('base', { name: 'llama', selector: { $case: 'version', version: 0 } })
          .resourceName('alias', 'prod'),
      );
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(LatheError);
    const e = thrown as LatheError;
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(e.details.fieldViolations?.map((f) => f.field)).toEqual([
      'name',
      'path',
      'annotatorsPerItem',
      'kind',
      'spec',
      'base.version',
    ]);
    expect(e.details.fieldViolations?.[0]?.description).toContain(
      'starting with a letter; got "9lives"',
    );
  });

  it('accepts valid values without throwing', () => {
    const v = new RequestValidator()
      .resourceName('name', 'a')
      .resourceName('long', `a${'b'.repeat(62)}`)
      .modelRef('ref', { name: 'llama', selector: { $case: 'alias', alias: 'prod' } });
    expect(v.violations).toEqual([]);
    expect(
      new RequestValidator().resourceName('long', `a${'b'.repeat(63)}`).violations,
    ).toHaveLength(1);
  });
});
