import { Metadata } from '@grpc/grpc-js';

/** Request metadata carrying `authorization: Bearer <token>`. */
export function metadataWithToken(token: string): Metadata {
  const m = new Metadata();
  m.set('authorization', `Bearer ${token}`);
  return m;
}
