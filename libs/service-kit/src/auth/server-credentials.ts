import { ServerCredentials } from '@grpc/grpc-js';
import type { TlsSettings } from '../config/service-config.js';

/**
 * TLS (or mTLS when a client CA is configured: certificates are then required and checked) from
 * the configured material; plaintext only when no TLS is configured, e.g. behind a mesh sidecar.
 */
export function serverCredentials(tls: TlsSettings | undefined): ServerCredentials {
  if (tls === undefined) return ServerCredentials.createInsecure();
  const requireClientCert = tls.clientCa !== undefined;
  return ServerCredentials.createSsl(
    tls.clientCa ?? null,
    [{ cert_chain: tls.cert, private_key: tls.key }],
    requireClientCert,
  );
}
