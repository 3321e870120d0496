import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import {
  BadRequest,
  ErrorInfo,
  PreconditionFailure,
  ResourceInfo,
  RetryInfo,
} from '@lathe/contracts/google/rpc/error_details';
import { Status } from '@lathe/contracts/google/rpc/status';
import type { Any } from '@lathe/contracts/google/protobuf/any';
import { LatheError } from './lathe-error.js';
import type { LatheErrorDetails } from './lathe-error.js';

/** The trailer that carries a serialized `google.rpc.Status` (gRPC's rich error model). */
export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

const TYPE_PREFIX = 'type.googleapis.com/';
const typeUrl = {
  errorInfo: `${TYPE_PREFIX}google.rpc.ErrorInfo`,
  badRequest: `${TYPE_PREFIX}google.rpc.BadRequest`,
  resourceInfo: `${TYPE_PREFIX}google.rpc.ResourceInfo`,
  preconditionFailure: `${TYPE_PREFIX}google.rpc.PreconditionFailure`,
  retryInfo: `${TYPE_PREFIX}google.rpc.RetryInfo`,
} as const;

function pack(url: string, value: Uint8Array): Any {
  return { typeUrl: url, value: Buffer.from(value) };
}

/** Serializes a {@link LatheError} into the `google.rpc.Status` bytes of `grpc-status-details-bin`. */
export function encodeStatusDetails(error: LatheError): Buffer {
  const d = error.details;
  const details: Any[] = [
    pack(
      typeUrl.errorInfo,
      ErrorInfo.encode({
        reason: d.errorInfo.reason,
        domain: d.errorInfo.domain,
        metadata: { ...d.errorInfo.metadata },
      }).finish(),
    ),
  ];
  if (d.fieldViolations !== undefined) {
    const fieldViolations = d.fieldViolations.map((v) => ({
      field: v.field,
      description: v.description,
      reason: '',
      localizedMessage: undefined,
    }));
    details.push(pack(typeUrl.badRequest, BadRequest.encode({ fieldViolations }).finish()));
  }
  if (d.resourceInfo !== undefined) {
    details.push(
      pack(typeUrl.resourceInfo, ResourceInfo.encode({ ...d.resourceInfo, owner: '' }).finish()),
    );
  }
  if (d.preconditionViolations !== undefined) {
    const violations = d.preconditionViolations.map((v) => ({ ...v }));
    details.push(
      pack(typeUrl.preconditionFailure, PreconditionFailure.encode({ violations }).finish()),
    );
  }
  if (d.retryDelayMs !== undefined) {
    const ms = Math.max(0, Math.round(d.retryDelayMs));
    const retryDelay = { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
    details.push(pack(typeUrl.retryInfo, RetryInfo.encode({ retryDelay }).finish()));
  }
  return Buffer.from(
    Status.encode({ code: error.code, message: error.rawMessage, details }).finish(),
  );
}

/** The grpc-js error object a server callback sends for `error`, details in its trailers. */
export function toServiceError(error: LatheError): {
  code: GrpcStatus;
  details: string;
  metadata: Metadata;
} {
  const metadata = new Metadata();
  metadata.set(STATUS_DETAILS_KEY, encodeStatusDetails(error));
  return { code: error.code, details: error.rawMessage, metadata };
}

/** Decodes `google.rpc.Status` bytes; unknown detail types are ignored, as the rich model allows. */
export function decodeStatusDetails(bytes: Uint8Array, cause?: unknown): LatheError {
  const s = Status.decode(bytes);
  let errorInfo: LatheErrorDetails['errorInfo'] = {
    reason: GrpcStatus[s.code] ?? 'UNKNOWN',
    domain: '',
    metadata: {},
  };
  const extra: {
    -readonly [K in keyof Omit<LatheErrorDetails, 'errorInfo'>]: LatheErrorDetails[K];
  } = {};
  for (const any of s.details) {
    switch (any.typeUrl) {
      case typeUrl.errorInfo: {
        const e = ErrorInfo.decode(any.value);
        errorInfo = { reason: e.reason, domain: e.domain, metadata: e.metadata };
        break;
      }
      case typeUrl.badRequest:
        extra.fieldViolations = BadRequest.decode(any.value).fieldViolations.map((v) => ({
          field: v.field,
          description: v.description,
        }));
        break;
      case typeUrl.resourceInfo: {
        const r = ResourceInfo.decode(any.value);
        extra.resourceInfo = {
          resourceType: r.resourceType,
          resourceName: r.resourceName,
          description: r.description,
        };
        break;
      }
      case typeUrl.preconditionFailure:
        extra.preconditionViolations = PreconditionFailure.decode(any.value).violations.map(
          (v) => ({ ...v }),
        );
        break;
      case typeUrl.retryInfo: {
        const delay = RetryInfo.decode(any.value).retryDelay;
        if (delay !== undefined)
          extra.retryDelayMs = delay.seconds * 1000 + Math.round(delay.nanos / 1_000_000);
        break;
      }
      default:
        break;
    }
  }
  return new LatheError(s.code, s.message, { errorInfo, ...extra }, cause);
}

/**
 * Turns what a grpc-js client reports into a {@link LatheError}: the rich details when the
 * server sent them, else the bare code and message (a proxy or a non-Lathe server answered).
 */
export function fromServiceError(error: ServiceError): LatheError {
  const raw = error.metadata?.get(STATUS_DETAILS_KEY)[0];
  if (raw instanceof Buffer) {
    try {
      return decodeStatusDetails(raw, error);
    } catch {
      // Undecodable details are as good as none: fall through to the bare status.
    }
  }
  return new LatheError(
    error.code,
    error.details,
    { errorInfo: { reason: GrpcStatus[error.code] ?? 'UNKNOWN', domain: '', metadata: {} } },
    error,
  );
}
