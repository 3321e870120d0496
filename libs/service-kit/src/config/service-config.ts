import { readFileSync } from 'node:fs';
import { env, readEnv, requireConfig } from './env-schema.js';
import type { ConfigOf, Environment } from './env-schema.js';

/** Log levels, in increasing severity. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** 4 MiB, grpc-js's own receive default, made explicit: bigger payloads (records, weights) stream. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * The environment variables every Lathe service reads, for the service called `service`
 * (`datasets`); its port is `LATHE_<SERVICE>_PORT`, else `LATHE_GRPC_PORT`, else `defaultPort`.
 */
export function serviceEnvSchema(service: string, defaultPort: number) {
  const upper = service.toUpperCase();
  return {
    host: env.string('LATHE_GRPC_HOST', 'address to listen on', '0.0.0.0'),
    port: env.port(
      [`LATHE_${upper}_PORT`, 'LATHE_GRPC_PORT'],
      'port to listen on; 0 picks a free one',
      defaultPort,
    ),
    authMode: env.oneOf(
      'LATHE_AUTH_MODE',
      'jwt: every call needs a bearer JWT; none: no authentication (local use only)',
      ['jwt', 'none'],
      'jwt',
    ),
    jwtSecret: env.optionalString('LATHE_JWT_SECRET', 'HS256 shared secret, at least 32 bytes'),
    jwtPublicKeyFile: env.optionalFile(
      'LATHE_JWT_PUBLIC_KEY_FILE',
      'PEM (SPKI) public key verifying RS256/ES256/EdDSA tokens',
    ),
    jwtJwksUrl: env.optionalString('LATHE_JWT_JWKS_URL', 'JWKS endpoint of the identity provider'),
    jwtIssuer: env.optionalString(
      'LATHE_JWT_ISSUER',
      'required `iss` of tokens (required in jwt mode)',
    ),
    jwtAudience: env.string('LATHE_JWT_AUDIENCE', 'required `aud` of tokens', `lathe.${service}`),
    jwtAlgorithms: env.list(
      'LATHE_JWT_ALGORITHMS',
      'accepted `alg`s; default HS256 with a secret, RS256,ES256,EdDSA with a key',
      [],
    ),
    tlsCertFile: env.optionalFile(
      'LATHE_TLS_CERT_FILE',
      'PEM server certificate; with the key, serves TLS',
    ),
    tlsKeyFile: env.optionalFile('LATHE_TLS_KEY_FILE', 'PEM server private key'),
    tlsClientCaFile: env.optionalFile(
      'LATHE_TLS_CLIENT_CA_FILE',
      'PEM CA bundle; when set, clients must present a certificate it signed (mTLS)',
    ),
    maxReceiveBytes: env.integer(
      'LATHE_GRPC_MAX_RECEIVE_BYTES',
      'largest request message accepted',
      { min: 1024, max: 2 ** 31 - 1 },
      DEFAULT_MAX_MESSAGE_BYTES,
    ),
    maxSendBytes: env.integer(
      'LATHE_GRPC_MAX_SEND_BYTES',
      'largest response message sent',
      { min: 1024, max: 2 ** 31 - 1 },
      DEFAULT_MAX_MESSAGE_BYTES,
    ),
    shutdownGraceMs: env.integer(
      'LATHE_SHUTDOWN_GRACE_MS',
      'on SIGTERM, how long in-flight calls may finish before they are cancelled',
      { min: 0, max: 3_600_000 },
      10_000,
    ),
    logLevel: env.oneOf('LOG_LEVEL', 'lowest level logged', LOG_LEVELS, 'info'),
    protoDir: env.optionalString(
      'LATHE_PROTO_DIR',
      'directory holding lathe/**/*.proto for reflection; found next to the install when unset',
    ),
  };
}

/** The raw typed values of {@link serviceEnvSchema}. */
export type ServiceEnv = ConfigOf<ReturnType<typeof serviceEnvSchema>>;

/** Where JWT signatures are checked against. */
export type JwtKeySource =
  | { readonly kind: 'secret'; readonly secret: string }
  | { readonly kind: 'public-key'; readonly pem: string }
  | { readonly kind: 'jwks'; readonly url: string };

/** How a service authenticates callers. */
export type AuthSettings =
  | { readonly mode: 'none' }
  | {
      readonly mode: 'jwt';
      readonly key: JwtKeySource;
      readonly issuer: string;
      readonly audience: string;
      readonly algorithms: readonly string[];
    };

/** TLS material, read at start. */
export interface TlsSettings {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** When present, client certificates signed by it are required (mTLS). */
  readonly clientCa?: Buffer;
}

