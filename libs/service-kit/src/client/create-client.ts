import { setTimeout as sleep } from 'node:timers/promises';
import {
  Client,
  credentials as grpcCredentials,
  Metadata,
  status as GrpcStatus,
} from '@grpc/grpc-js';
import type { ChannelCredentials, ChannelOptions, ServiceError } from '@grpc/grpc-js';
import { isLatheError } from '../errors/lathe-error.js';
import { fromServiceError } from '../errors/status-details.js';
import type { MethodShape } from '../server/handler-types.js';
import { backoffDelay, DEFAULT_BACKOFF } from './backoff.js';
import type { BackoffPolicy } from './backoff.js';

interface UnaryShape<Req, Res> extends MethodShape {
  readonly requestStream: false;
  readonly responseStream: false;
  readonly requestSerialize: (value: Req) => Buffer;
  readonly responseDeserialize: (value: Buffer) => Res;
}

/** Per-call options. */
export interface CallOptions {
  /** Deadline of the whole call, retries included; default the client's `deadlineMs`. */
  readonly deadlineMs?: number;
  /** Extra request metadata. */
  readonly metadata?: Metadata;
}

/** A promise-returning method per unary rpc of `D`; each rejects with a {@link LatheError}. */
export type UnaryMethods<D> = {
  readonly [
    K in keyof D as D[K] extends UnaryShape<never, unknown> ? K : never
  ]: D[K] extends UnaryShape<infer Req, infer Res>
    ? (request: Req, options?: CallOptions) => Promise<Res>
    : never;
};

/** A Lathe client: unary rpcs as promises, plus the underlying channel for streaming rpcs. */
export type LatheClient<D> = UnaryMethods<D> & {
  /** The grpc-js client, for streaming rpcs (pass a deadline yourself). */
  readonly channel: Client;
  /** Closes the channel. */
  close(): void;
};

/** How a {@link LatheClient} connects and behaves. */
export interface ClientOptions<D> {
  /** Channel credentials; default plaintext (`credentials.createInsecure()`). */
  readonly credentials?: ChannelCredentials;
  /** Bearer token sent as `authorization`, or a function returning a fresh one per call. */
  readonly token?: string | (() => string | Promise<string>);
  /** Default deadline of every call, ms. Default 10 000: no call waits forever. */
  readonly deadlineMs?: number;
  /**
   * Rpcs safe to repeat (reads, and writes made idempotent by a key). Only these are retried,
   * and only on UNAVAILABLE: any other code, or any other rpc, fails at once, because a repeated
   * write whose first attempt reached the server could apply twice.
   */
  readonly idempotent: readonly (keyof D & string)[];
  /** Retry schedule; default {@link DEFAULT_BACKOFF}. */
  readonly backoff?: Partial<BackoffPolicy>;
  /** grpc-js channel options, e.g. `grpc.max_receive_message_length`. */
  readonly channelOptions?: ChannelOptions;
  /** Source of randomness for jitter (tests). */
  readonly random?: () => number;
}

/** Builds a {@link LatheClient} for the service `definition` at `address` (`host:port`). */
export function createClient<D extends Readonly<Record<string, MethodShape>>>(
  definition: D,
  address: string,
  options: ClientOptions<D>,
): LatheClient<D> {
  const channel = new Client(
    address,
    options.credentials ?? grpcCredentials.createInsecure(),
    options.channelOptions,
  );
  const policy: BackoffPolicy = { ...DEFAULT_BACKOFF, ...options.backoff };
  const idempotent = new Set<string>(options.idempotent);
  const methods: Record<string, unknown> = {};
  for (const [key, method] of Object.entries(definition)) {
    if (method.requestStream || method.responseStream) continue;
    const unary = method as UnaryShape<unknown, unknown>;
    methods[key] = async (request: unknown, callOptions: CallOptions = {}): Promise<unknown> => {
      const deadline = Date.now() + (callOptions.deadlineMs ?? options.deadlineMs ?? 10_000);
      const metadata = callOptions.metadata?.clone() ?? new Metadata();
      const token = typeof options.token === 'function' ? await options.token() : options.token;
      if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
      for (let attempt = 0; ; attempt++) {
        try {
          return await once(channel, unary, request, metadata, deadline);
        } catch (error) {
          const wire = isLatheError(error) ? error : fromServiceError(error as ServiceError);
          const retryable =
            wire.code === GrpcStatus.UNAVAILABLE &&
            idempotent.has(key) &&
            attempt + 1 < policy.maxAttempts;
          const wait = Math.max(
            backoffDelay(policy, attempt, options.random),
            wire.details.retryDelayMs ?? 0,
          );
          if (!retryable || Date.now() + wait >= deadline) throw wire;
          await sleep(wait);
        }
      }
    };
  }
  return { ...(methods as UnaryMethods<D>), channel, close: () => channel.close() };
}

function once(
  channel: Client,
  method: UnaryShape<unknown, unknown>,
  request: unknown,
  metadata: Metadata,
  deadline: number,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    channel.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      metadata,
      { deadline },
      (error, response) => {
        if (error !== null) reject(fromServiceError(error));
        else resolve(response);
      },
    );
  });
}
