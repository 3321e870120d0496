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

/**
 * What a service opens before it listens, returned by {@link ServiceHooks.setup}: the handlers
 * built on it, a verifier of its own tokens, and what to release at the end.
 */
export interface ServiceSetup<D extends Readonly<Record<string, MethodShape>>> {
  /** Handlers to serve in place of the descriptor's (built on what setup opened). */
  readonly handlers?: ServiceHandlers<D>;
  /**
   * Custom verifier hook: receives the kit's JWT verifier (undefined unless `LATHE_AUTH_MODE` is
   * `jwt`) and returns the one to use, e.g. one that also accepts the service's own opaque
   * tokens. Not consulted with `LATHE_AUTH_MODE=none`, where every caller is an anonymous admin.
   */
  readonly verifier?: (jwt: TokenVerifier | undefined) => TokenVerifier;
  /** A larger gRPC receive limit than `LATHE_GRPC_MAX_RECEIVE_BYTES` (the larger one wins). */
  readonly maxReceiveBytes?: number;
  /**
   * Runs once the gRPC port is bound (to start another listener, say); returns fields added to
   * the `listening` log line. If it throws, the server is stopped, `close` runs and the start
   * fails with that error.
   */
  readonly started?: () => Promise<Readonly<Record<string, string | number>>>;
  /** Releases what setup opened: after the server has stopped, or when the start fails. */
  readonly close?: () => Promise<void>;
}

/** What a service adds to the kit's start-up (see {@link startService}). */
export interface ServiceHooks<D extends Readonly<Record<string, MethodShape>>> {
  /**
   * Async pre-listen setup (open storage, connect a bus, read the service's own configuration):
   * runs after the kit's settings are validated and before anything listens. A `ConfigError` it
   * throws is reported by runServiceMain as one line with exit 78.
   */
  readonly setup?: (settings: ServiceSettings, log: Logger) => Promise<ServiceSetup<D>>;
}

/** A started service. */
export interface RunningService {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  /** Fields the `started` hook returned, for the `listening` log line. */
  readonly fields: Readonly<Record<string, string | number>>;
  /**
   * Graceful stop: health turns NOT_SERVING, new calls are refused, in-flight calls may finish
   * for `graceMs`; then the remaining ones are cancelled. Resolves with whether it had to force.
   */
  shutdown(graceMs: number): Promise<{ forced: boolean }>;
}

/**
 * Starts a gRPC server for `descriptor` with health checking, reflection, authentication, the
 * error model and the configured message size limits, and binds it. `hooks.setup` runs first
 * (see {@link ServiceHooks}); what it opened is closed after the server stops.
 */
export async function startService<D extends Readonly<Record<string, MethodShape>>>(
  descriptor: ServiceDescriptor<D>,
  settings: ServiceSettings,
  log: Logger,
  hooks: ServiceHooks<D> = {},
): Promise<RunningService> {
  const protoDir = settings.protoDir ?? findProtoDir();
  if (protoDir === undefined)
    throw new Error(
      `reflection for ${descriptor.fullName} needs the .proto files: set LATHE_PROTO_DIR`,
    );
  const reflection = reflectionFor(descriptor.fullName, descriptor.protoFile, protoDir);
  const setup: ServiceSetup<D> = hooks.setup === undefined ? {} : await hooks.setup(settings, log);
  try {
    return await serve(descriptor, settings, log, setup, reflection);
  } catch (error) {
    await setup.close?.();
    throw error;
  }
}

async function serve<D extends Readonly<Record<string, MethodShape>>>(
  descriptor: ServiceDescriptor<D>,
  settings: ServiceSettings,
  log: Logger,
  setup: ServiceSetup<D>,
  reflection: ReturnType<typeof reflectionFor>,
): Promise<RunningService> {
  const server = new Server({
    'grpc.max_receive_message_length': Math.max(
      settings.maxReceiveBytes,
      setup.maxReceiveBytes ?? 0,
    ),
    'grpc.max_send_message_length': settings.maxSendBytes,
  });
  const jwt = settings.auth.mode === 'jwt' ? createJwtVerifier(settings.auth) : undefined;
  const verifier =
    settings.auth.mode === 'none' || setup.verifier === undefined ? jwt : setup.verifier(jwt);
  const implementation = adaptHandlers({
    definition: descriptor.definition,
    handlers: setup.handlers ?? descriptor.handlers,
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

  let fields: Readonly<Record<string, string | number>> = {};
  try {
    fields = (await setup.started?.()) ?? {};
  } catch (error) {
    server.forceShutdown();
    throw error;
  }

  return {
    port,
    fields,
    shutdown: async (graceMs) => {
      const result = await new Promise<{ forced: boolean }>((resolve) => {
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
      });
      await setup.close?.();
      return result;
    },
  };
}