/** Everything the kit needs to start a service, validated. */
export interface ServiceSettings {
  readonly host: string;
  readonly port: number;
  readonly auth: AuthSettings;
  readonly tls?: TlsSettings;
  readonly maxReceiveBytes: number;
  readonly maxSendBytes: number;
  readonly shutdownGraceMs: number;
  readonly logLevel: LogLevel;
  readonly protoDir?: string;
}

const SYMMETRIC = ['HS256', 'HS384', 'HS512'];
const ASYMMETRIC = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
];

function authSettings(e: ServiceEnv): AuthSettings {
  if (e.authMode === 'none') return { mode: 'none' };
  const sources = [e.jwtSecret, e.jwtPublicKeyFile, e.jwtJwksUrl].filter((s) => s !== undefined);
  requireConfig(
    sources.length === 1,
    'LATHE_JWT_SECRET',
    'or LATHE_JWT_PUBLIC_KEY_FILE or LATHE_JWT_JWKS_URL: exactly one must be set when LATHE_AUTH_MODE=jwt',
  );
  requireConfig(
    e.jwtIssuer !== undefined,
    'LATHE_JWT_ISSUER',
    'is required when LATHE_AUTH_MODE=jwt',
  );
  let key: JwtKeySource;
  let allowed: readonly string[];
  if (e.jwtSecret !== undefined) {
    // RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
    requireConfig(
      Buffer.byteLength(e.jwtSecret) >= 32,
      'LATHE_JWT_SECRET',
      'must be at least 32 bytes for HS256',
    );
    key = { kind: 'secret', secret: e.jwtSecret };
    allowed = SYMMETRIC;
  } else if (e.jwtPublicKeyFile !== undefined) {
    key = { kind: 'public-key', pem: readFileSync(e.jwtPublicKeyFile, 'utf8') };
    allowed = ASYMMETRIC;
  } else {
    requireConfig(
      /^https?:\/\//.test(e.jwtJwksUrl ?? ''),
      'LATHE_JWT_JWKS_URL',
      'must be an http(s) URL',
    );
    key = { kind: 'jwks', url: e.jwtJwksUrl ?? '' };
    allowed = ASYMMETRIC;
  }
  const algorithms =
    e.jwtAlgorithms.length > 0
      ? e.jwtAlgorithms
      : key.kind === 'secret'
        ? ['HS256']
        : ['RS256', 'ES256', 'EdDSA'];
  for (const alg of algorithms) {
    requireConfig(
      allowed.includes(alg),
      'LATHE_JWT_ALGORITHMS',
      `lists "${alg}", which cannot be verified with the configured ${key.kind}`,
    );
  }
  return { mode: 'jwt', key, issuer: e.jwtIssuer, audience: e.jwtAudience, algorithms };
}

function tlsSettings(e: ServiceEnv): TlsSettings | undefined {
  requireConfig(
    (e.tlsCertFile === undefined) === (e.tlsKeyFile === undefined),
    'LATHE_TLS_KEY_FILE',
    'and LATHE_TLS_CERT_FILE must be set together',
  );
  if (e.tlsCertFile === undefined || e.tlsKeyFile === undefined) {
    requireConfig(
      e.tlsClientCaFile === undefined,
      'LATHE_TLS_CLIENT_CA_FILE',
      'needs LATHE_TLS_CERT_FILE and LATHE_TLS_KEY_FILE (mTLS is TLS first)',
    );
    return undefined;
  }
  const cert = readFileSync(e.tlsCertFile);
  const key = readFileSync(e.tlsKeyFile);
  return e.tlsClientCaFile === undefined
    ? { cert, key }
    : { cert, key, clientCa: readFileSync(e.tlsClientCaFile) };
}

/**
 * Reads and validates a service's configuration from `source`; throws a ConfigError naming the
 * first bad variable. Only `main.ts` calls it, with `process.env`.
 */
export function readServiceSettings(
  service: string,
  defaultPort: number,
  source: Environment,
): ServiceSettings {
  const e = readEnv(serviceEnvSchema(service, defaultPort), source);
  const tls = tlsSettings(e);
  const base = {
    host: e.host,
    port: e.port,
    auth: authSettings(e),
    maxReceiveBytes: e.maxReceiveBytes,
    maxSendBytes: e.maxSendBytes,
    shutdownGraceMs: e.shutdownGraceMs,
    logLevel: e.logLevel,
  };
  return {
    ...base,
    ...(tls === undefined ? {} : { tls }),
    ...(e.protoDir === undefined ? {} : { protoDir: e.protoDir }),
  };
}
