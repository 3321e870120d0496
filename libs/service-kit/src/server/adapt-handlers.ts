import { once } from 'node:events';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type {
  sendUnaryData,
  ServerDuplexStream,
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
  UntypedHandleCall,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { bearerToken } from '../auth/jwt-verifier.js';
import type { Principal, TokenVerifier } from '../auth/jwt-verifier.js';
import { authorize } from '../auth/method-roles.js';
import type { MethodRoles } from '../auth/method-roles.js';
import { LatheError } from '../errors/lathe-error.js';
import { toServiceError } from '../errors/status-details.js';
import type { Logger } from '../log/logger.js';
import { callSignal } from './call-signal.js';
import type { AnyServerCall } from './call-signal.js';
import type { CallContext, MethodShape, RequestRules, ServiceHandlers } from './handler-types.js';
import { RequestValidator } from '../validation/request-validator.js';
import { toWireError } from './to-wire-error.js';

/** What {@link adaptHandlers} needs besides the handlers. */
export interface AdaptOptions<D> {
  readonly definition: D;
  readonly handlers: ServiceHandlers<D>;
  readonly roles: MethodRoles<D>;
  /** Request checks per rpc. */
  readonly rules?: RequestRules<D>;
  /** Undefined when authentication is off (LATHE_AUTH_MODE=none). */
  readonly verifier: TokenVerifier | undefined;
  /** ErrorInfo domain stamped on errors that carry none: `lathe.<service>`. */
  readonly domain: string;
  readonly log: Logger;
}

type AnyHandler = (
  input: unknown,
  context: CallContext,
) => Promise<unknown> | AsyncIterable<unknown>;

/**
 * Turns Lathe handlers into a grpc-js implementation: every call is authenticated and
 * authorized before its handler runs, gets an AbortSignal bound to its deadline, and has its
 * errors converted once by {@link toWireError}. Missing handlers answer UNIMPLEMENTED.
 */
export function adaptHandlers<D extends Readonly<Record<string, MethodShape>>>(
  options: AdaptOptions<D>,
): UntypedServiceImplementation {
  const out: UntypedServiceImplementation = {};
  for (const key of Object.keys(options.definition)) {
    const method = options.definition[key];
    if (method === undefined) continue;
    const roles = options.roles[key] ?? [];
    const provided = options.handlers[key] as AnyHandler | undefined;
    const rule = options.rules?.[key] as
      ((request: unknown, v: RequestValidator) => void) | undefined;
    const handler = withRule(
      rule,
      provided ??
        (() => {
          throw LatheError.unimplemented(method.path);
        }),
    );
    out[key] = adaptOne(method, roles, handler, options);
  }
  return out;
}

// Validation first: a malformed request gets INVALID_ARGUMENT even where the rpc is not built yet.
function withRule(
  rule: ((request: unknown, v: RequestValidator) => void) | undefined,
  handler: AnyHandler,
): AnyHandler {
  if (rule === undefined) return handler;
  return (input, context) => {
    const v = new RequestValidator();
    rule(input, v);
    v.throwIfInvalid();
    return handler(input, context);
  };
}

function adaptOne<D>(
  method: MethodShape,
  roles: readonly string[],
  handler: AnyHandler,
  options: AdaptOptions<D>,
): UntypedHandleCall {
  const log = options.log.child({ method: method.path });

  async function begin(
    call: AnyServerCall,
  ): Promise<{ context: CallContext; release: () => void }> {
    const { signal, release } = callSignal(call);
    try {
      const principal = await authenticate(call, method.path, roles, options.verifier);
      const context: CallContext = {
        method: method.path,
        signal,
        metadata: call.metadata,
        principal,
        log,
      };
      return { context, release };
    } catch (error) {
      release();
      throw error;
    }
  }

  // One life cycle for the four call kinds: authenticate, run, answer; errors converted once.
  function serve(
    call: AnyServerCall,
    body: (context: CallContext) => Promise<void>,
    reject: (error: ReturnType<typeof toServiceError>) => void,
  ): void {
    const started = Date.now();
    let signal: AbortSignal | undefined;
    void (async () => {
      const { context, release } = await begin(call);
      signal = context.signal;
      try {
        await body(context);
        log.debug('call ok', { ms: Date.now() - started });
      } finally {
        release();
      }
    })().catch((error: unknown) => {
      const wire = toWireError(error, signal ?? new AbortController().signal, options.domain, log);
      log.info('call failed', {
        code: GrpcStatus[wire.code],
        reason: wire.details.errorInfo.reason,
        ms: Date.now() - started,
      });
      reject(toServiceError(wire));
    });
  }

  if (!method.requestStream && !method.responseStream) {
    return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>): void =>
      serve(
        call,
        async (context) =>
          callback(null, await (handler(call.request, context) as Promise<unknown>)),
        (error) => callback(error),
      );
  }
  if (!method.requestStream) {
    return (call: ServerWritableStream<unknown, unknown>): void =>
      serve(
        call,
        async (context) => {
          await writeAll(call, handler(call.request, context) as AsyncIterable<unknown>);
          call.end();
        },
        (error) => call.emit('error', error),
      );
  }
  if (!method.responseStream) {
    return (call: ServerReadableStream<unknown, unknown>, callback: sendUnaryData<unknown>): void =>
      serve(
        call,
        async (context) => callback(null, await (handler(call, context) as Promise<unknown>)),
        (error) => callback(error),
      );
  }
  return (call: ServerDuplexStream<unknown, unknown>): void =>
    serve(
      call,
      async (context) => {
        await writeAll(call, handler(call, context) as AsyncIterable<unknown>);
        call.end();
      },
      (error) => call.emit('error', error),
    );
}

// Respects backpressure: a slow reader pauses the handler instead of buffering without bound.
async function writeAll(
  call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
  messages: AsyncIterable<unknown>,
): Promise<void> {
  for await (const message of messages) {
    if (!call.write(message)) await once(call, 'drain');
  }
}

async function authenticate(
  call: AnyServerCall,
  path: string,
  roles: readonly string[],
  verifier: TokenVerifier | undefined,
): Promise<Principal | undefined> {
  if (verifier === undefined) return undefined;
  const principal = await verifier(bearerToken(call.metadata.get('authorization')[0]));
  authorize(path.replace(/^\//, ''), roles, principal);
  return principal;
}
