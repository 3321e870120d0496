import { Server } from '@grpc/grpc-js';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { createJwtVerifier } from '../auth/jwt-verifier.js';
import type { TokenVerifier } from '../auth/jwt-verifier.js';
import type { MethodRoles } from '../auth/method-roles.js';
import { serverCredentials } from '../auth/server-credentials.js';
import type { ServiceSettings } from '../config/service-config.js';
import type { Logger } from '../log/logger.js';
import { adaptHandlers } from './adapt-handlers.js';
import type { MethodShape, RequestRules, ServiceHandlers } from './handler-types.js';
import { findProtoDir, reflectionFor } from './reflection.js';

/** A Lathe service: its identity, its contract and its handlers. Each service package builds one. */
export interface ServiceDescriptor<D extends Readonly<Record<string, MethodShape>>> {
  /** Short name, `datasets`: used in env variable names (`LATHE_DATASETS_PORT`) and the error domain (`lathe.datasets`). */
  readonly name: string;
  /** Protobuf service name, `lathe.datasets.v1.DatasetService`, as health and reflection report it. */
  readonly fullName: string;
  /** Proto file of the service, relative to the proto root. */
  readonly protoFile: string;
  /** Port used when neither `LATHE_<NAME>_PORT` nor `LATHE_GRPC_PORT` is set. */
  readonly defaultPort: number;
  /** The generated grpc-js service definition. */
  readonly definition: D;
  /** Implemented rpcs; the others answer UNIMPLEMENTED. */
  readonly handlers: ServiceHandlers<D>;
  /** Roles allowed to call each rpc. */
  readonly roles: MethodRoles<D>;
  /** Cheap request checks per rpc, run before handlers. */
  readonly rules?: RequestRules<D>;
}

/** Fields a service adds to its `listening` log line (the port of a second listener, say). */
export type ListeningFields = Readonly<Record<string, string | number>>;

/** How a service's server differs from the kit's defaults (see {@link startService}). */
export interface ServeOptions {
  /**
   * Custom verifier hook: receives the kit's JWT verifier (undefined unless `LATHE_AUTH_MODE` is
   * `jwt`) and returns the one to use, e.g. one that also accepts the service's own opaque
   * tokens. Not consulted with `LATHE_AUTH_MODE=none`, where every caller is an anonymous admin.
   */
  readonly verifier?: (jwt: TokenVerifier | undefined) => TokenVerifier;
  /** A larger gRPC receive limit than `LATHE_GRPC_MAX_RECEIVE_BYTES` (the larger one wins). */
  readonly maxReceiveBytes?: number;
  /**
   * Runs once the gRPC port is bound: starts background work (returning nothing), or another
   * listener (returning a promise of fields for the `listening` line). If it throws or rejects,
   * the server is stopped and the start fails with that error.
   */
  readonly afterListen?: () => Promise<ListeningFields> | void;
}

/** A started service. */
export interface RunningService {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  /** Fields `afterListen` returned, for the `listening` log line. */
  readonly fields: Readonly<Record<string, string | number>>;
  /**
   * Graceful stop: health turns NOT_SERVING, new calls are refused, in-flight calls may finish
   * for `graceMs`; then the remaining ones are cancelled. Resolves with whether it had to force.
   */
  shutdown(graceMs: number): Promise<{ forced: boolean }>;
}

/**
 * Starts a gRPC server for `descriptor` with health checking, reflection, authentication, the
 * error model and the configured message size limits, and binds it, as `options` adjust (see
 * {@link ServeOptions}). What the handlers run on is the caller's to open and close
 * (`startAssembledService` does both).
 */
export async function startService<D extends Readonly<Record<string, MethodShape>>>(
  descriptor: ServiceDescriptor<D>,
  settings: ServiceSettings,
  log: Logger,
  options: ServeOptions = {},
): Promise<RunningService> {
  const protoDir = settings.protoDir ?? findProtoDir();
  if (protoDir === undefined)
    throw new Error(
      `reflection for ${descriptor.fullName} needs the .proto files: set LATHE_PROTO_DIR`,
    );
  const reflection = reflectionFor(descriptor.fullName, descriptor.protoFile, protoDir);
  return serve(descriptor, settings, log, options, reflection);
}

async function serve<D extends Readonly<Record<string, MethodShape>>>(
  descriptor: ServiceDescriptor<D>,
  settings: ServiceSettings,
  log: Logger,
  options: ServeOptions,
  reflection: ReturnType<typeof reflectionFor>,
): Promise<RunningService> {
  const server = new Server({
    'grpc.max_receive_message_length': Math.max(
      settings.maxReceiveBytes,
      options.maxReceiveBytes ?? 0,
    ),
    'grpc.max_send_message_length': settings.maxSendBytes,
  });
  const jwt = settings.auth.mode === 'jwt' ? createJwtVerifier(settings.auth) : undefined;
  const verifier =
    settings.auth.mode === 'none' || options.verifier === undefined ? jwt : options.verifier(jwt);
  const implementation = adaptHandlers({
    definition: descriptor.definition,
    handlers: descriptor.handlers,
    roles: descriptor.roles,
    ...(descriptor.rules === undefined ? {} : { rules: descriptor.rules }),
    verifier,
    domain: `lathe.${descriptor.name}`,
    log,
  });
  server.addService(descriptor.definition as unknown as ServiceDefinition, implementation);
  // Health and reflection are added as separate services, outside adaptHandlers: probes and
  // tooling must work without credentials.
  const health = new HealthImplementation({ '': 'SERVING', [descriptor.fullName]: 'SERVING' });
  health.addToServer(server);
  reflection.addToServer(server);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${settings.host}:${String(settings.port)}`,
      serverCredentials(settings.tls),
      (error, bound) => {
        if (error === null) resolve(bound);
        else
          reject(
            new Error(
              `cannot listen on ${settings.host}:${String(settings.port)}: ${error.message}`,
              { cause: error },
            ),
          );
      },
    );
  });

  let fields: ListeningFields = {};
  try {
    fields = (await options.afterListen?.()) ?? {};
  } catch (error) {
    server.forceShutdown();
    throw error;
  }

  return {
    port,
    fields,
    shutdown: (graceMs) =>
      new Promise<{ forced: boolean }>((resolve) => {
        health.setStatus('', 'NOT_SERVING');
        health.setStatus(descriptor.fullName, 'NOT_SERVING');
        let forced = false;
        const timer = setTimeout(() => {
          forced = true;
          server.forceShutdown();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve({ forced });
        });
      }),
  };
}
