/** The registry service's descriptor, roles and request rules, for tooling and tests. */
export { registryService, registryRoles, registryRules, createRegistryHandlers } from './server.js';
export {
  REGISTRY_DEFAULT_PORT,
  REGISTRY_SERVICE,
  registryEnvSchema,
  registryStorageEnvSchema,
} from './config.js';
export { openRegistryRuntime } from './registry-runtime.js';
export type { RegistryRuntime, RegistryRuntimeConfig } from './registry-runtime.js';
export { Registry } from './domain/registry.js';
export type { ModelSelector, RegistryDeps, VersionMetadata } from './domain/registry.js';
export { buildManifest, manifestText } from './domain/manifest.js';
export type { Manifest, ManifestFile } from './domain/manifest.js';
export { downloadToDir, resumePointOf } from './client/download-to-dir.js';
export type { DownloadToDirOptions, ResumePoint } from './client/download-to-dir.js';
export { uploadModelDir } from './client/upload-model-dir.js';
export type { UploadModelDirOptions } from './client/upload-model-dir.js';
export { adapterBaseDifferences } from './client/adapter-fit.js';
