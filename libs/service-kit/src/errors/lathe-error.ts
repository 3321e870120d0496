import { status as GrpcStatus } from '@grpc/grpc-js';
import { ErrorReason, errorReasonToJSON } from '@lathe/contracts/lathe/common/v1/error_reason';

/** One invalid request field, as sent in a `google.rpc.BadRequest` detail. */
export interface FieldViolation {
  /** Path of the field in the request, dotted and lowerCamelCase as in proto JSON (`spec.lora.rank`). */
  readonly field: string;
  /** Why the value is refused, for a human. */
  readonly description: string;
}

/** One failed precondition, as sent in a `google.rpc.PreconditionFailure` detail. */
export interface PreconditionViolation {
  /** Kind of precondition, service-specific (`DATASET_VERSION_STATE`). */
  readonly type: string;
  /** What failed it (`datasets/support/versions/3`). */
  readonly subject: string;
  /** Why it failed, for a human. */
  readonly description: string;
}

/**
 * The structured details a {@link LatheError} carries; on the wire each present field is one
 * `google.protobuf.Any` inside the `google.rpc.Status` of `grpc-status-details-bin`.
 */
export interface LatheErrorDetails {
  /** `google.rpc.ErrorInfo`: always present. `reason` is an ErrorReason name without its prefix. */
  readonly errorInfo: {
    readonly reason: string;
    /** `lathe.<service>`; empty until the server that sends the error fills in its own. */
    readonly domain: string;
    readonly metadata: Readonly<Record<string, string>>;
  };
  /** `google.rpc.BadRequest`: every invalid field (INVALID_ARGUMENT). */
  readonly fieldViolations?: readonly FieldViolation[];
  /** `google.rpc.ResourceInfo`: the resource a NOT_FOUND / ALREADY_EXISTS is about. */
  readonly resourceInfo?: {
    readonly resourceType: string;
    readonly resourceName: string;
    readonly description: string;
  };
  /** `google.rpc.PreconditionFailure` (FAILED_PRECONDITION). */
  readonly preconditionViolations?: readonly PreconditionViolation[];
  /** `google.rpc.RetryInfo`: how long to wait before retrying, in milliseconds. */
  readonly retryDelayMs?: number;
}

/** Options shared by every {@link LatheError} constructor. */
export interface LatheErrorOptions {
  /** The ErrorInfo reason; each constructor has a generic default. */
  readonly reason?: ErrorReason;
  /** ErrorInfo domain; the server fills in `lathe.<service>` when left out. */
  readonly domain?: string;
  /** ErrorInfo metadata, lowerCamelCase keys. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** The underlying error: logged by the server, never sent. */
  readonly cause?: unknown;
}

/** The wire spelling of a reason: the enum value name without `ERROR_REASON_` (error_reason.proto). */
export function reasonName(reason: ErrorReason): string {
  return errorReasonToJSON(reason).replace(/^ERROR_REASON_/, '');
}

/** Lower snake case name of a gRPC code, as connect-es prints it (`invalid_argument`). */
export function codeName(code: GrpcStatus): string {
  return (GrpcStatus[code] ?? `code_${String(code)}`).toLowerCase();
}

/**
 * The one error type of Lathe's wire: a gRPC code, a message, `google.rpc` details and a cause,
 * shaped like connect-es's `ConnectError`. `message` is prefixed with the code name for logs;
 * `rawMessage` is what travels in `grpc-message`. Handlers throw it; clients get it back, decoded
 * from `grpc-status-details-bin`.
 */
export class LatheError extends Error {
  override readonly name = 'LatheError';
  /** The gRPC status code (never an HTTP number). */
  readonly code: GrpcStatus;
  /** The message without the code prefix, as sent on the wire. */
  readonly rawMessage: string;
  /** Structured details; `errorInfo` is always present. */
  readonly details: LatheErrorDetails;

  constructor(code: GrpcStatus, rawMessage: string, details: LatheErrorDetails, cause?: unknown) {
    super(`[${codeName(code)}] ${rawMessage}`, cause === undefined ? undefined : { cause });
    this.code = code;
    this.rawMessage = rawMessage;
    this.details = details;
  }

  /** A copy whose ErrorInfo domain is `domain` when it had none (servers stamp their own). */
  withDefaultDomain(domain: string): LatheError {
    if (this.details.errorInfo.domain !== '') return this;
    const details = { ...this.details, errorInfo: { ...this.details.errorInfo, domain } };
    return new LatheError(this.code, this.rawMessage, details, this.cause);
  }

  /** INVALID_ARGUMENT with a BadRequest listing every violation. */
  static invalidArgument(
    violations: readonly FieldViolation[],
    options: LatheErrorOptions = {},
  ): LatheError {
    const fields = violations.map((v) => `${v.field}: ${v.description}`).join('; ');
    return build(
      GrpcStatus.INVALID_ARGUMENT,
      `invalid request: ${fields}`,
      ErrorReason.ERROR_REASON_INVALID_ARGUMENT,
      options,
      {
        fieldViolations: violations,
      },
    );
  }

