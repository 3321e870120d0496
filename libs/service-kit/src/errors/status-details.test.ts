import { Metadata, status } from '@grpc/grpc-js';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import { Status } from '@lathe/contracts/google/rpc/status';
import { describe, expect, it } from 'vitest';
import { LatheError } from './lathe-error.js';
import {
  decodeStatusDetails,
  encodeStatusDetails,
  fromServiceError,
  STATUS_DETAILS_KEY,
  toServiceError,
} from './status-details.js';

const roundTrip = (e: LatheError): LatheError => decodeStatusDetails(encodeStatusDetails(e));

describe('LatheError on the wire', () => {
  it('carries field violations in a BadRequest and always an ErrorInfo', () => {
    const e = LatheError.invalidArgument([
      { field: 'name', description: 'is required' },
      { field: 'kind', description: 'must be set' },
    ]);
    const back = roundTrip(e.withDefaultDomain('lathe.datasets'));
    expect(back.code).toBe(status.INVALID_ARGUMENT);
    expect(back.rawMessage).toBe('invalid request: name: is required; kind: must be set');
    expect(back.details.fieldViolations).toEqual([
      { field: 'name', description: 'is required' },
      { field: 'kind', description: 'must be set' },
    ]);
    expect(back.details.errorInfo).toEqual({
      reason: 'INVALID_ARGUMENT',
      domain: 'lathe.datasets',
      metadata: {},
    });
  });

  it('packs each detail as an Any with its google.rpc type URL', () => {
    const bytes = encodeStatusDetails(
      LatheError.notFound('dataset', 'support', {
        reason: ErrorReason.ERROR_REASON_DATASET_NOT_FOUND,
      }),
    );
    const s = Status.decode(bytes);
    expect(s.code).toBe(status.NOT_FOUND);
    expect(s.details.map((d) => d.typeUrl)).toEqual([
      'type.googleapis.com/google.rpc.ErrorInfo',
      'type.googleapis.com/google.rpc.ResourceInfo',
    ]);
  });

  it('round-trips resource info, preconditions, retry delay and metadata', () => {
    const nf = roundTrip(
      LatheError.notFound('dataset', 'support', {
        reason: ErrorReason.ERROR_REASON_DATASET_NOT_FOUND,
      }),
    );
    expect(nf.rawMessage).toBe('dataset "support" not found');
    expect(nf.details.errorInfo.reason).toBe('DATASET_NOT_FOUND');
    expect(nf.details.resourceInfo).toEqual({
      resourceType: 'dataset',
      resourceName: 'support',
      description: 'dataset "support" not found',
    });

    const pf = roundTrip(
      LatheError.failedPrecondition('job is terminal', [
        { type: 'JOB_STATE', subject: 'jobs/7', description: 'already succeeded' },
      ]),
    );
    expect(pf.details.preconditionViolations).toEqual([
      { type: 'JOB_STATE', subject: 'jobs/7', description: 'already succeeded' },
    ]);

    const re = roundTrip(LatheError.resourceExhausted('too many uploads', 1500));
    expect(re.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(re.details.retryDelayMs).toBe(1500);

    const un = roundTrip(
      LatheError.unavailable('postgres unreachable', {
        retryDelayMs: 250,
        metadata: { dependency: 'postgres' },
      }),
    );
    expect(un.details.errorInfo).toEqual({
      reason: 'DEPENDENCY_UNAVAILABLE',
      domain: '',
      metadata: { dependency: 'postgres' },
    });
    expect(un.details.retryDelayMs).toBe(250);
  });

  it('gives each constructor its code and a reason', () => {
    const cases: [LatheError, status, string][] = [
      [LatheError.alreadyExists('dataset', 'x'), status.ALREADY_EXISTS, 'ALREADY_EXISTS'],
      [LatheError.aborted('revision moved'), status.ABORTED, 'ABORTED'],
      [LatheError.permissionDenied('no'), status.PERMISSION_DENIED, 'ROLE_REQUIRED'],
      [LatheError.unauthenticated('no token'), status.UNAUTHENTICATED, 'UNAUTHENTICATED'],
      [LatheError.internal(new Error('secret')), status.INTERNAL, 'INTERNAL'],
    ];
    for (const [e, code, reason] of cases) {
      expect(roundTrip(e).code).toBe(code);
      expect(roundTrip(e).details.errorInfo.reason).toBe(reason);
    }
    expect(LatheError.internal(new Error('secret')).rawMessage).toBe('internal error');
    expect(
      LatheError.unimplemented('/lathe.datasets.v1.DatasetService/CurateDataset').rawMessage,
    ).toBe('lathe.datasets.v1.DatasetService/CurateDataset is not implemented yet');
  });

  it('decodes what a grpc-js client reports, with or without details', () => {
    const sent = toServiceError(LatheError.notFound('model', 'llama'));
    const rich = fromServiceError({ ...sent, message: '', name: 'Error' });
    expect(rich.details.resourceInfo?.resourceName).toBe('llama');
    const bare = fromServiceError({
      code: status.UNAVAILABLE,
      details: 'connection refused',
      metadata: new Metadata(),
      message: '',
      name: 'Error',
    });
    expect(bare.code).toBe(status.UNAVAILABLE);
    expect(bare.rawMessage).toBe('connection refused');
    expect(bare.details.errorInfo.reason).toBe('UNAVAILABLE');
    const garbage = new Metadata();
    garbage.set(STATUS_DETAILS_KEY, Buffer.from([0xff, 0xff, 0xff]));
    expect(
      fromServiceError({
        code: status.INTERNAL,
        details: 'x',
        metadata: garbage,
        message: '',
        name: 'Error',
      }).code,
    ).toBe(status.INTERNAL);
  });
});
