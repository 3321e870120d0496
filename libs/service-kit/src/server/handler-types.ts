import type { Metadata } from '@grpc/grpc-js';
import type { Principal } from '../auth/jwt-verifier.js';
import type { Logger } from '../log/logger.js';
import type { RequestValidator } from '../validation/request-validator.js';

/** What a handler knows about the call besides its request. */
export interface CallContext {
  /** Full method path, `/lathe.datasets.v1.DatasetService/CreateDataset`. */
  readonly method: string;
  /** Fires at the call's deadline or when the client cancels; pass it to every await that can take long. */
  readonly signal: AbortSignal;
  /** Request metadata (headers). */
  readonly metadata: Metadata;
  /** The authenticated caller; undefined only when the service runs with LATHE_AUTH_MODE=none. */
  readonly principal: Principal | undefined;
  /** A logger whose lines carry the method. */
  readonly log: Logger;
}

/** A unary rpc. */
export type UnaryHandler<Req, Res> = (request: Req, context: CallContext) => Promise<Res>;
/** A server-streaming rpc: yields responses. */
export type ServerStreamHandler<Req, Res> = (
  request: Req,
  context: CallContext,
) => AsyncIterable<Res>;
/** A client-streaming rpc: consumes requests, answers once. */
export type ClientStreamHandler<Req, Res> = (
  requests: AsyncIterable<Req>,
  context: CallContext,
) => Promise<Res>;
/** A bidirectional-streaming rpc. */
export type BidiStreamHandler<Req, Res> = (
  requests: AsyncIterable<Req>,
  context: CallContext,
) => AsyncIterable<Res>;

/** The shape of one method in a ts-proto grpc-js service definition. */
export interface MethodShape {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

/** The handler type for one method definition, picked by its streaming flags. */
export type HandlerFor<M> = M extends {
  readonly requestStream: infer RS;
  readonly responseStream: infer SS;
  readonly requestDeserialize: (value: Buffer) => infer Req;
  readonly responseSerialize: (value: infer Res) => Buffer;
}
  ? RS extends false
    ? SS extends false
      ? UnaryHandler<Req, Res>
      : ServerStreamHandler<Req, Res>
    : SS extends false
      ? ClientStreamHandler<Req, Res>
      : BidiStreamHandler<Req, Res>
  : never;

/**
 * Handlers of a service, keyed like its definition. Any rpc left out answers UNIMPLEMENTED
 * (`<service>/<Method> is not implemented yet`), so a service can ship its rpcs one at a time.
 */
export type ServiceHandlers<D> = { readonly [K in keyof D]?: HandlerFor<D[K]> };

/**
 * Cheap checks of a request, run after authorization and before the handler (or before the
 * UNIMPLEMENTED answer of an rpc not built yet): add violations to `v`; the kit throws one
 * INVALID_ARGUMENT listing them all. Only for rpcs whose request is a single message.
 */
export type RequestRules<D> = {
  readonly [K in keyof D]?: D[K] extends {
    readonly requestStream: false;
    readonly requestDeserialize: (value: Buffer) => infer Req;
  }
    ? (request: Req, v: RequestValidator) => void
    : never;
};