  /** NOT_FOUND naming the resource: `dataset "support" not found`. */
  static notFound(
    resourceType: string,
    resourceName: string,
    options: LatheErrorOptions & { readonly description?: string } = {},
  ): LatheError {
    const message = options.description ?? `${resourceType} "${resourceName}" not found`;
    return build(GrpcStatus.NOT_FOUND, message, ErrorReason.ERROR_REASON_UNSPECIFIED, options, {
      resourceInfo: { resourceType, resourceName, description: message },
    });
  }

  /** ALREADY_EXISTS naming the resource. */
  static alreadyExists(
    resourceType: string,
    resourceName: string,
    options: LatheErrorOptions = {},
  ): LatheError {
    const message = `${resourceType} "${resourceName}" already exists`;
    return build(
      GrpcStatus.ALREADY_EXISTS,
      message,
      ErrorReason.ERROR_REASON_UNSPECIFIED,
      options,
      {
        resourceInfo: { resourceType, resourceName, description: message },
      },
    );
  }

  /** FAILED_PRECONDITION with a PreconditionFailure detail. */
  static failedPrecondition(
    message: string,
    violations: readonly PreconditionViolation[],
    options: LatheErrorOptions = {},
  ): LatheError {
    return build(
      GrpcStatus.FAILED_PRECONDITION,
      message,
      ErrorReason.ERROR_REASON_UNSPECIFIED,
      options,
      {
        preconditionViolations: violations,
      },
    );
  }

  /** ABORTED: a concurrency conflict the caller may resolve by re-reading and retrying. */
  static aborted(message: string, options: LatheErrorOptions = {}): LatheError {
    return build(GrpcStatus.ABORTED, message, ErrorReason.ERROR_REASON_UNSPECIFIED, options, {});
  }

  /** PERMISSION_DENIED: authenticated, but the role does not allow the call. */
  static permissionDenied(message: string, options: LatheErrorOptions = {}): LatheError {
    return build(
      GrpcStatus.PERMISSION_DENIED,
      message,
      ErrorReason.ERROR_REASON_ROLE_REQUIRED,
      options,
      {},
    );
  }

  /** UNAUTHENTICATED: missing, malformed, expired or otherwise unacceptable credentials. */
  static unauthenticated(message: string, options: LatheErrorOptions = {}): LatheError {
    return build(
      GrpcStatus.UNAUTHENTICATED,
      message,
      ErrorReason.ERROR_REASON_UNAUTHENTICATED,
      options,
      {},
    );
  }

  /** RESOURCE_EXHAUSTED with a RetryInfo telling when to try again. */
  static resourceExhausted(
    message: string,
    retryDelayMs: number,
    options: LatheErrorOptions = {},
  ): LatheError {
    return build(
      GrpcStatus.RESOURCE_EXHAUSTED,
      message,
      ErrorReason.ERROR_REASON_UNSPECIFIED,
      options,
      { retryDelayMs },
    );
  }

  /** UNAVAILABLE: a dependency cannot be reached; RetryInfo when a delay is known. */
  static unavailable(
    message: string,
    options: LatheErrorOptions & { readonly retryDelayMs?: number } = {},
  ): LatheError {
    const extra = options.retryDelayMs === undefined ? {} : { retryDelayMs: options.retryDelayMs };
    return build(
      GrpcStatus.UNAVAILABLE,
      message,
      ErrorReason.ERROR_REASON_DEPENDENCY_UNAVAILABLE,
      options,
      extra,
    );
  }

  /** INTERNAL with a generic message: what every unexpected failure becomes on the wire. */
  static internal(cause?: unknown, options: LatheErrorOptions = {}): LatheError {
    return build(
      GrpcStatus.INTERNAL,
      'internal error',
      ErrorReason.ERROR_REASON_INTERNAL,
      { ...options, cause },
      {},
    );
  }

  /** UNIMPLEMENTED for an rpc a later release fills in: `<service>/<Method> is not implemented yet`. */
  static unimplemented(methodPath: string, options: LatheErrorOptions = {}): LatheError {
    return build(
      GrpcStatus.UNIMPLEMENTED,
      `${methodPath.replace(/^\//, '')} is not implemented yet`,
      ErrorReason.ERROR_REASON_UNSPECIFIED,
      options,
      {},
    );
  }
}

function build(
  code: GrpcStatus,
  message: string,
  defaultReason: ErrorReason,
  options: LatheErrorOptions,
  extra: Omit<LatheErrorDetails, 'errorInfo'>,
): LatheError {
  const reason = options.reason ?? defaultReason;
  // UNSPECIFIED is "never sent" (error_reason.proto): fall back to the code's own name so every
  // error still carries a machine-readable reason.
  const reasonText =
    reason === ErrorReason.ERROR_REASON_UNSPECIFIED ? GrpcStatus[code] : reasonName(reason);
  const details: LatheErrorDetails = {
    errorInfo: {
      reason: reasonText,
      domain: options.domain ?? '',
      metadata: { ...(options.metadata ?? {}) },
    },
    ...extra,
  };
  return new LatheError(code, message, details, options.cause);
}

/** True when `value` is a {@link LatheError} (also across duplicated module instances). */
export function isLatheError(value: unknown): value is LatheError {
  return (
    value instanceof LatheError ||
    (value instanceof Error && value.name === 'LatheError' && 'details' in value && 'code' in value)
  );
}
