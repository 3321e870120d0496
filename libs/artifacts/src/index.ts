// The artifact store's door: content-addressed blobs in a local directory or NATS Object Store.
export type { ArtifactStore, BlobInfo, ByteSource, PutOptions } from './artifact-store.js';
export {
  ArtifactIntegrityError,
  ArtifactNotFoundError,
  InvalidDigestError,
  InvalidNamespaceError,
} from './errors.js';
export { digestHex, formatDigest, isDigest, assertNamespace } from './digest.js';
export { DigestVerifier } from './verified-stream.js';
export { LocalArtifactStore, type LocalArtifactStoreOptions } from './local-artifact-store.js';
export { NatsArtifactStore, type NatsArtifactStoreOptions } from './nats-artifact-store.js';
export type { UploadSpoolOptions } from './upload-spool.js';
