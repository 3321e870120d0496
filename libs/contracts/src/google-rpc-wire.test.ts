// proto/google/rpc/ restates googleapis' definitions by hand. These tests pin the bytes each
// message must produce under the PUBLIC definitions (field numbers and wire types as published
// in googleapis' status.proto and error_details.proto), computed by hand below, so that a wrong
// number or type in our copy cannot go unnoticed: a peer using the real definitions would
// misread it.
import { describe, expect, it } from 'vitest';
import {
  BadRequest,
  ErrorInfo,
  PreconditionFailure,
  ResourceInfo,
  RetryInfo,
} from './gen/google/rpc/error_details.js';
import { Status } from './gen/google/rpc/status.js';

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

describe('google.rpc wire compatibility', () => {
  it('ErrorInfo: reason=1, domain=2, metadata=3 (map<string,string>)', () => {
    const message: ErrorInfo = { reason: 'R', domain: 'd', metadata: { k: 'v' } };
    // 0a 01 'R' | 12 01 'd' | 1a 06 [0a 01 'k' 12 01 'v']
    expect(hex(ErrorInfo.encode(message).finish())).toBe('0a0152' + '120164' + '1a060a016b120176');
    expect(ErrorInfo.decode(ErrorInfo.encode(message).finish())).toEqual(message);
  });

  it('BadRequest.FieldViolation: field=1, description=2, reason=3, localized_message=4', () => {
    const message: BadRequest = {
      fieldViolations: [
        {
          field: 'f',
          description: 'x',
          reason: 'r',
          localizedMessage: { locale: 'en', message: 'm' },
        },
      ],
    };
    // 0a 12 [0a 01 'f' 12 01 'x' 1a 01 'r' 22 07 [0a 02 'en' 12 01 'm']]
    expect(hex(BadRequest.encode(message).finish())).toBe(
      '0a12' + '0a0166' + '120178' + '1a0172' + '2207' + '0a02656e' + '12016d',
    );
    expect(BadRequest.decode(BadRequest.encode(message).finish())).toEqual(message);
  });

  it('RetryInfo: retry_delay=1 as google.protobuf.Duration', () => {
    const message: RetryInfo = { retryDelay: { seconds: 2, nanos: 500_000_000 } };
    // 0a 08 [08 02 10 80 ca b5 ee 01]
    expect(hex(RetryInfo.encode(message).finish())).toBe('0a08' + '0802' + '1080cab5ee01');
  });

  it('PreconditionFailure.Violation: type=1, subject=2, description=3', () => {
    const message: PreconditionFailure = {
      violations: [{ type: 't', subject: 's', description: 'd' }],
    };
    expect(hex(PreconditionFailure.encode(message).finish())).toBe(
      '0a09' + '0a0174' + '120173' + '1a0164',
    );
  });

  it('ResourceInfo: resource_type=1, resource_name=2, owner=3, description=4', () => {
    const message: ResourceInfo = {
      resourceType: 'a',
      resourceName: 'b',
      owner: 'c',
      description: 'd',
    };
    expect(hex(ResourceInfo.encode(message).finish())).toBe(
      '0a0161' + '120162' + '1a0163' + '220164',
    );
  });

  it('Status: code=1, message=2, details=3 (Any: type_url=1, value=2), with a packed detail', () => {
    const detail = ErrorInfo.encode({ reason: 'R', domain: 'd', metadata: {} }).finish();
    const status: Status = {
      code: 5,
      message: 'm',
      details: [
        { typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo', value: Buffer.from(detail) },
      ],
    };
    const bytes = Status.encode(status).finish();
    const typeUrl = Buffer.from('type.googleapis.com/google.rpc.ErrorInfo').toString('hex');
    // 08 05 | 12 01 'm' | 1a 32 [0a 28 <type url> 12 06 <ErrorInfo>]
    expect(hex(bytes)).toBe('0805' + '12016d' + '1a32' + '0a28' + typeUrl + '1206' + hex(detail));

    const decoded = Status.decode(bytes);
    const [any] = decoded.details;
    expect(any?.typeUrl).toBe('type.googleapis.com/google.rpc.ErrorInfo');
    expect(ErrorInfo.decode(any?.value ?? Buffer.alloc(0))).toEqual({
      reason: 'R',
      domain: 'd',
      metadata: {},
    });
  });
});
