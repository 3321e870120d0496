import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { TrainingDivergedError } from '@lathe/llm';
import { LatheError } from '@lathe/service-kit';
import { jobFailureOf } from './job-failure.js';
import { UnsupportedSpecError } from './train-plan.js';

describe('jobFailureOf', () => {
  it('makes deterministic errors non-retryable, with their reason and message', () => {
    const diverged = jobFailureOf(
      new TrainingDivergedError('/d.jsonl', 7, 'loss is NaN', undefined),
    );
    expect(diverged).toEqual({
      reason: 'TRAINING_DIVERGED',
      message: '/d.jsonl: step 7: loss is NaN; training stopped',
      retryable: false,
    });
    expect(jobFailureOf(new UnsupportedSpecError('method', 'no')).retryable).toBe(false);
    const notFound = LatheError.notFound('model', 'stories@9', {});
    expect(jobFailureOf(notFound).retryable).toBe(false);
  });

  it('lets another attempt retry anything else', () => {
    expect(jobFailureOf(new Error('ECONNRESET'))).toEqual({
      reason: 'INTERNAL',
      message: 'ECONNRESET',
      retryable: true,
    });
    const unavailable = new LatheError(status.UNAVAILABLE, 'registry down', {
      errorInfo: { reason: '', domain: '', metadata: {} },
    });
    expect(jobFailureOf(unavailable)).toMatchObject({ reason: 'UNAVAILABLE', retryable: true });
  });
});
