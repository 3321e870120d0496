// A grpc.health.v1 Check client small enough to run as a container health check: the two messages
// are encoded by hand (one field each), so the probe loads grpc-js and nothing else.
import { readFileSync } from 'node:fs';
import { credentials, Client, type ChannelCredentials, Metadata } from '@grpc/grpc-js';

/** `grpc.health.v1.HealthCheckResponse.ServingStatus`, by wire number. */
export const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;

/** A serving status name, or `UNRECOGNIZED(<n>)` for a number the protocol does not define. */
export type ServingStatus = (typeof SERVING_STATUS)[number] | `UNRECOGNIZED(${string})`;

/** TLS settings of a probe; absent: plaintext. */
export interface ProbeTls {
  /** PEM file of the CA that signed the server's certificate; absent: the system roots. */
  readonly caFile?: string;
  /** Client certificate and key (PEM files) for servers that require mTLS. */
  readonly certFile?: string;
  /** Key of {@link ProbeTls.certFile}. */
  readonly keyFile?: string;
  /** Name checked against the server certificate instead of the address's host. */
  readonly serverName?: string;
}

/** What to probe. */
export interface HealthCheckOptions {
  /** `host:port` of the gRPC server. */
  readonly address: string;
  /** Service name to ask about; `''` (default) is the server as a whole. */
  readonly service?: string;
  /** Deadline of the call in milliseconds. Default 5000. */
  readonly timeoutMs?: number;
  /** TLS; absent: plaintext. */
  readonly tls?: ProbeTls;
}

/** Encodes `HealthCheckRequest { string service = 1; }`. */
export function encodeHealthCheckRequest(service: string): Buffer {
  if (service === '') return Buffer.alloc(0);
  const name = Buffer.from(service, 'utf8');
  return Buffer.concat([Buffer.from([0x0a]), encodeVarint(name.length), name]);
}

/**
 * Decodes `HealthCheckResponse { ServingStatus status = 1; }`, skipping fields it does not know
 * (a later protocol version may add some). Throws on a truncated or malformed message.
 */
export function decodeHealthCheckResponse(bytes: Uint8Array): ServingStatus {
  let status = 0;
  let offset = 0;
  while (offset < bytes.length) {
    const key = readVarint(bytes, offset);
    offset = key.next;
    const field = Math.floor(key.value / 8);
    const wireType = key.value % 8;
    if (wireType === 0) {
      const value = readVarint(bytes, offset);
      offset = value.next;
      if (field === 1) status = value.value;
    } else if (wireType === 2) {
      const length = readVarint(bytes, offset);
      offset = length.next + length.value;
    } else if (wireType === 1) {
      offset += 8;
    } else if (wireType === 5) {
      offset += 4;
    } else {
      throw new Error(`health response: unsupported wire type ${String(wireType)}`);
    }
    if (offset > bytes.length) throw new Error('health response: truncated message');
  }
  return SERVING_STATUS[status] ?? `UNRECOGNIZED(${String(status)})`;
}

/** Calls `grpc.health.v1.Health/Check` once and resolves the reported status. */
export async function checkHealth(options: HealthCheckOptions): Promise<ServingStatus> {
  const client = new Client(options.address, channelCredentials(options.tls), {
    ...(options.tls?.serverName === undefined
      ? {}
      : { 'grpc.ssl_target_name_override': options.tls.serverName }),
  });
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  try {
    return await new Promise<ServingStatus>((resolve, reject) => {
      client.makeUnaryRequest(
        '/grpc.health.v1.Health/Check',
        (service: string) => encodeHealthCheckRequest(service),
        (bytes: Buffer) => decodeHealthCheckResponse(bytes),
        options.service ?? '',
        new Metadata(),
        { deadline },
        (error, status) => {
          if (error !== null) reject(error);
          else if (status === undefined) reject(new Error('health check: empty response'));
          else resolve(status);
        },
      );
    });
  } finally {
    client.close();
  }
}

function channelCredentials(tls: ProbeTls | undefined): ChannelCredentials {
  if (tls === undefined) return credentials.createInsecure();
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    throw new Error('TLS client certificate and key go together: give both or neither');
  }
  return credentials.createSsl(
    tls.caFile === undefined ? null : readFileSync(tls.caFile),
    tls.keyFile === undefined ? null : readFileSync(tls.keyFile),
    tls.certFile === undefined ? null : readFileSync(tls.certFile),
  );
}

function encodeVarint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

function readVarint(bytes: Uint8Array, start: number): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  for (let offset = start; offset < bytes.length && offset < start + 10; offset++) {
    const byte = bytes[offset] ?? 0;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return { value, next: offset + 1 };
    scale *= 0x80;
  }
  throw new Error('health response: truncated or overlong varint');
}
